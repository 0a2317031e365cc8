"""Explain infeasible plans in the user's terms: which demand cannot be met, and which limit stops it.

Two kinds of problem, each explained by the limit that actually blocks it:

* **no route** (:func:`optimizer.unservable.unservable_demand`, checked before solving, no solve):
  demand that must be served has no site that may serve it (latency, data sovereignty,
  accelerators allowed, a grid limit too small for one idle replica).
* **capacity** (:func:`explain_infeasible`): an *elastic re-solve* lets every demand go unserved at
  a high penalty and reports what stays unserved. With carbon limits (``carbon.cap_t_per_year``,
  ``carbon.cap_t_per_year_by_country``, ``carbon.hourly_matching``), a second elastic re-solve
  without them tells whether they are the cause; for a cap that is, a *least-emissions solve*
  (:func:`least_emissions`: the model with the cap's row made the objective) gives a proven lower
  bound on the emissions of any plan that serves all demand. See docs/math.md, *Explaining
  infeasible scenarios*.

Above :mod:`optimizer.solve` (the re-solves go through :func:`optimizer.solve.solve_model`, which
explains nothing itself); :func:`optimizer.solve` passes :func:`explain_infeasible` down to it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import xarray as xr

from optimizer import highs
from optimizer.inputs import build_inputs
from optimizer.model import PlanningModel, build_model, policy
from optimizer.plan import SolveOptions
from optimizer.scenario import Scenario
from optimizer.solve import solve_model
from optimizer.technologies import TECHNOLOGIES
from optimizer.unservable import NEAREST, id_list, unservable_demand

ELASTIC_PENALTY_USD_PER_MTOK = 1e4
"""Penalty used in the elastic re-solve that locates unservable demand."""
ELASTIC_TIME_LIMIT_S = 60.0
"""Time limit of each elastic re-solve."""
ELASTIC_MIP_GAP = 1e-2
"""Relative MIP gap of each elastic re-solve."""
ELASTIC_NOISE = 2 * ELASTIC_MIP_GAP
"""Share of a demand's unserved volume within which two elastic re-solves count as equal (their
objectives are mostly the unserved penalty, each known within the MIP gap)."""
LEAST_EMISSIONS_TIME_LIMIT_S = 30.0
"""Time limit of each least-emissions solve (its proven bound is reported even if it stops early)."""
DIAGNOSE_TIME_LIMIT_S = 120.0
"""Time ``tokenomics diagnose`` gives HiGHS to find a first plan or prove there is none."""


def _tonnes(x: float) -> str:
    """Tonnes for a message: ``38,730``, ``623.2``, ``100``."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _floor(x: float, digits: int = 4) -> str:
    """``x`` rounded down to ``digits`` significant figures (so that "at least" stays true)."""
    if x <= 0 or not math.isfinite(x):
        return _tonnes(max(x, 0.0))
    step = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    text = f"{math.floor(x / step + 1e-9) * step:,.{max(0, -int(math.floor(math.log10(step))))}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --------------------------------------------------------------------------- capacity


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
    for c, held, cap, types in _supply_caps(inp, ds):
        if held >= cap - 1e-6 and any(str(inp["site_country"].values[i]) == c for i in sites):
            out.append(f"supply cap of {cap:,.0f} {'/'.join(types)} in {c} is used up")
    return out


def _supply_caps(inp: xr.Dataset, ds: xr.Dataset) -> list[tuple[str, float, float, list[str]]]:
    """(country, GPUs held in the plan, cap, GPU types) of each supply cap."""
    out = []
    for c in range(inp.sizes.get("cap", 0)):
        country = str(inp["cap_country"].values[c])
        types = [str(g) for g, on in zip(inp["gpu"].values, inp["cap_gpu"].values[c], strict=True) if on]
        held = float(ds["gpus"].where(ds["site_country"] == country, 0).sel(gpu=types).sum())
        out.append((country, held, float(inp["cap_max_gpus"].values[c]), types))
    return out


def _hours_text(idx: np.ndarray, time: np.ndarray) -> str:
    if not len(idx):
        return "no hours"
    first = np.datetime_as_string(time[idx[0]], unit="h")
    return f"{len(idx)} of {len(time)} hours (first: {first.replace('T', ' ')}:00)"


