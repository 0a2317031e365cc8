"""Fleet: integer replicas of server nodes per site, accelerator and LLM, and their capacity."""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.model.linear import LinearBuilder
from optimizer.model.objective import gpu_crf, objective_unit_usd, site_crf
from optimizer.model.sets import IndexSets


def declare(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``replicas[s,g,l]`` ∈ Z+, at most ``max_replicas`` (a valid bound, see sets.py)."""
    b.add_var(
        "replicas", sets.n_fleet, "replica", "serving replicas of one LLM on one accelerator type",
        domain="integer", ub=sets.fleet_max_replicas,
    )


def constrain(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``replica_capacity``: busy GPUs of (s,g,l) at t <= GPUs in its replicas; plus capex.

    busy_gpus_per_mtok * production[s,g,l,t] - gpus_per_replica * replicas[s,g,l] <= 0
    """
    replicas, production = b.variables["replicas"], b.variables["production"]
    nt = sets.n_time
    f = np.repeat(np.arange(sets.n_fleet), nt)
    b.add_rows(
        "replica_capacity", sets.n_fleet * nt,
        [
            (np.arange(sets.n_fleet * nt), production.cols(), np.repeat(sets.fleet_busy_gpus_per_mtok, nt)),
            (np.arange(sets.n_fleet * nt), replicas.cols(f), -np.repeat(sets.fleet_gpus_per_replica, nt)),
        ],
        lb=None, ub=0.0, description="busy GPUs within installed GPUs",
    )
    _supply_caps(b, inputs, sets)
    g, s = sets.fleet_gpu, sets.fleet_site
    capex = inputs["capex_usd_per_gpu"].values[g] * gpu_crf(inputs)[g]
    facility = inputs["power_kw_per_gpu"].values[g] / 1000.0 * inputs["build_cost_usd_per_mw"].values[s] * site_crf(inputs)[s]
    b.add_cost(replicas.cols(), sets.fleet_gpus_per_replica * (capex + facility) / objective_unit_usd(inputs))


def _supply_caps(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``supply_cap``: GPUs of the cap's types at all sites of its country <= max_gpus.

    sum_{(s,g,l): country(s) = c, g in G_c} gpus_per_replica * replicas[s,g,l] <= max_gpus_c
    """
    n_cap = inputs.sizes.get("cap", 0)
    if not n_cap:
        return
    country = inputs["site_country"].values[sets.fleet_site]
    member = inputs["cap_gpu"].transpose("cap", "gpu").values[:, sets.fleet_gpu] & (
        country[None, :] == inputs["cap_country"].values[:, None])
    rows, f = np.nonzero(member)
    b.add_rows(
        "supply_cap", n_cap, [(rows, b.variables["replicas"].cols(f), sets.fleet_gpus_per_replica[f])],
        lb=None, ub=inputs["cap_max_gpus"].values, description="accelerator supply limits by country",
    )
