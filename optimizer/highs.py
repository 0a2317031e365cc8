"""Hand a built Pyomo model to HiGHS in memory (highspy ``passModel``), solve, read the status.

The compile step walks the Pyomo model's active components. ``MatrixConstraint`` families are
taken as the CSR blocks they already are; any other linear constraint (e.g. one a user added to
``plan.model``) goes through Pyomo's standard repn. Nothing is written to files.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.core.base.matrix_constraint import MatrixConstraint
from pyomo.repn import generate_standard_repn

log = logging.getLogger(__name__)
INF = highspy.kHighsInf


@dataclass
class StandardForm:
    """min c x + c0  s.t.  row_lower <= A x <= row_upper,  col_lower <= x <= col_upper."""

    columns: list
    c: np.ndarray
    c0: float
    a: sp.csc_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    row_names: list[tuple[str, int, int]] = field(default_factory=list)
    """(constraint family, first row, number of rows) in row order."""

    @property
    def num_nonzeros(self) -> int:
        return int(self.a.nnz)


def _bound(x: float | None, default: float) -> float:
    return default if x is None else float(x)


def compile_model(m: pyo.ConcreteModel) -> StandardForm:
    """The standard form of a linear Pyomo model (MatrixConstraint blocks taken as they are)."""
    columns: list = []
    lower: list[np.ndarray] = []
    upper: list[np.ndarray] = []
    integer_parts: list[np.ndarray] = []
    for var in m.component_objects(pyo.Var, active=True, sort=False):
        datas = list(var.values())
        columns.extend(datas)
        fam = getattr(var, "_family_bounds", None)
        if fam is not None and not any(v.fixed for v in datas):  # built by LinearBuilder: arrays at hand
            lower.append(fam[0])
            upper.append(fam[1])
            kind = datas[0].is_integer() if datas else False
            integer_parts.append(np.full(len(datas), kind))
        else:
            bounds = [v.bounds for v in datas]
            lower.append(np.array([-np.inf if lo is None else lo for lo, _ in bounds], float))
            upper.append(np.array([np.inf if hi is None else hi for _, hi in bounds], float))
            integer_parts.append(np.array([v.is_integer() for v in datas], bool))
    col_of = {id(v): j for j, v in enumerate(columns)}
    n = len(columns)
    blocks: list[sp.csr_array] = []
    lows: list[np.ndarray] = []
    ups: list[np.ndarray] = []
    names: list[tuple[str, int, int]] = []
    n_rows = 0
    x_cols_of: dict[int, np.ndarray] = {}  # row blocks usually share one column tuple
    for comp in m.component_objects(pyo.Constraint, active=True, sort=False):
        if isinstance(comp, MatrixConstraint):
            x_cols = x_cols_of.get(id(comp._x))
            if x_cols is None:
                x_cols = x_cols_of[id(comp._x)] = np.fromiter((col_of[id(v)] for v in comp._x), np.int64,
                                                              len(comp._x))
            indices = x_cols[np.asarray(comp._A_indices, np.int64)]
            a = sp.csr_array(
                (np.asarray(comp._A_data, float), indices, np.asarray(comp._A_indptr, np.int64)),
                shape=(len(comp._lower), n),
            )
            lo = np.array([-INF if x is None else x for x in comp._lower], float)
            hi = np.array([INF if x is None else x for x in comp._upper], float)
        else:
            data, rows_i, cols_i, lo_l, hi_l = [], [], [], [], []
            for i, con in enumerate(comp.values()):
                repn = generate_standard_repn(con.body, compute_values=True)
                if repn.nonlinear_vars:
                    raise ValueError(f"constraint {con.name} is not linear")
                for v, coef in zip(repn.linear_vars, repn.linear_coefs, strict=True):
                    rows_i.append(i)
                    cols_i.append(col_of[id(v)])
                    data.append(float(coef))
                const = float(repn.constant)
                lo_l.append(_bound(pyo.value(con.lower) if con.has_lb() else None, -INF) - const)
                hi_l.append(_bound(pyo.value(con.upper) if con.has_ub() else None, INF) - const)
            a = sp.csr_array((data, (rows_i, cols_i)), shape=(len(lo_l), n))
            lo, hi = np.array(lo_l, float), np.array(hi_l, float)
        blocks.append(a)
        lows.append(lo)
        ups.append(hi)
        names.append((comp.name, n_rows, a.shape[0]))
        n_rows += a.shape[0]
    obj = next(m.component_data_objects(pyo.Objective, active=True))
    repn = generate_standard_repn(obj.expr, compute_values=True)
    c = np.zeros(n)
    for v, coef in zip(repn.linear_vars, repn.linear_coefs, strict=True):
        c[col_of[id(v)]] += float(coef)
    if obj.sense != pyo.minimize:
        raise ValueError("the planning objective must be minimised")
    a_all = sp.vstack(blocks, format="csc") if blocks else sp.csc_array((0, n))
    col_lower = np.clip(np.concatenate(lower) if lower else np.zeros(0), -INF, INF)
    col_upper = np.clip(np.concatenate(upper) if upper else np.zeros(0), -INF, INF)
    integer = np.concatenate(integer_parts).astype(bool) if integer_parts else np.zeros(0, bool)
    return StandardForm(
        columns, c, float(repn.constant), a_all.tocsc(),
        np.concatenate(lows) if lows else np.zeros(0), np.concatenate(ups) if ups else np.zeros(0),
        col_lower, col_upper, integer, names,
    )


def to_highs(sf: StandardForm, options: dict[str, object]) -> highspy.Highs:
    """A ``Highs`` instance holding the model (passModel from arrays) with ``options`` set.

    HiGHS keeps one thread scheduler, set up by the first run; a later run from the same thread
    asking for another thread count returns at once with no solution. The scheduler is reset here
    so that the next run sets it up for its own count: no HiGHS run of this process may be in
    progress in another thread at that moment (the fast method's worker only runs instances
    built before it starts, with one thread)."""
    highspy.Highs.resetGlobalScheduler(True)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for k, v in options.items():
        h.setOptionValue(k, v)
    lp = highspy.HighsLp()
    lp.num_col_ = len(sf.c)
    lp.num_row_ = len(sf.row_lower)
    lp.col_cost_ = sf.c
    lp.offset_ = sf.c0
    lp.col_lower_ = sf.col_lower
    lp.col_upper_ = sf.col_upper
    lp.row_lower_ = sf.row_lower
    lp.row_upper_ = sf.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = sf.a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = sf.a.indices.astype(np.int32)
    lp.a_matrix_.value_ = sf.a.data
    if sf.integer.any():
        lp.integrality_ = np.where(sf.integer, highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous).tolist()
    status = h.passModel(lp)
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the model")
    return h


@dataclass
class SolveOutcome:
    """What HiGHS reported, in this package's vocabulary."""

    status: str  # optimal | time_limit_feasible | infeasible | no_solution | unbounded | error
    objective: float
    mip_gap: float
    x: np.ndarray | None
    solve_seconds: float
    highs_status: str
    lower_bound: float = float("nan")


