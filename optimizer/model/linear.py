"""Assemble a Pyomo model from vectorised blocks of variables and linear rows.

Each concern module (sites, fleet, routing, power, objective) declares its variable families and
its constraint families as numpy arrays (COO triplets over *global* column positions). This module
turns them into Pyomo components: one ``Var`` per family indexed by a ``RangeSet``, one
:class:`~pyomo.core.base.matrix_constraint.MatrixConstraint` per constraint family (Pyomo's CSR
component, which skips the expression system), and one linear ``Objective``. Names are those of
``docs/math.md``.
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

    def cols(self, positions: np.ndarray | None = None) -> np.ndarray:
        """Global column numbers of the given positions within the family (all if None)."""
        base = np.arange(self.size) if positions is None else np.asarray(positions)
        return self.offset + base


@dataclass
class RowFamily:
    """A block of linear rows ``lb <= A x <= ub`` (A in CSR over global columns)."""

    name: str
    matrix: sp.csr_array
    lb: np.ndarray
    ub: np.ndarray
    description: str


@dataclass
class LinearBuilder:
    """Collects variable and row families, then builds the Pyomo model."""

    variables: dict[str, VarFamily] = field(default_factory=dict)
    rows: dict[str, RowFamily] = field(default_factory=dict)
    cost: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    n_cols: int = 0

    def add_var(
        self,
        name: str,
        size: int,
        units: str,
        description: str,
        domain: str = "continuous",
        lb: float | np.ndarray = 0.0,
        ub: float | np.ndarray = np.inf,
    ) -> VarFamily:
        """Declare ``size`` variables of one family; bounds are scalars or arrays of ``size``."""
        fam = VarFamily(
            name, size, self.n_cols, domain, units, description,
            np.broadcast_to(np.asarray(lb, float), (size,)).copy(),
            np.broadcast_to(np.asarray(ub, float), (size,)).copy(),
        )
        self.variables[name] = fam
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
    ) -> RowFamily:
        """Declare ``n_rows`` rows from (row, global column, coefficient) triplet arrays."""
        r = np.concatenate([np.asarray(t[0], np.int64) for t in terms])
        c = np.concatenate([np.asarray(t[1], np.int64) for t in terms])
        v = np.concatenate([np.broadcast_to(np.asarray(t[2], float), np.shape(t[0])) for t in terms])
        keep = v != 0
        a = sp.csr_array((v[keep], (r[keep], c[keep])), shape=(n_rows, self.n_cols))
        a.sum_duplicates()
        a.sort_indices()

        def bound(b: float | np.ndarray | None, default: float) -> np.ndarray:
            return np.full(n_rows, default) if b is None else np.broadcast_to(np.asarray(b, float), (n_rows,)).copy()

        fam = RowFamily(name, a, bound(lb, -np.inf), bound(ub, np.inf), description)
        self.rows[name] = fam
        return fam

    def add_cost(self, cols: np.ndarray, coefs: np.ndarray | float) -> None:
        """Add ``coefs`` (objective units per unit of the variable) to the objective."""
        cols = np.asarray(cols, np.int64)
        self.cost.append((cols, np.broadcast_to(np.asarray(coefs, float), cols.shape)))

    def cost_vector(self) -> np.ndarray:
        c = np.zeros(self.n_cols)
        for cols, coefs in self.cost:
            np.add.at(c, cols, coefs)
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
