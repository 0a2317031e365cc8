"""Objective: annualised cost of sites, accelerators, energy and unserved demand.

The objective is in million USD per year (:data:`MUSD`) to keep coefficients near 1e-3..1e3.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.inputs import crf

MUSD = 1e6
"""USD per objective unit."""


def site_crf(inputs: xr.Dataset) -> np.ndarray:
    """Capital recovery factor of each site's facility, 1/year."""
    return crf(inputs.attrs["discount_rate"], inputs["site_lifetime_years"].values)


def gpu_crf(inputs: xr.Dataset) -> np.ndarray:
    """Capital recovery factor of each accelerator type, 1/year."""
    return crf(inputs.attrs["discount_rate"], inputs["gpu_lifetime_years"].values)
