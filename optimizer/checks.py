"""Numeric checks of a compiled model before HiGHS sees it: numbers too large for the solver are
input errors (naming the constraint family and the scenario fields behind it), and badly scaled
constraint families get a warning."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optimizer import highs
from optimizer.errors import ScenarioError

COEF_RANGE = (1e-3, 1e7)
"""Constraint coefficients outside this range get a warning naming the family."""

MAX_MAGNITUDE = 1e12
"""Coefficients, right-hand sides, costs and finite bounds beyond this are treated as input errors."""


def check_magnitudes(sf: highs.StandardForm, ranges: dict[str, tuple[float, float]], file: str,
                     fields: Mapping[str, str] | None = None) -> None:
    """Refuse numbers the solver cannot work with, naming the constraint family and its inputs:
    ``fields`` maps a row family to the scenario fields behind it (``LinearBuilder.row_fields()``,
    declared by ``add_rows(..., fields=...)``)."""
    fields = fields or {}
    problems = []
    for name, (_, hi) in ranges.items():
        if hi > MAX_MAGNITUDE:
            problems.append(f"{file}: values too large for the solver: {name} has coefficients up to {hi:.3g} "
                            f"(check {fields.get(name, 'the scenario values')})")
    for name, start, count in sf.row_names:
        rhs = np.concatenate([sf.row_lower[start:start + count], sf.row_upper[start:start + count]])
        big = np.abs(rhs[np.isfinite(rhs)]).max(initial=0.0)
        if big > MAX_MAGNITUDE:
            problems.append(f"{file}: values too large for the solver: {name} has a right-hand side of {big:.3g} "
                            f"(check {fields.get(name, 'the scenario values')})")
    cost = np.abs(sf.c).max(initial=0.0)
    if cost > MAX_MAGNITUDE or not np.isfinite(cost):
        problems.append(f"{file}: values too large for the solver: a cost coefficient of {cost:.3g} objective units "
                        "(check build_cost_usd, capex_usd_per_gpu, energy_price_usd_per_mwh, lifetime_years)")
    ub = sf.col_upper[np.isfinite(sf.col_upper)]
    if ub.size and np.abs(ub).max() > MAX_MAGNITUDE:
        problems.append(f"{file}: values too large for the solver: a variable bound of {np.abs(ub).max():.3g} "
                        "(check grid_limit_mw and demand)")
    if problems:
        raise ScenarioError(problems)


def scaling_warnings(ranges: dict[str, tuple[float, float]]) -> list[str]:
    """One line per constraint family whose coefficients leave :data:`COEF_RANGE`."""
    return [f"constraint family {name} has coefficients in [{lo:.3g}, {hi:.3g}], outside "
            f"{COEF_RANGE[0]:.0e}..{COEF_RANGE[1]:.0e}: rescale the scenario's units"
            for name, (lo, hi) in ranges.items() if lo < COEF_RANGE[0] or hi > COEF_RANGE[1]]