def run(h: highspy.Highs, is_mip: bool) -> SolveOutcome:
    """Solve and map HiGHS's model status onto :class:`SolveOutcome` (before loading anything)."""
    h.run()
    ms = h.getModelStatus()
    info = h.getInfo()
    has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
    MS = highspy.HighsModelStatus
    if ms == MS.kOptimal:
        status = "optimal"
    elif ms in (MS.kInfeasible,):
        status = "infeasible"
    elif ms in (MS.kUnbounded, MS.kUnboundedOrInfeasible):
        status = "infeasible" if ms == MS.kUnboundedOrInfeasible else "unbounded"
    elif has_x:
        status = "time_limit_feasible"
    else:
        status = "no_solution"
    x = np.asarray(h.getSolution().col_value) if has_x else None
    gap = float(info.mip_gap) if is_mip else 0.0
    if not math.isfinite(gap) or gap > 1e20:
        gap = float("nan")
    obj = float(info.objective_function_value) if has_x else float("nan")
    bound = float(info.mip_dual_bound) if is_mip else obj
    return SolveOutcome(status, obj, gap, x, float(h.getRunTime()), h.modelStatusToString(ms),
                        bound if np.isfinite(bound) and abs(bound) < 1e30 else float("nan"))


def coefficient_ranges(sf: StandardForm) -> dict[str, tuple[float, float]]:
    """(min, max) absolute nonzero coefficient per constraint family, for scaling checks."""
    out: dict[str, tuple[float, float]] = {}
    a = sf.a.tocsr()
    for name, start, count in sf.row_names:
        vals = np.abs(a[start:start + count].data) if count else np.zeros(0)
        if vals.size:
            out[name] = (float(vals.min()), float(vals.max()))
    return out


def option_value(h: highspy.Highs, name: str) -> object:
    """An option's value (highspy returns it alone or, in some versions, as (status, value))."""
    v = h.getOptionValue(name)
    return v[1] if isinstance(v, tuple) else v


