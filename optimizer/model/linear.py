"""Assemble a Pyomo model from vectorised blocks of variables and linear rows.

Each concern module (sites, fleet, routing, power, objective) declares its variable families and
its constraint families as numpy arrays (COO triplets over *global* column positions). This module
turns them into Pyomo components: one ``Var`` per family indexed by a ``RangeSet``, one
:class:`~pyomo.core.base.matrix_constraint.MatrixConstraint` per constraint family (Pyomo's CSR
component, which skips the expression system), and one linear ``Objective``. Names are those of
``docs/math.md``.

It also keeps what the rest of the code reads about the model instead of tables of its own: each
variable family's declaration (:class:`Family`: units, meaning, integrality, results name and
dims; with the positions of its elements, :attr:`VarFamily.index`), the scenario fields behind each
row family (:attr:`RowFamily.fields`, for error messages), and each objective term with the cost
component it belongs to (:class:`CostTerm`), from which results compute the reported costs
(:meth:`LinearBuilder.component_cost`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.core.base.matrix_constraint import MatrixConstraint
from pyomo.core.expr.numeric_expr import LinearExpression


class RowBlock(MatrixConstraint):
    """Pyomo's CSR constraint block, with the ``values(sort)``/``items(sort)`` signature that
    ``Block.component_data_objects`` calls (the base class's Mapping methods take no argument)."""

    def keys(self, sort=None):  # noqa: ANN001, ANN201
        return range(len(self._data))

    def values(self, sort=None):  # noqa: ANN001, ANN201
        return iter(self._data)

    def items(self, sort=None):  # noqa: ANN001, ANN201
        return enumerate(self._data)


DOMAINS = ("continuous", "integer", "binary")


@dataclass(frozen=True)
class Result:
    """How a variable family is reported in the results Dataset (:mod:`optimizer.results`)."""

    name: str
    """Results variable (e.g. ``open`` for ``open_site``, ``solar_mw`` for ``solar_capacity``)."""
    units: str | None = None
    """Its units (None: the family's)."""
    description: str | None = None
    """Its ``description`` attr (None: the family's)."""
    scale: float = 1.0
    """Results value per unit of the variable (e.g. 1e6 token/s per Mtoken/s)."""
    noise: float = 0.0
    """Values below this (variable units) are solver noise, reported as 0."""


@dataclass(frozen=True)
class Family:
    """A variable family as declared once, before any model: its name (docs/math.md), units,
    meaning, integrality, the results dims its elements lie on and how results report it.

    Each concern module lists its families in ``FAMILIES``; :data:`optimizer.model.FAMILIES` is
    the registry of them all, which results, verify and the fast method read."""

    name: str
    units: str
    description: str
    dims: tuple[str, ...] = ()
    """Results dims of each element (time excluded), e.g. ``("site", "gpu", "llm")``."""
    timed: bool = False
    """Elements are (index element, hour), hours inner."""
    domain: str = "continuous"
    """``continuous``, ``integer`` or ``binary``."""
    result: Result | None = None
    """The results variable (None: not reported on its own, e.g. ``flexible_delivery``, whose
    flows are in ``delivered_tokens_per_s``)."""

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"family {self.name}: domain {self.domain!r} is not one of {DOMAINS}")

    @property
    def integer(self) -> bool:
        """Integer or binary."""
        return self.domain != "continuous"

    @property
    def result_units(self) -> str:
        return self.units if self.result is None or self.result.units is None else self.result.units

    @property
    def result_description(self) -> str:
        if self.result is None or self.result.description is None:
            return self.description
        return self.result.description