def _hour_ranges(idx: np.ndarray, time: np.ndarray, limit: int = 6) -> str:
    """``2025-01-01 00:00–05:00, 2025-01-01 18:00–23:00`` for runs of consecutive modelled hours."""
    def h(i: int) -> str:
        return np.datetime_as_string(time[i], unit="h").replace("T", " ") + ":00"

    runs = np.split(idx, np.flatnonzero(np.diff(idx) != 1) + 1) if len(idx) else []
    parts = [h(r[0]) if len(r) == 1 else f"{h(r[0])}–{h(r[-1])[-5:]}" if h(r[0])[:10] == h(r[-1])[:10]
             else f"{h(r[0])}–{h(r[-1])}" for r in runs[:limit]]
    return ", ".join(parts) + (f" and {len(runs) - limit} more runs" if len(runs) > limit else "")


def _without(sc: Scenario, caps: bool = False, hourly: bool = False, cap_key: str | None = None) -> Scenario:
    """``sc`` with carbon limits removed: all caps, the hourly matching target, or one cap
    (``cap_key``: ``"total"`` or a country)."""
    c = sc.carbon
    upd: dict[str, object] = {}
    if caps or cap_key == "total":
        upd["cap_t_per_year"] = None
    if caps:
        upd["cap_t_per_year_by_country"] = {}
    elif cap_key not in (None, "total"):
        upd["cap_t_per_year_by_country"] = {k: v for k, v in c.cap_t_per_year_by_country.items() if k != cap_key}
    if hourly:
        upd["hourly_matching"] = 0.0
    return sc.model_copy(update={"carbon": c.model_copy(update=upd)})


def _elastic_plan(sc: Scenario) -> xr.Dataset | None:
    """The elastic re-solve: every demand may go unserved at :data:`ELASTIC_PENALTY_USD_PER_MTOK`."""
    elastic = sc.model_copy(update={"unserved_penalty_usd_per_mtok": ELASTIC_PENALTY_USD_PER_MTOK,
                                    "markets": {k: v.model_copy(update={"unserved_penalty_usd_per_mtok": None})
                                                for k, v in sc.markets.items()}})
    return solve_model(elastic, SolveOptions(time_limit_s=ELASTIC_TIME_LIMIT_S, mip_gap=ELASTIC_MIP_GAP),
                       raise_on_failure=False).dataset


def least_emissions(sc: Scenario, cap_key: str) -> tuple[float, str] | None:
    """A proven lower bound (t CO2/year) on the emissions that one carbon cap counts, for any plan
    that serves all demand that must be served; with the status of the solve that gave it.

    The least-emissions solve: the model of ``sc`` with its other carbon limits (the other caps and
    hourly matching) removed, and this cap's row (``carbon_cap``, or the country's
    ``carbon_cap_country`` row; ``cap_key`` = ``"total"`` or the country) lifted and made the
    objective. Removing limits only lowers the least emissions, so the bound holds for plans under
    every limit of ``sc``. The solver's dual bound is reported, so an early stop still gives a true
    bound. None when the remaining limits leave no plan, or no bound was found."""
    c = sc.carbon
    only = {"cap_t_per_year": c.cap_t_per_year if cap_key == "total" else None, "hourly_matching": 0.0,
            "cap_t_per_year_by_country": {} if cap_key == "total" else {cap_key: c.cap_t_per_year_by_country[cap_key]}}
    pm = build_model(build_inputs(sc.model_copy(update={"carbon": c.model_copy(update=only)})))
    sf = highs.compile_model(pm.pyomo)
    rows = {name: start for name, start, _ in sf.row_names}
    name = "carbon_cap" if cap_key == "total" else "carbon_cap_country"
    if name not in rows:  # no site counts towards the cap
        return None
    r = rows[name]
    cost = np.asarray(sf.a[[r], :].todense()).ravel()
    upper = sf.row_upper.copy()
    upper[r] = highs.INF
    h = highs.to_highs(dataclasses.replace(sf, c=cost, c0=0.0, row_upper=upper),
                       {"time_limit": LEAST_EMISSIONS_TIME_LIMIT_S, "mip_rel_gap": 1e-4})
    out = highs.run(h, bool(sf.integer.any()))
    if out.status in ("infeasible", "unbounded"):
        return None
    bound = out.lower_bound if sf.integer.any() else (out.objective if out.status == "optimal" else float("nan"))
    return (float(bound), out.status) if math.isfinite(bound) else None


