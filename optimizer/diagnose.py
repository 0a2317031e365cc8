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


def _grid_use_mw(ds: xr.Dataset) -> np.ndarray:
    """What counts against each site's grid limit, (site, time) MW: imports plus exports."""
    return (ds["grid_import_mw"] + ds["export_mw"]).values


def _binding_limits(pm: PlanningModel, ds: xr.Dataset, sites: np.ndarray, hours: np.ndarray) -> list[str]:
    """Limits that bind in the elastic plan at ``hours`` for ``sites``: grid limits, supply caps."""
    inp, st = pm.inputs, pm.sets
    out = []
    power = _grid_use_mw(ds)
    pue_max = inp["pue"].transpose("site", "time").values.max(axis=1)
    replica_mw = st.fleet_gpus_per_replica * inp["power_kw_per_gpu"].values[st.fleet_gpu] / 1000.0
    for i in sites:
        limit = float(inp["grid_limit_mw"].values[i])
        peak = float(power[i, hours].max()) if len(hours) else 0.0
        at_site = st.fleet_site == i
        one_more = float(replica_mw[at_site].min() * pue_max[i]) if at_site.any() else 0.0
        if limit > 0 and limit - peak < max(one_more, 1e-3 * limit):
            out.append(f"grid_limit_mw of {inp['site'].values[i]} ({limit:g} MW) leaves no room for another "
                       f"replica (peak draw {peak:.3g} MW)")
        elif limit == 0:
            out.append(f"{inp['site'].values[i]} has grid_limit_mw 0")
    gpus = ds["gpus"]
    for c in range(inp.sizes.get("cap", 0)):
        country = str(inp["cap_country"].values[c])
        types = [str(g) for g, on in zip(inp["gpu"].values, inp["cap_gpu"].values[c], strict=True) if on]
        held = float(gpus.where(ds["site_country"] == country, 0).sel(gpu=types).sum())
        cap = float(inp["cap_max_gpus"].values[c])
        if held >= cap - 1e-6 and any(str(inp["site_country"].values[i]) == country for i in sites):
            out.append(f"supply cap of {cap:,.0f} {'/'.join(types)} in {country} is used up")
    return out


def _hours_text(idx: np.ndarray, time: np.ndarray) -> str:
    if not len(idx):
        return "no hours"
    first = np.datetime_as_string(time[idx[0]], unit="h")
    return f"{len(idx)} of {len(time)} hours (first: {first.replace('T', ' ')}:00)"


def explain_infeasible(sc: Scenario, pm: PlanningModel, detail: bool = False) -> list[str]:
    """Re-solve with every demand allowed to go unserved at a high penalty (an elastic re-solve)
    and report what stays unserved (market, LLM, hours, share) and which limits bind there."""
    from optimizer.solve import SolveOptions, solve

    elastic = sc.model_copy(update={"unserved_penalty_usd_per_mtok": ELASTIC_PENALTY_USD_PER_MTOK,
                                    "markets": {k: v.model_copy(update={"unserved_penalty_usd_per_mtok": None})
                                                for k, v in sc.markets.items()}})
    plan = solve(elastic, SolveOptions(time_limit_s=60, mip_gap=1e-2), raise_on_failure=False)
    if plan.dataset is None:
        return ["no plan meets demand, and the elastic re-solve found no plan either"]
    ds = plan.dataset
    un = ds["unserved_tokens_per_s"]
    demand = pm.inputs["demand_output_tokens_per_s"].transpose("market", "llm", "time")
    time = pm.inputs["time"].values
    messages = []
    route_ok = policy.route_ok(pm.inputs)
    gpu_ok, runs = policy.gpu_allowed(pm.inputs), policy.runs_on(pm.inputs)
    lat = pm.inputs["latency_ms"].transpose("site", "market").values
    for m, l in zip(*np.nonzero(un.sum("time").values > 1e-6 * (demand.sum("time").values + 1)), strict=True):
        hours = np.flatnonzero(un.values[m, l] > 1e-6 * (demand.values[m, l] + 1))
        share = float(un.values[m, l].sum() / max(demand.values[m, l].sum(), 1e-12))
        sites = np.flatnonzero(route_ok[:, m, l])
        limits = _binding_limits(pm, ds, sites, hours)
        market, llm = pm.inputs["market"].values[m], pm.inputs["llm"].values[l]
        msg = (f"market {market}, llm {llm}: {share:.1%} of demand cannot be served in "
               f"{_hours_text(hours, time)}; ")
        msg += ("binding: " + "; ".join(limits)) if limits else (
            "sites in reach: " + (", ".join(f"{pm.inputs['site'].values[i]} {pm.inputs['grid_limit_mw'].values[i]:g} MW"
                                            for i in sites) or "none"))
        messages.append(msg)
        if detail:
            for i in sites:
                sid = pm.inputs["site"].values[i]
                allowed = [str(g) for g, ok in zip(pm.inputs["gpu"].values, gpu_ok[i] & runs[l], strict=True)
                           if ok]
                peak = float(_grid_use_mw(ds)[i].max())
                messages.append(f"    site {sid}: {lat[i, m]:g} ms, accelerators allowed for {llm}: "
                                f"{', '.join(allowed) or 'none'}; grid limit {pm.inputs['grid_limit_mw'].values[i]:g} MW, "
                                f"peak use {peak:.3g} MW in the elastic plan")
    return messages or ["no plan meets all limits at once (the elastic re-solve served all demand; "
                        "check integer replica sizes against grid limits)"]


def diagnose(sc: Scenario) -> list[str]:
    """A detailed explanation of why ``sc`` has no plan (empty when a plan exists)."""
    from optimizer.inputs import build_inputs
    from optimizer.model import build_model
    from optimizer.solve import SolveOptions, solve

    pm = build_model(build_inputs(sc))
    found = unservable_demand(pm)
    if found:
        return found
    plan = solve(sc, SolveOptions(time_limit_s=120), raise_on_failure=False)
    if plan.status != "infeasible":
        return []
    return explain_infeasible(sc, pm, detail=True)
