"""Objective: annualised cost of sites, accelerators, energy and unserved demand.

The objective is in units of :func:`objective_unit_usd` per year: a million USD, scaled down in
proportion to the hours each modelled hour stands for (below 365), so that hourly energy costs of a
year-long run stay as well scaled as those of a two-day run.
"""

from __future__ import annotations

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
