"""Demand that has no route at all, explained by the check that blocks it; checked before solving.

Demand that must be served (no unserved penalty) for which no site may serve it: the checks are
taken one at a time, per site: latency (``llms.<id>.max_rtt_ms``), data sovereignty
(``markets.<id>.served_from``), accelerators (``gpus.<id>.available_in`` or a ``policy`` rule set,
named with the country it forbids), and a grid limit too small for one idle replica. No solve: the
checks are those that decide which routes exist (:mod:`optimizer.model.sets`), so
:func:`optimizer.solve.solve_model` reports such demand before HiGHS runs, and
:func:`optimizer.diagnose.diagnose` adds a detail line per site.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import xarray as xr

from optimizer.model import PlanningModel, policy
from optimizer.model.sets import replicas_within_grid
from optimizer.scenario import Scenario

NEAREST = 3
"""Sites named in a one-line message (the nearest first)."""
DETAIL_SITES = 5
"""Sites given a detail line each in ``tokenomics diagnose`` (the nearest first)."""



def id_list(coord: xr.DataArray, idx: np.ndarray) -> str:
    """``a, b, c``: the ids of ``coord`` at ``idx`` (``none`` when empty)."""
    return ", ".join(str(v) for v in coord.values[idx]) or "none"


def _countries(values: list[str] | np.ndarray) -> str:
    return "[" + ", ".join(sorted({str(v) for v in values})) + "]"


def _gpu_blocks(sc: Scenario | None, site: str, gpu: str, short: bool = False) -> list[str]:
    """Why ``gpu`` may not be installed at ``site``: its ``available_in``, or a rule of a policy rule
    set (``short``: without the GPU, the country and the rule set's title)."""
    if sc is None:
        return ["available_in or the policy" if short else "available_in or the policy forbids it there"]
    from optimizer.catalogs import policies

    s, g = sc.sites[site], sc.gpus[gpu]
    out = []
    if g.available_in is not None and s.country not in g.available_in:
        out.append("available_in" if short else f"gpus.{gpu}.available_in is {_countries(g.available_in)}")
    for pid in [sc.policy] if isinstance(sc.policy, str) else sc.policy or []:
        rs = policies.load(pid)
        for r in rs.rules:
            one = dataclasses.replace(rs, rules=(r,))
            if policies.denied_mask([one], np.array([s.country]), np.array([s.state_funded]), [gpu], [g.made_in])[0, 0]:
                what = gpu if (gpu in r.gpus or "*" in r.gpus) else f"{gpu} (made in {g.made_in}, not {s.country})"
                where = " at state-funded sites" if r.sites == "state_funded" else ""
                out.append(f"policy rule set {rs.id}" if short else
                           f"policy rule set {rs.id} ({rs.name}) denies {what} in {s.country}{where}")
                break
    return out or ["available_in or the policy forbids it there"]


def smallest_replica_gpus(inp: xr.Dataset) -> np.ndarray:
    """(llm, gpu): GPUs of the smallest replica of any deployment with a throughput (NaN: none)."""
    k = inp["gpus_per_replica"].transpose("llm", "gpu", "deployment").values
    k = np.where(policy.deployable(inp), k, np.inf).min(axis=2, initial=np.inf)
    return np.where(np.isfinite(k), k, np.nan)


def _replica_fits(inp: xr.Dataset, l: int) -> np.ndarray:
    """(site, gpu): one idle replica of llm ``l`` on the accelerator fits the site's grid limit (the
    rule the fleet set uses, :func:`optimizer.model.sets.replicas_within_grid`)."""
    k = np.nan_to_num(smallest_replica_gpus(inp)[l])
    site, gpu = np.arange(inp.sizes["site"])[:, None], np.arange(inp.sizes["gpu"])[None, :]
    return replicas_within_grid(inp, site, gpu, k[None, :]) >= 1


def _site_list(inp: xr.Dataset, idx: np.ndarray, lat: np.ndarray, limit: int = NEAREST) -> str:
    """``texas (US) 45 ms, …`` for sites ``idx``, the nearest first, at most ``limit`` named."""
    idx = idx[np.argsort(lat[idx], kind="stable")]
    names = [f"{inp['site'].values[i]} ({inp['site_country'].values[i]}) {lat[i]:g} ms" for i in idx[:limit]]
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return ", ".join(names) + more


def unservable_demand(pm: PlanningModel, sc: Scenario | None = None, detail: bool = False) -> list[str]:
    """Demand (market, LLM) that must be served but has no route at all, with the check that blocks it.

    No solve: the checks are those that decide which routes exist (see :mod:`optimizer.model.sets`).
    With the scenario ``sc`` the accelerator check names ``available_in`` or the policy rule set;
    ``detail`` adds an indented line per listed site (the nearest :data:`DETAIL_SITES`).
    """
    inp, s = pm.inputs, pm.sets
    penalty = inp["unserved_penalty_usd_per_mtok"].values
    served = np.zeros(s.demanded.shape, bool)
    served[s.route_market, s.route_llm] = True
    problems = []
    lat = inp["latency_ms"].transpose("site", "market").values
    allowed = policy.gpu_allowed(inp)
    runs = policy.runs_on(inp)
    sov = inp["route_allowed"].transpose("site", "market").values.astype(bool)
    country = inp["site_country"].values.astype(str)
    site = inp["site"].values
    for m, l in zip(*np.nonzero(s.demanded & ~served & ~np.isfinite(penalty)[:, None]), strict=True):
        market, llm = str(inp["market"].values[m]), str(inp["llm"].values[l])
        ms = lat[:, m]
        listed = np.isfinite(ms)
        rtt = float(inp["max_rtt_ms"].values[l])
        near = listed & (np.nan_to_num(ms, nan=np.inf) <= rtt if math.isfinite(rtt) else True)
        gpu_ok = (allowed & runs[l][None, :]).any(axis=1)
        rtt_field = f"llms.{llm}.max_rtt_ms={rtt:g} ms"
        sf_field = f"markets.{market}.served_from"
        sf_list = (sc.markets[market].served_from if sc is not None else None) or sorted(set(country[sov[:, m]]))
        if not runs[l].any():
            why = f"no accelerator has a throughput for {llm} (llms.{llm}.throughput is empty)"
        elif not listed.any():
            why = (f"latency_ms lists no site for market {market} (and no site and the market both have "
                   "coordinates to derive one)")
        elif not near.any():
            why = f"no site is within {rtt_field} of {market}: nearest {_site_list(inp, np.flatnonzero(listed), ms)}"
            if not sov[listed, m].any():
                why += f"; {sf_field} {_countries(sf_list)} also excludes every one of them"
        elif not (near & sov[:, m]).any():
            within = f"within {rtt_field}" if math.isfinite(rtt) else "with a latency entry"
            why = (f"{sf_field} allows only {_countries(sf_list)}; the sites {within} of {market} are in other "
                   f"countries: {_site_list(inp, np.flatnonzero(near), ms)}")
            far = listed & ~near & sov[:, m]
            if far.any():
                why += f"; the sites in {_countries(sf_list)} are beyond max_rtt_ms: {_site_list(inp, np.flatnonzero(far), ms)}"
            elif math.isfinite(rtt):
                why += f"; no site with a latency entry is in {_countries(sf_list)}"
        elif not (near & sov[:, m] & gpu_ok).any():
            reach = np.flatnonzero(near & sov[:, m])
            reasons: dict[str, list[str]] = {}
            for i in reach[np.argsort(ms[reach], kind="stable")]:
                for g in np.flatnonzero(runs[l]):
                    for r in _gpu_blocks(sc, str(site[i]), str(inp["gpu"].values[g])):
                        reasons.setdefault(r, []).append(f"{site[i]} ({country[i]})")
            why = (f"no site within reach ({id_list(inp['site'], reach)}) may install an accelerator that runs "
                   f"{llm} ({id_list(inp['gpu'], np.flatnonzero(runs[l]))}): "
                   + "; ".join(f"{r}: {', '.join(v[:NEAREST])}{f' and {len(v) - NEAREST} more' if len(v) > NEAREST else ''}"
                               for r, v in reasons.items()))
        else:
            reach = np.flatnonzero(near & sov[:, m] & gpu_ok)
            limits = ", ".join(f"{site[i]} {inp['grid_limit_mw'].values[i]:g} MW" for i in reach)
            k = smallest_replica_gpus(inp)[l]
            pue = inp["pue"].transpose("site", "time").values.min(axis=1)
            need = min(float(pue[i] * k[g] * inp["idle_power_kw_per_gpu"].values[g] / 1000.0)
                       for i in reach for g in np.flatnonzero(allowed[i] & runs[l]))
            why = (f"the grid_limit_mw of the sites within reach ({limits}) "
                   f"cannot power even one idle replica of an accelerator that runs {llm} "
                   f"(the smallest needs {need:.3g} MW with PUE)")
        problems.append(f"market {market}, llm {llm}: demand cannot be served: {why}")
        if detail:
            problems.extend(_route_details(inp, m, l, near, sov[:, m], allowed & runs[l][None, :], rtt, sf_field, sc))
    return problems


def _route_details(inp: xr.Dataset, m: int, l: int, near: np.ndarray, sov: np.ndarray, ok_gpu: np.ndarray,
                   rtt: float, sf_field: str, sc: Scenario | None) -> list[str]:
    """One line per listed site (nearest first): latency against the limit, country against
    ``served_from``, accelerators allowed for the LLM, grid limit."""
    ms = inp["latency_ms"].transpose("site", "market").values[:, m]
    listed = np.flatnonzero(np.isfinite(ms))
    if not len(listed):
        return [f"    no site has a latency to {inp['market'].values[m]} (latency_ms, or coordinates)"]
    llm = inp["llm"].values[l]
    runs = policy.runs_on(inp)[l]
    fits = _replica_fits(inp, l)
    out = []
    for i in listed[np.argsort(ms[listed], kind="stable")][:DETAIL_SITES]:
        sid, c = str(inp["site"].values[i]), str(inp["site_country"].values[i])
        lat_txt = (f"{ms[i]:g} ms ({'within' if near[i] else 'above'} llms.{llm}.max_rtt_ms={rtt:g} ms)"
                   if math.isfinite(rtt) else f"{ms[i]:g} ms (no latency limit)")
        gpus = [str(g) for g, ok in zip(inp["gpu"].values, ok_gpu[i], strict=True) if ok]
        by_reason: dict[str, list[str]] = {}
        for g in np.flatnonzero(runs & ~ok_gpu[i]):
            gid = str(inp["gpu"].values[g])
            by_reason.setdefault(" and ".join(_gpu_blocks(sc, sid, gid, short=True)), []).append(gid)
        blocked = [f"{', '.join(v)} by {r}" for r, v in by_reason.items()]
        line = (f"    site {sid}: {lat_txt}; in {c} ({'allowed' if sov[i] else 'excluded'} by {sf_field}); "
                f"accelerators allowed for {llm}: {', '.join(gpus) or 'none'}"
                + (f" (not allowed: {'; '.join(blocked)})" if blocked else "")
                + f"; grid limit {inp['grid_limit_mw'].values[i]:g} MW")
        if gpus and not (fits[i] & ok_gpu[i]).any():
            line += " (too small for one idle replica)"
        out.append(line)
    if len(listed) > DETAIL_SITES:
        out.append(f"    … and {len(listed) - DETAIL_SITES} more sites with a latency to {inp['market'].values[m]}")
    return out
