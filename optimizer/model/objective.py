"""Objective: annualised cost of sites, accelerators, energy and unserved demand, and its components.

The objective is in units of :func:`objective_unit_usd` per year: a million USD, scaled down in
proportion to the hours each modelled hour stands for (below 365), so that hourly energy costs of a
year-long run stay as well scaled as those of a two-day run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from optimizer.finance import crf

MUSD = 1e6
"""USD per objective unit for runs whose hours stand for 365 or more hours of the year each."""


def objective_unit_usd(inputs: xr.Dataset) -> float:
    """USD per objective unit: 1e6 x min(1, mean hours per modelled hour / 365)."""
    return MUSD * min(1.0, float(np.mean(inputs["weight_h"].values)) / 365.0)


def site_crf(inputs: xr.Dataset) -> np.ndarray:
    """Capital recovery factor of each site's facility, 1/year."""
    return crf(inputs.attrs["discount_rate"], inputs["site_lifetime_years"].values)


def gpu_crf(inputs: xr.Dataset) -> np.ndarray:
    """Capital recovery factor of each accelerator type, 1/year."""
    return crf(inputs.attrs["discount_rate"], inputs["gpu_lifetime_years"].values)


@dataclass(frozen=True)
class CostComponent:
    """A component of the objective: every cost term the concern modules add is booked to one
    (``LinearBuilder.add_cost(..., component)``), and results report each as the sum of its
    terms, so the components add up to the objective by construction."""

    name: str
    """As in ``add_cost`` and the cost breakdown (``compare``, plots)."""
    summary_key: str
    """Its total in the summary, USD/year."""
    result: str | None
    """Results variable (USD/year over ``dims``); None: in the summary only."""
    dims: tuple[str, ...]
    """Dims of the results variable."""
    description: str
    sign: float = 1.0
    """Reported value per USD of objective (-1: a revenue, reported as a positive number)."""
    hourly: bool = False
    """Its terms are on hourly variables (a sum over hours; the others are the investments')."""
    in_cost: bool = True
    """Part of ``cost_usd_per_year`` (the unserved penalty is not)."""


COMPONENTS: tuple[CostComponent, ...] = (
    CostComponent("site", "site_cost_usd_per_year", "site_cost_usd_per_year", ("site",),
                  "annualised site opening and facility cost"),
    CostComponent("accelerator", "accelerator_cost_usd_per_year", "accelerator_cost_usd_per_year", ("site", "gpu"),
                  "annualised accelerator capex"),
    CostComponent("energy", "energy_cost_usd_per_year", "energy_cost_usd_per_year", ("site",),
                  "grid energy cost", hourly=True),
    CostComponent("onsite_supply", "onsite_supply_cost_usd_per_year", "onsite_cost_usd_per_year", ("site",),
                  "annualised on-site solar, wind and battery cost"),
    CostComponent("carbon", "carbon_cost_usd_per_year", "carbon_cost_usd_per_year", ("site",),
                  "carbon price times emissions", hourly=True),
    CostComponent("exports", "export_revenue_usd_per_year", "export_revenue_usd_per_year", ("site",),
                  "revenue from exported on-site power", sign=-1.0, hourly=True),
    CostComponent("unserved", "unserved_penalty_usd_per_year", None, (),
                  "penalty for demand not served", hourly=True, in_cost=False),
)
"""The objective's components, in the order of the cost breakdown."""