@dataclasses.dataclass
class _Carbon:
    """Carbon limits of a scenario and what is known about them in the elastic plans."""

    sc: Scenario
    pm: PlanningModel
    plan: xr.Dataset  # elastic plan with every limit
    free: xr.Dataset | None = None  # elastic plan without the carbon limits
    no_caps: xr.Dataset | None = None  # without the caps (hourly matching kept), when both kinds are set
    no_hourly: xr.Dataset | None = None  # without hourly matching (caps kept), when both kinds are set
    minimum: dict[str, tuple[float, str] | None] = dataclasses.field(default_factory=dict)

    @property
    def caps(self) -> dict[str, float]:
        c = self.sc.carbon
        out = {} if c.cap_t_per_year is None else {"total": float(c.cap_t_per_year)}
        out.update({k: float(v) for k, v in c.cap_t_per_year_by_country.items()})
        return out

    @property
    def hourly(self) -> float:
        return float(self.sc.carbon.hourly_matching)

    def any(self) -> bool:
        return bool(self.caps) or self.hourly > 0

    @staticmethod
    def field(key: str) -> str:
        return "carbon.cap_t_per_year" if key == "total" else f"carbon.cap_t_per_year_by_country.{key}"

    def emitted(self, ds: xr.Dataset, key: str) -> float:
        co2 = ds["co2_t_per_year"]
        return float(co2.sum() if key == "total" else co2.where(ds["site_country"] == key, 0).sum())

    def least(self, key: str) -> tuple[float, str] | None:
        if key not in self.minimum:
            self.minimum[key] = least_emissions(self.sc, key)
        return self.minimum[key]


def _unserved(ds: xr.Dataset | None, m: int, l: int) -> np.ndarray | None:
    return None if ds is None else ds["unserved_tokens_per_s"].transpose("market", "llm", "time").values[m, l]


def _carbon_causes(cb: _Carbon, m: int, l: int, sites: np.ndarray, hours: np.ndarray) -> list[str]:
    """Which carbon limits stop (market m, llm l) from being served, each with its value."""
    inp = cb.pm.inputs
    un0 = _unserved(cb.plan, m, l)
    tol = 1e-6 * (float(inp["demand_output_tokens_per_s"].transpose("market", "llm", "time").values[m, l].sum()) + 1)
    tol += ELASTIC_NOISE * float(un0.sum())
    caps_named, hourly_named = bool(cb.caps), cb.hourly > 0
    if cb.caps and cb.hourly > 0:  # both kinds set: which one's removal serves more
        caps_named = cb.no_caps is not None and un0.sum() - _unserved(cb.no_caps, m, l).sum() > tol
        hourly_named = cb.no_hourly is not None and un0.sum() - _unserved(cb.no_hourly, m, l).sum() > tol
        if not (caps_named or hourly_named):  # only together
            caps_named = hourly_named = True
    out = []
    if caps_named:
        country = inp["site_country"].values.astype(str)
        scope = [k for k in cb.caps if k == "total" or k in country[sites]]
        for k in scope or list(cb.caps):
            cap = cb.caps[k]
            where = "" if k == "total" else \
                f" at sites in {k} ({id_list(inp['site'], np.flatnonzero(country == k))})"
            least = cb.least(k)
            if least is not None and least[0] > cap * (1 + 1e-6) + 1e-6:
                out.append(f"{cb.field(k)} is {_tonnes(cap)} t/year, and any plan that serves all demand emits at least "
                           f"{_floor(least[0])} t/year{where}")
            else:
                out.append(f"{cb.field(k)} is {_tonnes(cap)} t/year (the elastic plan emits {_tonnes(cb.emitted(cb.plan, k))} "
                           f"t/year{where} under it)")
    if hourly_named:
        out.append(_hourly_cause(cb, sites, hours))
    return out


