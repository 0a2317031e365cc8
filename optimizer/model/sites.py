"""Sites: the binary decision to open a site, and what opening costs."""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.model.linear import Family, LinearBuilder, Result
from optimizer.model.objective import objective_unit_usd, site_crf
from optimizer.model.sets import IndexSets

OPEN_SITE = Family("open_site", "1", "site is built", dims=("site",), domain="binary", result=Result("open"))
FAMILIES = (OPEN_SITE,)


def declare(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``open_site[s]`` ∈ {0, 1}; fixed to 0 where no accelerator could serve any route."""
    ub = np.zeros(sets.n_site)
    ub[sets.active_site] = 1.0
    b.add_var(OPEN_SITE, sets.n_site, ub=ub, index=(np.arange(sets.n_site),))


def constrain(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``site_open_link``, and the sites' opening cost in the objective."""
    site_open_link(b, sets)
    b.add_cost(b.variables["open_site"].cols(), inputs["build_cost_usd"].values * site_crf(inputs)
               / objective_unit_usd(inputs), "site")


def site_open_link(b: LinearBuilder, sets: IndexSets) -> None:
    """``site_open_link``, for every (s,g,l) in F: replicas[s,g,l] <= max_replicas[s,g,l] * open_site[s]."""
    open_site, replicas = b.variables["open_site"], b.variables["replicas"]
    rows = np.arange(sets.n_fleet)
    b.add_rows(
        "site_open_link", sets.n_fleet,
        [(rows, replicas.cols(), 1.0), (rows, open_site.cols(sets.fleet_site), -sets.fleet_max_replicas)],
        lb=None, ub=0.0, description="replicas only at opened sites",
        fields="sites.*.grid_limit_mw, markets.*.demand_output_tokens_per_s",
    )
