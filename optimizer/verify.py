"""Plan on few hours, verify on all of them: fix a plan's investments and re-solve the dispatch.

The sites opened, replicas and on-site capacities of a plan (typically made on representative
days) are fixed in the model of another time resolution (typically the full year); what remains
is a linear dispatch problem. Its optimum is the plan's true annual cost at that resolution, with
the unserved tokens and peak power it really leads to.

A long horizon whose hours are linked only within a day (no batteries, no carbon caps) is
dispatched in chunks of whole weeks, one LP each, so a 40-site year never has to be one model.
:func:`full_horizon_bound` adds a proven lower bound on the optimum of the target horizon itself
(the time-aggregation relaxation of :mod:`optimizer.fast.relax`), so the verified plan comes with a
proven gap on the problem it is meant for.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import xarray as xr

from optimizer import highs
from optimizer.diagnose import explain_infeasible
from optimizer.fast import FIRST_ROUND_NONZEROS, stop_when_stalled
from optimizer.fast.relax import (
    cluster_steps,
    has_storage,
    peak_hour,
    relaxed_model,
    relaxed_sets,
    unsupported,
)
from optimizer.inputs import build_inputs
from optimizer.model import build_model
from optimizer.model.objective import COMPONENTS, objective_unit_usd
from optimizer.model.sets import IndexSets, build_sets
from optimizer.plan import Plan, SolveOptions, investments
from optimizer.results import build_results, summarize, total_cost_usd
from optimizer.scenario import Scenario
from optimizer.solve import solve_model

log = logging.getLogger(__name__)

CHUNK_ABOVE_STEPS = 24 * 28
"""Horizons longer than this many hours are dispatched in chunks of ``CHUNK_DAYS`` days."""
CHUNK_DAYS = 7
ADDITIVE = (*(c.summary_key for c in COMPONENTS if c.hourly), "tokens_per_year", "output_tokens_per_year",
            "unserved_tokens_per_year", "energy_mwh_per_year", "grid_energy_mwh_per_year", "co2_t_per_year")
"""Summary figures that are sums over hours: the hourly cost components (``COMPONENTS``) and the
hourly totals (the others are the investments', equal in every chunk)."""
INVESTMENT_COSTS = tuple(c.summary_key for c in COMPONENTS if not c.hourly)
"""Summary keys of the cost components of investments (counted once)."""


def verify(plan: Plan, target: Scenario, options: SolveOptions | None = None,
           bound_groups: int | None = None) -> dict[str, Any]:
    """Dispatch ``plan``'s fleet on ``target``'s hours; the true cost and how it differs.

    With ``bound_groups``, also a proven lower bound on ``target``'s own optimum from that many
    groups of hours (:func:`full_horizon_bound`) and the verified plan's gap to it."""
    opts = options or SolveOptions()
    inputs = build_inputs(target)
    sets = build_sets(inputs)
    fix = investments(plan, inputs, sets)
    chunks = _chunks(inputs, sets)
    if chunks is None:
        s = solve_model(target, opts, fix=fix, explain=explain_infeasible).summary
    else:
        s = _dispatch_in_chunks(inputs, sets, fix, chunks, opts)
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
    out["verify_chunks"] = 1 if chunks is None else len(chunks)
    if bound_groups and s.get("objective_usd_per_year") is not None:
        t0 = time.perf_counter()
        bound = full_horizon_bound(inputs, sets, bound_groups, opts)
        out["bound_seconds"] = time.perf_counter() - t0
        if bound is not None:
            out["full_horizon_lower_bound_usd_per_year"] = bound
            out["full_horizon_gap"] = max(0.0, 1 - bound / s["objective_usd_per_year"])
    return out


def default_bound_groups(summary: dict[str, Any]) -> int:
    """Groups of hours for :func:`full_horizon_bound` after a plan with this summary: as many as
    its time steps, but a relaxed model of at most twice ``FIRST_ROUND_NONZEROS`` (at least 24)."""
    steps = int(summary["num_time_steps"])
    per_step = summary["num_nonzeros"] / max(1, steps)
    return int(max(24, min(steps, 2 * FIRST_ROUND_NONZEROS / max(per_step, 1.0))))


def _chunks(inputs: xr.Dataset, sets: IndexSets) -> list[slice] | None:
    """Week-long slices of the horizon when it is long and its hours are linked only within a
    day; None otherwise (one model for the whole horizon)."""
    nt = sets.n_time
    day = inputs["day"].values
    if nt <= CHUNK_ABOVE_STEPS or nt % 24 or not (np.diff(day) >= 0).all():
        return None
    if has_storage(inputs, sets):
        return None  # storage carries energy across the whole horizon
    if np.isfinite(inputs.attrs.get("carbon_cap_t_per_year", np.nan)) or inputs.sizes.get("cap_country_carbon", 0):
        return None  # annual caps link every hour
    step = 24 * CHUNK_DAYS
    return [slice(a, min(a + step, nt)) for a in range(0, nt, step)]


def _dispatch_in_chunks(inputs: xr.Dataset, sets: IndexSets, fix: dict[str, np.ndarray], chunks: list[slice],
                        opts: SolveOptions) -> dict[str, Any]:
    """Summary of the fixed fleet dispatched chunk by chunk: hourly sums added up, investments
    counted once, peak power the highest of any chunk."""
    t0 = last = time.perf_counter()
    total: dict[str, Any] = {}
    objective = investment = 0.0
    status = "optimal"
    for i, part in enumerate(chunks):
        ci = inputs.isel(time=part)
        ci["day"] = ci["day"] - int(ci["day"].min())
        pm = build_model(ci, fix, sets=relaxed_sets(sets, part.stop - part.start))
        sf = highs.compile_model(pm.pyomo)
        out = highs.run(highs.to_highs(sf, {k: v for k, v in opts.highs_options().items() if k != "log_to_console"
                                            and k != "output_flag"}), bool(sf.integer.any()))
        if out.x is None:
            return {"status": out.status}
        if out.status != "optimal":
            status = out.status
        unit = objective_unit_usd(ci)
        fam_cost = sum(float(sf.c[f.offset:f.offset + f.size] @ out.x[f.offset:f.offset + f.size])
                       for name, f in pm.builder.variables.items() if name in fix)
        investment = fam_cost * unit
        objective += out.objective * unit - investment
        part_summary = summarize(build_results(pm, out.x), ci, out.objective)
        for k in ADDITIVE:
            total[k] = total.get(k, 0.0) + part_summary[k]
        total["peak_facility_power_mw"] = max(total.get("peak_facility_power_mw", 0.0),
                                              part_summary["peak_facility_power_mw"])
        for k in INVESTMENT_COSTS:
            total[k] = part_summary[k]
        if time.perf_counter() - last >= 10.0 or i == len(chunks) - 1:
            last = time.perf_counter()
            log.info("verify: %d of %d chunks dispatched after %.0f s", i + 1, len(chunks), last - t0)
    cost = total_cost_usd(total)
    tokens = total["tokens_per_year"]
    return {**total, "status": status, "objective_usd_per_year": objective + investment, "cost_usd_per_year": cost,
            "cost_per_mtok_usd": cost / tokens * 1e6 if tokens > 0 else float("nan"),
            "solve_seconds": time.perf_counter() - t0}


def full_horizon_bound(inputs: xr.Dataset, sets: IndexSets, groups: int, opts: SolveOptions) -> float | None:
    """A proven lower bound (USD/year) on the optimum of the model of ``inputs``: the dual bound
    of its time-aggregation relaxation on ``groups`` groups of hours, the peak hour of total
    demand on its own, once it stalls (:func:`optimizer.fast.progress.stop_when_stalled`). None where the
    relaxation does not apply or finds no bound."""
    reason = unsupported(inputs, sets)
    if reason is not None:
        log.info("verify: no full-horizon bound (%s)", reason)
        return None
    pm, unit = relaxed_model(inputs, sets, cluster_steps(inputs, groups, np.array([peak_hour(inputs)])))
    sf = highs.compile_model(pm.pyomo)
    h = highs.to_highs(sf, opts.highs_options())
    stop_when_stalled(h, unit)  # the bound is all that is wanted here
    out = highs.run(h, True)
    return out.lower_bound * unit if np.isfinite(out.lower_bound) else None
