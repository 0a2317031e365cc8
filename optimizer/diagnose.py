"""Explain infeasible plans in the user's terms: which demand cannot be met, and which limit stops it."""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.model import PlanningModel, policy
from optimizer.scenario import Scenario

ELASTIC_PENALTY_USD_PER_MTOK = 1e4
"""Penalty used in the elastic re-solve that locates unservable demand."""


def _names(coord: xr.DataArray, idx: np.ndarray) -> str:
    return ", ".join(str(v) for v in coord.values[idx]) or "none"


def unservable_demand(pm: PlanningModel) -> list[str]:
    """Demand (market, LLM) that must be served but has no route at all, with the reason."""
    inp, s = pm.inputs, pm.sets
    penalty = inp["unserved_penalty_usd_per_mtok"].values
    served = np.zeros(s.demanded.shape, bool)
    served[s.route_market, s.route_llm] = True
    problems = []
    lat = inp["latency_ms"].transpose("site", "market").values
    allowed = policy.gpu_allowed(inp)
    runs = policy.runs_on(inp)
    route_ok = policy.route_ok(inp)
    for m, l in zip(*np.nonzero(s.demanded & ~served & ~np.isfinite(penalty)[:, None]), strict=True):
        market, llm = str(inp["market"].values[m]), str(inp["llm"].values[l])
        listed = np.isfinite(lat[:, m])
        reach = route_ok[:, m, l]
        rtt = inp["max_rtt_ms"].values[l]
        if not runs[l].any():
            why = f"no accelerator has a throughput for {llm} (llms.{llm}.throughput is empty)"
        elif not listed.any():
            why = f"latency_ms lists no site for market {market}"
        elif not reach.any():
            why = (f"no site is within max_rtt_ms={rtt:g} ms of {market} and allowed by its served_from "
                   f"(listed sites: {_names(inp['site'], np.flatnonzero(listed))})")
        elif not (allowed[reach][:, runs[l]]).any():
            why = (f"no site within reach ({_names(inp['site'], np.flatnonzero(reach))}) may install an accelerator "
                   f"that runs {llm} ({_names(inp['gpu'], np.flatnonzero(runs[l]))}): available_in or the policy "
                   "forbids them there")
        else:
            why = (f"the grid_limit_mw of the sites within reach ({_names(inp['site'], np.flatnonzero(reach))}) "
                   f"cannot power even one idle replica of an accelerator that runs {llm}")
        problems.append(f"market {market}, llm {llm}: demand cannot be served: {why}")
    return problems


def explain_infeasible(sc: Scenario, pm: PlanningModel) -> list[str]:
    """Re-solve with every demand allowed to go unserved at a high penalty and report what stays
    unserved (market, LLM, hours, share), with the grid limits of the sites that could serve it."""
    from optimizer.solve import SolveOptions, solve

    elastic = sc.model_copy(update={"unserved_penalty_usd_per_mtok": ELASTIC_PENALTY_USD_PER_MTOK,
                                    "markets": {k: v.model_copy(update={"unserved_penalty_usd_per_mtok": None})
                                                for k, v in sc.markets.items()}})
    plan = solve(elastic, SolveOptions(time_limit_s=60, mip_gap=1e-2), raise_on_failure=False)
    if plan.dataset is None:
        return ["no plan meets demand, and the elastic re-solve found no plan either"]
    un = plan.dataset["unserved_tokens_per_s"]
    demand = pm.inputs["demand_output_tokens_per_s"]
    messages = []
    route_ok = policy.route_ok(pm.inputs)
    for m, l in zip(*np.nonzero(un.sum("time").values > 1e-6 * (demand.sum("time").values + 1)), strict=True):
        hours = np.flatnonzero(un.values[m, l] > 1e-6 * (demand.values[m, l] + 1))
        share = float(un.values[m, l].sum() / max(demand.values[m, l].sum(), 1e-12))
        sites = np.flatnonzero(route_ok[:, m, l])
        limits = ", ".join(f"{pm.inputs['site'].values[i]} {pm.inputs['grid_limit_mw'].values[i]:g} MW" for i in sites)
        messages.append(
            f"market {pm.inputs['market'].values[m]}, llm {pm.inputs['llm'].values[l]}: {share:.1%} of demand "
            f"cannot be served in {len(hours)} of {un.sizes['time']} hours (first: hour {hours[0]}); "
            f"sites in reach and their grid limits: {limits or 'none'}"
        )
    return messages or ["no plan meets all limits at once (the elastic re-solve served all demand; "
                        "check integer replica sizes against grid limits)"]