def fresh_run(h: highspy.Highs, threads: int) -> None:
    """Prepare ``h`` for a run on another choice of fixed columns, on ``threads`` threads: its
    basis and solution are dropped, because a basis left by another choice makes HiGHS skip
    presolve (which removes what that choice fixes away; without it, LPs of millions of columns
    ran for minutes)."""
    h.clearSolver()
    h.setOptionValue("threads", threads)


def set_start(h: highspy.Highs, x: np.ndarray) -> None:
    """Hand HiGHS a complete solution ``x`` as its starting incumbent."""
    sol = highspy.HighsSolution()
    sol.col_value = np.asarray(x, float).tolist()
    sol.value_valid = True
    h.setSolution(sol)


def duals_with_integers_fixed(h: highspy.Highs, sf: StandardForm, x: np.ndarray) -> np.ndarray | None:
    """Row duals of the LP left when the integer variables are fixed at ``x`` (MILP shadow prices);
    None if that LP fails."""
    fixed = fixed_integer_lp(h, sf, x[sf.integer])
    return None if fixed is None else fixed[1]


def warm_start(h: highspy.Highs, sf: StandardForm, integers: np.ndarray) -> np.ndarray | None:
    """Fix the integer columns at ``integers``, solve the LP left and hand its solution to HiGHS
    as the starting incumbent; the solution, or None when that LP has none."""
    fixed = fixed_integer_lp(h, sf, integers)
    if fixed is None:
        return None
    set_start(h, fixed[0])
    return fixed[0]


def relaxation_rounded_up(h: highspy.Highs, sf: StandardForm) -> tuple[float, np.ndarray] | None:
    """The LP relaxation's objective and its integer columns rounded up (within their bounds);
    None when the relaxation has no optimum."""
    ints = np.flatnonzero(sf.integer)
    h.setOptionValue("solve_relaxation", True)
    h.run()
    h.setOptionValue("solve_relaxation", False)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x_lp = np.asarray(h.getSolution().col_value)
    return float(h.getInfo().objective_function_value), np.minimum(np.ceil(x_lp[ints] - 1e-6), sf.col_upper[ints])


def run_fast(h: highspy.Highs, sf: StandardForm, time_limit_s: float | None,
             integers: np.ndarray | None = None) -> SolveOutcome:
    """A first incumbent, then branch-and-bound warm-started from it for the remaining time.

    The incumbent fixes the integer variables (sites opened, replicas) and solves the dispatch LP
    that is left. Their values are ``integers`` when given (e.g. a plan made on typical days);
    otherwise the LP relaxation is solved first (a proven lower bound) and every integer is
    rounded up from it. Fixing can break a limit (a grid limit, a supply cap); branch-and-bound
    then starts without an incumbent.
    """
    t0 = time.perf_counter()
    lower = float("nan")
    if integers is None:
        relaxed = relaxation_rounded_up(h, sf)
        if relaxed is None:
            return run(h, True)
        lower, integers = relaxed
    start = warm_start(h, sf, integers)
    if start is not None:
        log.info("fast: first plan, objective %.6g (LP bound %.6g, objective units) after %.1f s",
                 float(sf.c @ start + sf.c0), lower, time.perf_counter() - t0)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", max(1.0, time_limit_s - (time.perf_counter() - t0)))
    out = run(h, True)
    out.solve_seconds = time.perf_counter() - t0
    if np.isfinite(lower):
        out.lower_bound = max(lower, out.lower_bound) if np.isfinite(out.lower_bound) else lower
    if out.x is not None and out.objective > 0 and np.isfinite(out.lower_bound):
        out.mip_gap = max(0.0, (out.objective - out.lower_bound) / abs(out.objective))
    return out


def fixed_integer_lp(h: highspy.Highs, sf: StandardForm,
                      values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Column values and row duals of the LP left when the integer columns are fixed at
    ``values`` (None if that LP has no optimum); the integer columns are restored afterwards."""
    ints = np.flatnonzero(sf.integer).astype(np.int32)
    vals = np.round(np.asarray(values, float))
    h.changeColsIntegrality(len(ints), ints, np.full(len(ints), highspy.HighsVarType.kContinuous))
    h.changeColsBounds(len(ints), ints, vals, vals)
    h.run()
    out = None
    if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
        sol = h.getSolution()
        out = np.asarray(sol.col_value), np.asarray(sol.row_dual)
    h.changeColsBounds(len(ints), ints, sf.col_lower[ints], sf.col_upper[ints])
    h.changeColsIntegrality(len(ints), ints, np.full(len(ints), highspy.HighsVarType.kInteger))
    return out

