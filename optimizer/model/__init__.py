"""The planning MILP, assembled from one module per concern (names as in docs/math.md).

:data:`FAMILIES` is the registry of variable families: each concern module declares its own once
(:class:`~optimizer.model.linear.Family`: units, meaning, integrality, results name), and results,
verify and the fast method read them from here. The objective's cost components are
:data:`optimizer.model.objective.COMPONENTS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
import xarray as xr

from optimizer.model import fleet, power, routing, sites
from optimizer.model.linear import Family, LinearBuilder
from optimizer.model.sets import IndexSets, build_sets

CONCERNS = (sites, fleet, routing, power)
FAMILIES: dict[str, Family] = {f.name: f for concern in CONCERNS for f in concern.FAMILIES}
"""Every variable family of the planning model by name, in the order the concerns declare them."""


@dataclass
class PlanningModel:
    """A built model: the Pyomo model, its sparse sets and the families that built it."""

    pyomo: pyo.ConcreteModel
    sets: IndexSets
    builder: LinearBuilder
    inputs: xr.Dataset


def build_model(inputs: xr.Dataset, fix: dict[str, np.ndarray] | None = None,
                sets: IndexSets | None = None,
                extra: Callable[[LinearBuilder], None] | None = None,
                on_stage: Callable[[str], None] | None = None) -> PlanningModel:
    """Build the Pyomo MILP for an inputs Dataset (see :func:`optimizer.inputs.build_inputs`).

    ``fix`` maps variable families (e.g. ``replicas``) to values to fix them at (NaN = free).
    ``sets`` replaces the sparse sets derived from ``inputs`` (the time-aggregated relaxation
    keeps those of the full horizon, replica bounds included). ``extra`` adds families to the
    builder after the concerns have (the relaxation's ``peak_cover`` rows). ``on_stage(name)`` is
    called as each stage of the build ends (progress and time limit, :class:`optimizer.budget.BuildClock`).
    """
    sets = build_sets(inputs) if sets is None else sets
    stage = on_stage or (lambda name: None)
    b = declare(inputs, sets)
    stage("variable families")
    for concern in CONCERNS:
        concern.constrain(b, inputs, sets)
        stage(f"{concern.__name__.rsplit('.', 1)[-1]} rows")
    if extra is not None:
        extra(b)
    for name, values in (fix or {}).items():
        fam = b.variables[name]
        v = np.asarray(values, float)
        fixed = np.isfinite(v)
        fam.lb[fixed] = v[fixed]
        fam.ub[fixed] = v[fixed]
    return PlanningModel(b.build(on_stage=on_stage), sets, b, inputs)


def declare(inputs: xr.Dataset, sets: IndexSets) -> LinearBuilder:
    """A builder holding the variable families of the model of ``inputs`` on ``sets`` (no rows, no
    cost): their sizes, bounds and the positions of their elements."""
    b = LinearBuilder()
    for concern in CONCERNS:
        concern.declare(b, inputs, sets)
    return b