def _hourly_cause(cb: _Carbon, sites: np.ndarray, hours: np.ndarray) -> str:
    """``carbon.hourly_matching`` and, per site in reach, why its on-site supply cannot cover more."""
    inp, ds, h = cb.pm.inputs, cb.plan, cb.hourly
    head = f"carbon.hourly_matching is {h:g} ({h:.0%} of each hour's facility load from on-site solar, wind or battery)"
    parts = []
    grid_only = [str(inp["site"].values[i]) for i in sites if not bool(inp["has_onsite"].values[i])]
    if len(grid_only) == 1:
        parts.append(f"{grid_only[0]} has no on-site supply (sites.{grid_only[0]}.solar, wind and battery are "
                     "unset), so it may draw no power")
    elif grid_only:
        more = f" and {len(grid_only) - NEAREST} more" if len(grid_only) > NEAREST else ""
        parts.append(f"{', '.join(grid_only[:NEAREST])}{more} have no on-site supply (their solar, wind and battery "
                     "are unset), so they may draw no power")
    for i in sites:
        sid = str(inp["site"].values[i])
        if not bool(inp["has_onsite"].values[i]):
            continue
        opts = {**{t.kind: bool(np.isfinite(inp[t.capex].values[i])) for t in TECHNOLOGIES},
                "battery": bool(np.isfinite(inp["battery_capex_usd_per_mwh"].values[i]))}
        limits = []
        for k, built, lim, unit in (*((t.kind, t.result, t.max_mw, "MW") for t in TECHNOLOGIES),
                                    ("battery", "battery_mwh", "battery_max_mwh", "MWh")):
            cap = float(inp[lim].values[i])
            if opts[k] and math.isfinite(cap) and float(ds[built].values[i]) >= cap * (1 - 1e-4) - 1e-6:
                limits.append(f"sites.{sid}.{k}.{'max_mwh' if k == 'battery' else 'max_mw'}={cap:g} {unit} reached")
        if not opts["battery"] and not opts["wind"] and opts["solar"] and len(hours):
            dark = int((inp["solar_cf"].transpose("site", "time").values[i, hours] <= 0).sum())
            if dark:
                limits.append(f"solar only, no output in {dark} of the unserved hours and no battery (replicas "
                              "draw idle power in every hour)")
        absent = [k for k, on in opts.items() if not on]
        if absent and not limits:
            limits.append(f"no {' or '.join(absent)} option")
        parts.append(f"on-site supply at {sid}: {', '.join(limits) or 'built as the plan found cheapest'}")
    return head + ("; " + "; ".join(parts) if parts else "")


def _carbon_details(cb: _Carbon, m: int, l: int, sites: np.ndarray) -> list[str]:
    """Each carbon limit's value against what the elastic plans emitted or drew."""
    inp = cb.pm.inputs
    out = []
    country = inp["site_country"].values.astype(str)
    for k, cap in cb.caps.items():
        if k != "total" and k not in country[sites]:
            continue
        line = f"    {cb.field(k)}: {_tonnes(cap)} t/year; the elastic plan emits {_tonnes(cb.emitted(cb.plan, k))} t/year"
        if cb.free is not None:
            line += f"; without the carbon limits it emits {_tonnes(cb.emitted(cb.free, k))} t/year"
        least = cb.minimum.get(k)
        if least is not None:
            line += (f"; any plan serving all demand emits at least {_floor(least[0])} t/year "
                     f"(least-emissions solve, {least[1]})")
        out.append(line)
    if cb.hourly > 0:
        grid_only = [str(inp["site"].values[i]) for i in sites if not bool(inp["has_onsite"].values[i])]
        if grid_only:
            out.append(f"    carbon.hourly_matching {cb.hourly:g}: no on-site supply at {', '.join(grid_only)}")
        for i in sites:
            if not bool(inp["has_onsite"].values[i]):
                continue
            sid = str(inp["site"].values[i])
            peak = float(cb.plan["facility_power_mw"].values[i].max())
            free = "" if cb.free is None else \
                f" ({float(cb.free['facility_power_mw'].values[i].max()):.3g} MW without the carbon limits)"
            out.append(f"    carbon.hourly_matching {cb.hourly:g} at {sid}: on-site solar "
                       f"{float(cb.plan['solar_mw'].values[i]):.3g} MW, wind {float(cb.plan['wind_mw'].values[i]):.3g} MW, "
                       f"battery {float(cb.plan['battery_mwh'].values[i]):.3g} MWh built; peak facility power "
                       f"{peak:.3g} MW in the elastic plan{free}")
    return out


