"""Fleet: integer replicas of server nodes per site, accelerator, LLM and deployment, and their capacity."""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.model.linear import Family, LinearBuilder, Result
from optimizer.model.objective import gpu_crf, objective_unit_usd, site_crf
from optimizer.model.sets import IndexSets

REPLICAS = Family("replicas", "replica", "serving replicas of one LLM on one accelerator type in one deployment",
                  dims=("site", "gpu", "llm", "deployment"), domain="integer",
                  result=Result("replicas_by_deployment", description="serving replicas (one LLM each) by deployment"))
FAMILIES = (REPLICAS,)


def declare(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``replicas[s,g,l,d]`` ∈ Z+, at most ``max_replicas`` (a valid bound, see sets.py)."""
    b.add_var(REPLICAS, sets.n_fleet, ub=sets.fleet_max_replicas,
              index=(sets.fleet_site, sets.fleet_gpu, sets.fleet_llm, sets.fleet_deployment))


def constrain(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``replica_capacity`` and ``supply_cap``; accelerator capex and the facility cost per MW of
    IT in the objective (the latter booked with the site cost)."""
    replica_capacity(b, sets)
    supply_cap(b, inputs, sets)
    g, s = sets.fleet_gpu, sets.fleet_site
    capex = inputs["capex_usd_per_gpu"].values[g] * gpu_crf(inputs)[g]
    facility = inputs["power_kw_per_gpu"].values[g] / 1000.0 * inputs["build_cost_usd_per_mw"].values[s] * site_crf(inputs)[s]
    replicas = b.variables["replicas"]
    unit = objective_unit_usd(inputs)
    b.add_cost(replicas.cols(), sets.fleet_gpus_per_replica * capex / unit, "accelerator")
    b.add_cost(replicas.cols(), sets.fleet_gpus_per_replica * facility / unit, "site")


def replica_capacity(b: LinearBuilder, sets: IndexSets) -> None:
    """``replica_capacity``, for every (s,g,l,d) in F and t: busy GPUs within the replicas' GPUs,

    busy_gpus_per_mtok * production[s,g,l,d,t] - gpus_per_replica * replicas[s,g,l,d] <= 0
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
        fields="llms.*.throughput, gpus.*.gpus_per_node",
    )


def supply_cap(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``supply_cap``, for every accelerator supply cap c: GPUs of the cap's types at all sites of
    its country within max_gpus,

    sum_{(s,g,l,d): country(s) = c, g in G_c} gpus_per_replica * replicas[s,g,l,d] <= max_gpus_c
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
        fields="supply_caps.*.max_gpus",
    )