@dataclass
class VarFamily:
    """A block of variables: positions ``offset .. offset + size`` among all columns."""

    name: str
    size: int
    offset: int
    domain: str  # "continuous" | "integer" | "binary"
    units: str
    description: str
    lb: np.ndarray
    ub: np.ndarray
    family: Family | None = None
    """The declaration (registry entry) of the family."""
    index: tuple[np.ndarray, ...] = ()
    """Positions of each element along ``family.dims`` (one array per dim, time excluded)."""

    def cols(self, positions: np.ndarray | None = None) -> np.ndarray:
        """Global column numbers of the given positions within the family (all if None)."""
        base = np.arange(self.size) if positions is None else np.asarray(positions)
        return self.offset + base

    def coordinates(self, positions: np.ndarray, dims: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        """Positions along ``dims`` (a subset of the family's dims) of the given elements."""
        fam = self.family
        if fam is None or any(d not in fam.dims for d in dims):
            raise ValueError(f"family {self.name} is not laid out over {dims}")
        n = len(self.index[0]) if self.index else 0
        element = np.asarray(positions) // (self.size // n) if fam.timed and n else np.asarray(positions)
        return tuple(self.index[fam.dims.index(d)][element] for d in dims)


@dataclass
class RowFamily:
    """A block of linear rows ``lb <= A x <= ub`` (A in CSR over global columns)."""

    name: str
    matrix: sp.csr_array
    lb: np.ndarray
    ub: np.ndarray
    description: str
    fields: str = ""
    """Scenario fields behind the family's numbers, for error messages (e.g. ``sites.*.grid_limit_mw``)."""


@dataclass(frozen=True)
class CostTerm:
    """One piece of the objective: ``coefs`` (objective units per unit) on global columns ``cols``,
    booked to a cost ``component`` (:data:`optimizer.model.objective.COMPONENTS`)."""

    cols: np.ndarray
    coefs: np.ndarray
    component: str


@dataclass
class LinearBuilder:
    """Collects variable and row families, then builds the Pyomo model."""

    variables: dict[str, VarFamily] = field(default_factory=dict)
    rows: dict[str, RowFamily] = field(default_factory=dict)
    cost: list[CostTerm] = field(default_factory=list)
    n_cols: int = 0

    def add_var(
        self,
        family: Family | str,
        size: int,
        units: str | None = None,
        description: str | None = None,
        domain: str | None = None,
        lb: float | np.ndarray = 0.0,
        ub: float | np.ndarray = np.inf,
        index: tuple[np.ndarray, ...] = (),
    ) -> VarFamily:
        """Declare ``size`` variables of a :class:`Family` (or of an unreported family given by
        name, units and description); bounds are scalars or arrays of ``size``; ``index`` gives
        each element's positions along the family's dims."""
        if isinstance(family, str):
            family = Family(family, units or "", description or "", domain=domain or "continuous")
        elif units is not None or description is not None or domain is not None:
            raise TypeError(f"family {family.name}: units, description and domain are declared by its Family")
        index = tuple(np.asarray(i, np.int64) for i in index)
        if len(index) != len(family.dims):
            raise ValueError(f"family {family.name}: index has {len(index)} arrays for dims {family.dims}")
        fam = VarFamily(
            family.name, size, self.n_cols, family.domain, family.units, family.description,
            np.broadcast_to(np.asarray(lb, float), (size,)).copy(),
            np.broadcast_to(np.asarray(ub, float), (size,)).copy(),
            family, index,
        )
        self.variables[family.name] = fam
        self.n_cols += size
        return fam

    def add_rows(
        self,
        name: str,
        n_rows: int,
        terms: list[tuple[np.ndarray, np.ndarray, np.ndarray | float]],
        lb: float | np.ndarray | None,
        ub: float | np.ndarray | None,
        description: str,
        fields: str = "",
    ) -> RowFamily:
        """Declare ``n_rows`` rows from (row, global column, coefficient) triplet arrays;
        ``fields`` names the scenario fields behind their numbers (for error messages)."""
        r = np.concatenate([np.asarray(t[0], np.int64) for t in terms])
        c = np.concatenate([np.asarray(t[1], np.int64) for t in terms])
        v = np.concatenate([np.broadcast_to(np.asarray(t[2], float), np.shape(t[0])) for t in terms])
        keep = v != 0
        a = sp.csr_array((v[keep], (r[keep], c[keep])), shape=(n_rows, self.n_cols))
        a.sum_duplicates()
        a.sort_indices()

        def bound(b: float | np.ndarray | None, default: float) -> np.ndarray:
            return np.full(n_rows, default) if b is None else np.broadcast_to(np.asarray(b, float), (n_rows,)).copy()

        fam = RowFamily(name, a, bound(lb, -np.inf), bound(ub, np.inf), description, fields)
        self.rows[name] = fam
        return fam

    def add_cost(self, cols: np.ndarray, coefs: np.ndarray | float, component: str) -> None:
        """Add ``coefs`` (objective units per unit of the variable) to the objective, booked to
        ``component`` (a name in :data:`optimizer.model.objective.COMPONENTS`)."""
        cols = np.asarray(cols, np.int64)
        self.cost.append(CostTerm(cols, np.broadcast_to(np.asarray(coefs, float), cols.shape), component))

    def row_fields(self) -> dict[str, str]:
        """Scenario fields behind each row family that names them."""
        return {name: r.fields for name, r in self.rows.items() if r.fields}

    def component_cost(self, x: np.ndarray, component: str, dims: tuple[str, ...],
                       shape: tuple[int, ...]) -> np.ndarray:
        """``sum coef * x`` of the objective terms booked to ``component`` (objective units),
        laid out over ``dims`` (of sizes ``shape``) by the families of their columns."""
        out = np.zeros(shape)
        starts = np.array([f.offset for f in self.variables.values()])
        fams = list(self.variables.values())
        for term in self.cost:
            if term.component != component or not len(term.cols):
                continue
            which = np.searchsorted(starts, term.cols, side="right") - 1
            values = term.coefs * x[term.cols]
            for i in np.unique(which):
                at = which == i
                if not dims:
                    out = out + values[at].sum()
                    continue
                fam = fams[i]
                np.add.at(out, fam.coordinates(term.cols[at] - fam.offset, dims), values[at])
        return out

    def cost_vector(self) -> np.ndarray:
        c = np.zeros(self.n_cols)
        for term in self.cost:
            np.add.at(c, term.cols, term.coefs)
        return c

    def build(self, objective_name: str = "annual_cost",
              on_stage: Callable[[str], None] | None = None) -> pyo.ConcreteModel:
        """The Pyomo model: Vars, MatrixConstraints and the linear Objective (minimise);
        ``on_stage(name)`` is called after each family."""
        stage = on_stage or (lambda name: None)
        m = pyo.ConcreteModel()
        domains = {"continuous": pyo.Reals, "integer": pyo.Integers, "binary": pyo.Binary}
        columns: list = []
        for fam in self.variables.values():
            var = pyo.Var(pyo.RangeSet(0, fam.size - 1), domain=domains[fam.domain], dense=True)
            var.doc = f"{fam.description} [{fam.units}]"
            m.add_component(fam.name, var)
            var._family_bounds = (fam.lb, fam.ub)  # read back by optimizer.highs.compile_model
            datas = list(var.values())
            lbs = np.where(np.isfinite(fam.lb), fam.lb, np.nan).tolist()
            ubs = np.where(np.isfinite(fam.ub), fam.ub, np.nan).tolist()
            for v, lo, hi in zip(datas, lbs, ubs, strict=True):
                v._lb = None if lo != lo else lo
                v._ub = None if hi != hi else hi
            columns.extend(datas)
            stage(f"Pyomo variables {fam.name}")
        columns_t = tuple(columns)  # one shared tuple: MatrixConstraint keeps it as is (tuple(t) is t)
        m._columns = columns
        for fam in self.rows.values():
            a = fam.matrix
            lbs = [None if not np.isfinite(x) else x for x in fam.lb.tolist()]
            ubs = [None if not np.isfinite(x) else x for x in fam.ub.tolist()]
            con = RowBlock(a.data.tolist(), a.indices.tolist(), a.indptr.tolist(), lbs, ubs, columns_t)
            con.doc = fam.description
            m.add_component(fam.name, con)
            stage(f"Pyomo rows {fam.name}")
        c = self.cost_vector()
        nz = np.flatnonzero(c)
        expr = LinearExpression(constant=0.0, linear_coefs=c[nz].tolist(), linear_vars=[columns[j] for j in nz])
        m.add_component(objective_name, pyo.Objective(expr=expr, sense=pyo.minimize))
        return m