def explain_infeasible(sc: Scenario, pm: PlanningModel, detail: bool = False) -> list[str]:
    """Re-solve with every demand allowed to go unserved at a high penalty (an elastic re-solve)
    and report what stays unserved (market, LLM, hours, share) and which limits stop it: the carbon
    limits (tested by an elastic re-solve without them), grid limits and supply caps."""
    ds = _elastic_plan(sc)
    if ds is None:
        return ["no plan meets demand, and the elastic re-solve found no plan either"]
    inp = pm.inputs
    un = ds["unserved_tokens_per_s"].transpose("market", "llm", "time")
    demand = inp["demand_output_tokens_per_s"].transpose("market", "llm", "time")
    time = inp["time"].values
    required = ~np.isfinite(inp["unserved_penalty_usd_per_mtok"].values)[:, None]  # demand that must be served
    short = list(zip(*np.nonzero(required & (un.sum("time").values > 1e-6 * (demand.sum("time").values + 1))),
                     strict=True))
    cb = _Carbon(sc, pm, ds)
    if short and cb.any():
        cb.free = _elastic_plan(_without(sc, caps=True, hourly=True))
        if cb.caps and cb.hourly > 0:
            cb.no_caps = _elastic_plan(_without(sc, caps=True))
            cb.no_hourly = _elastic_plan(_without(sc, hourly=True))
    messages = []
    route_ok = policy.route_ok(inp)
    gpu_ok, runs = policy.gpu_allowed(inp), policy.runs_on(inp)
    lat = inp["latency_ms"].transpose("site", "market").values
    for m, l in short:
        dem = demand.values[m, l]
        tol = 1e-6 * (dem + 1)
        hours = np.flatnonzero(un.values[m, l] > tol)
        share = float(un.values[m, l].sum() / max(dem.sum(), 1e-12))
        sites = np.flatnonzero(route_ok[:, m, l] & (gpu_ok & runs[l][None, :]).any(axis=1))
        sites = sites[np.argsort(lat[sites, m], kind="stable")]  # the nearest first
        market, llm = inp["market"].values[m], inp["llm"].values[l]
        msg = (f"market {market}, llm {llm}: {share:.1%} of demand cannot be served in "
               f"{_hours_text(hours, time)}; ")
        causes: list[str] = []
        rest, plan_rest = un.values[m, l], ds
        un_free = _unserved(cb.free, m, l)
        gained = 0.0 if un_free is None else float(un.values[m, l].sum() - un_free.sum())
        if gained > tol.sum() + ELASTIC_NOISE * un.values[m, l].sum():  # the carbon limits keep demand unserved
            causes += _carbon_causes(cb, m, l, sites, hours)
            rest, plan_rest = un_free, cb.free
        elif un_free is None and cb.any():  # the re-solve without them failed: name the carbon limits that bind
            causes += _carbon_causes(cb, m, l, sites, hours)
        rest_hours = np.flatnonzero(rest > tol)
        if len(rest_hours):
            limits = _binding_limits(pm, plan_rest, sites, rest_hours)
            if limits:
                causes.append("binding: " + "; ".join(limits))
            elif not causes:
                causes.append("sites in reach: " + (", ".join(
                    f"{inp['site'].values[i]} {inp['grid_limit_mw'].values[i]:g} MW" for i in sites) or "none"))
            if plan_rest is cb.free:
                causes.append(f"without the carbon limits {float(rest.sum() / max(dem.sum(), 1e-12)):.1%} "
                              "would still go unserved")
        elif plan_rest is cb.free:
            causes.append("without the carbon limits all of it can be served")
        messages.append(msg + "; ".join(causes))
        if detail:
            messages.append(f"    hours unserved: {_hour_ranges(hours, time)}")
            messages.extend(_carbon_details(cb, m, l, sites))
            for c, held, cap, types in _supply_caps(inp, ds):
                if c in inp["site_country"].values.astype(str)[sites]:
                    messages.append(f"    supply cap {cap:,.0f} {'/'.join(types)} in {c}: the elastic plan holds "
                                    f"{held:,.0f}")
            for i in sites:
                sid = inp["site"].values[i]
                allowed = [str(g) for g, ok in zip(inp["gpu"].values, gpu_ok[i] & runs[l], strict=True) if ok]
                peak = float(_grid_use_mw(ds)[i].max())
                free = "" if cb.free is None else \
                    f" ({float(_grid_use_mw(cb.free)[i].max()):.3g} MW without the carbon limits)"
                messages.append(f"    site {sid}: {lat[i, m]:g} ms, accelerators allowed for {llm}: "
                                f"{', '.join(allowed) or 'none'}; grid limit {inp['grid_limit_mw'].values[i]:g} MW, "
                                f"peak use {peak:.3g} MW in the elastic plan{free}")
    return messages or ["no plan meets all limits at once (the elastic re-solve served all demand; "
                        "check integer replica sizes against grid limits)"]


def diagnose(sc: Scenario) -> list[str] | None:
    """A detailed explanation of why ``sc`` has no plan: the lines :func:`optimizer.solve`
    gives, each followed by indented detail lines; empty when a plan exists, None when HiGHS
    neither found a plan nor proved that none exists within its time limit."""
    pm = build_model(build_inputs(sc))
    found = unservable_demand(pm, sc, detail=True)
    if found:
        return found
    sf = highs.compile_model(pm.pyomo)  # is there a plan? the first one found settles it
    out = highs.run(highs.to_highs(sf, {"time_limit": DIAGNOSE_TIME_LIMIT_S, "mip_max_improving_sols": 1}), bool(sf.integer.any()))
    if out.x is not None:
        return []
    if out.status != "infeasible":
        return None
    return explain_infeasible(sc, pm, detail=True)
