"""Plan on few hours, verify on all of them: fix a plan's investments and re-solve the dispatch.

The sites opened, replicas and on-site capacities of a plan (typically made on representative
days) are fixed in the model of another time resolution (typically the full year); what remains
is a linear dispatch problem. Its optimum is the plan's true annual cost at that resolution, with
the unserved tokens and peak power it really leads to.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from optimizer.inputs import build_inputs
from optimizer.model.sets import IndexSets, build_sets
from optimizer.scenario import Scenario
from optimizer.solve import Plan, SolveOptions, solve_model

CAPACITY = {"solar_capacity": "solar_mw", "wind_capacity": "wind_mw", "battery_energy": "battery_mwh",
            "battery_power": "battery_mw"}


def investments(plan: Plan, inputs: xr.Dataset, sets: IndexSets) -> dict[str, np.ndarray]:
    """The plan's investment decisions laid out as the variable families of the model of
    ``inputs`` (whose sparse sets are ``sets``)."""
    ds = plan.dataset
    if ds is None:
        raise ValueError("the plan has no solution to verify")
    site = inputs["site"].values
    rep = ds["replicas"].reindex(site=site, gpu=inputs["gpu"].values, llm=inputs["llm"].values, fill_value=0.0)
    fix = {"open_site": ds["open"].reindex(site=site, fill_value=False).values.astype(float),
           "replicas": rep.values[sets.fleet_site, sets.fleet_gpu, sets.fleet_llm]}
    for fam, var in CAPACITY.items():
        if len(sets.onsite_site):  # on-site families exist only then (model/power.py)
            fix[fam] = ds[var].reindex(site=site, fill_value=0.0).values[sets.onsite_site]
    return fix


def verify(plan: Plan, target: Scenario, options: SolveOptions | None = None) -> dict[str, Any]:
    """Dispatch ``plan``'s fleet on ``target``'s hours; the true cost and how it differs."""
    inputs = build_inputs(target)
    fixed = solve_model(target, options or SolveOptions(), fix=investments(plan, inputs, build_sets(inputs)))
    s = fixed.summary
    planned = plan.summary["objective_usd_per_year"]
    out = {
        "status": s["status"],
        "planned_objective_usd_per_year": planned,
        "verified_objective_usd_per_year": s.get("objective_usd_per_year"),
        "verified_cost_per_mtok_usd": s.get("cost_per_mtok_usd"),
        "verified_unserved_tokens_per_year": s.get("unserved_tokens_per_year"),
        "verified_peak_facility_power_mw": s.get("peak_facility_power_mw"),
        "verify_solve_seconds": s.get("solve_seconds"),
    }
    if s.get("objective_usd_per_year") is not None:
        out["objective_difference"] = s["objective_usd_per_year"] / planned - 1
    return out
