"""Turn a validated :class:`~optimizer.scenario.Scenario` into one xarray Dataset of parameters.

Dims: ``site``, ``gpu``, ``llm``, ``market``, ``time``, and ``deployment`` (the names of the ways an LLM is
served on an accelerator, :class:`~optimizer.scenario.schema.Throughput`). Every variable carries ``units`` and
``description`` attrs; missing combinations (no throughput, no latency entry) are NaN.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

from optimizer.catalogs import catalog, policies
from optimizer.catalogs.latency import latency_matrix
from optimizer.scenario.schema import Scenario, Series
from optimizer.technologies import TECHNOLOGIES

log = logging.getLogger(__name__)


def _series(v: Series, n: int) -> np.ndarray:
    return np.full(n, float(v)) if not isinstance(v, list) else np.asarray(v, dtype=float)


def build_inputs(sc: Scenario) -> xr.Dataset:
    """Parameters of the planning problem as one Dataset (units in attrs)."""
    sites, gpus, llms, markets = list(sc.sites), list(sc.gpus), list(sc.llms), list(sc.markets)
    n = sc.time.steps
    time = sc.time.index()
    ds = xr.Dataset(coords={"site": sites, "gpu": gpus, "llm": llms, "market": markets, "time": time})

    def add(name: str, dims: tuple[str, ...], values: object, units: str, description: str) -> None:
        ds[name] = (dims, np.asarray(values))
        ds[name].attrs.update(units=units, description=description)

    s_ = sc.sites.values()
    add("site_country", ("site",), [s.country for s in s_], "ISO 3166-1 alpha-2", "country of the site")
    add("grid_limit_mw", ("site",), [s.grid_limit_mw for s in s_], "MW", "most the facility may draw from the grid")
    add("build_cost_usd", ("site",), [s.build_cost_usd for s in s_], "USD", "one-off cost of opening the site")
    add("build_cost_usd_per_mw", ("site",), [s.build_cost_usd_per_mw for s in s_], "USD/MW",
        "facility cost per MW of installed IT capacity")
    add("site_lifetime_years", ("site",), [s.lifetime_years for s in s_], "years", "facility life")
    add("site_lat", ("site",), [np.nan if s.lat is None else s.lat for s in s_], "degrees_north", "latitude")
    add("site_lon", ("site",), [np.nan if s.lon is None else s.lon for s in s_], "degrees_east", "longitude")
    add("energy_price_usd_per_mwh", ("site", "time"), [_series(s.energy_price_usd_per_mwh, n) for s in s_],
        "USD/MWh", "grid energy price")
    add("carbon_kg_per_mwh", ("site", "time"), [_series(s.carbon_kg_per_mwh, n) for s in s_],
        "kg CO2/MWh", "grid carbon intensity")
    add("pue", ("site", "time"), [_series(s.pue, n) for s in s_], "1", "facility power / IT power")

    g_ = sc.gpus.values()
    add("gpus_per_node", ("gpu",), [g.gpus_per_node for g in g_], "GPU/node", "accelerators per node")
    add("capex_usd_per_gpu", ("gpu",), [g.capex_usd_per_gpu for g in g_], "USD/GPU", "all-in IT capex")
    add("gpu_lifetime_years", ("gpu",), [g.lifetime_years for g in g_], "years", "depreciation life")
    add("power_kw_per_gpu", ("gpu",), [g.power_kw_per_gpu for g in g_], "kW/GPU", "all-in IT draw at full load")
    add("idle_power_kw_per_gpu", ("gpu",), [g.idle_power_kw_per_gpu for g in g_], "kW/GPU",
        "all-in IT draw when idle")
    site_country = np.array([s.country for s in s_])
    rule_sets = [policies.load(p) for p in ([sc.policy] if isinstance(sc.policy, str) else sc.policy or [])]
    listed = np.stack([np.ones(len(sites), bool) if g.available_in is None else np.isin(site_country, g.available_in)
                       for g in g_], axis=1)
    denied = policies.denied_mask(rule_sets, site_country, np.array([s.state_funded for s in s_]), gpus,
                                  [g.made_in for g in g_])
    available = _available(sc, f"{time[0]:%Y-%m}")
    add("gpu_allowed", ("site", "gpu"), listed & ~denied & available[None, :], "bool",
        "accelerator may be installed at the site (available_in, available_from not after the first modelled "
        "month, and the policy rule sets)")
    caps = [(c.gpus, c.country, c.max_gpus) for c in sc.supply_caps]
    caps += [(c.gpus, c.country, c.max_gpus) for rs in rule_sets for c in rs.quantity_caps]
    caps = [c for c in caps if set(c[0]) & set(gpus) and c[1] in set(site_country)]
    ds = ds.assign_coords(cap=np.arange(len(caps)))
    add("cap_country", ("cap",), np.array([c[1] for c in caps], dtype=object).astype(str) if caps else np.array([], str),
        "ISO 3166-1 alpha-2", "country a supply cap applies to")
    add("cap_max_gpus", ("cap",), np.array([c[2] for c in caps], float), "GPU", "most GPUs of the cap's types")
    add("cap_gpu", ("cap", "gpu"), np.array([[g in c[0] for g in gpus] for c in caps], bool).reshape(len(caps), len(gpus)),
        "bool", "accelerator types a supply cap counts")

    l_ = sc.llms.values()
    add("input_per_output", ("llm",), [x.input_per_output for x in l_], "token/token",
        "input tokens per output token")
    add("max_rtt_ms", ("llm",), [np.nan if x.max_rtt_ms is None else x.max_rtt_ms for x in l_], "ms",
        "network round-trip limit (NaN = none)")

    add("cache_hit_share", ("llm",), [x.cache_hit_share for x in l_], "1",
        "share of input tokens served from the prefix cache (no prefill compute)")
    deployments = list(dict.fromkeys(d.name for x in l_ for ds_ in x.throughput.values() for d in ds_))
    ds = ds.assign_coords(deployment=deployments)
    shape = (len(llms), len(gpus), len(deployments))
    rate_out, rate_in, k = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    aggregated = np.zeros(shape, bool)
    gpn = {gid: g.gpus_per_node for gid, g in sc.gpus.items()}
    for i, x in enumerate(l_):
        for gid, entries in x.throughput.items():
            if gid not in gpn:
                continue
            j = gpus.index(gid)
            for d in entries:
                if d.output_tokens_per_s is None:
                    continue  # not estimable (reported when the scenario was read)
                q = deployments.index(d.name)
                rate_out[i, j, q], rate_in[i, j, q] = d.output_tokens_per_s, d.input_tokens_per_s
                k[i, j, q] = d.replica_gpus(gpn[gid])
                aggregated[i, j, q] = d.serving == "aggregated"
    dims = ("llm", "gpu", "deployment")
    add("output_tokens_per_s_per_gpu", dims, rate_out, "token/s/GPU",
        "output rate per decode GPU (aggregated: per GPU of the replica, prefill included)")
    add("input_tokens_per_s_per_gpu", dims, rate_in, "token/s/GPU",
        "prefill compute rate per prefill GPU (uncached input tokens)")
    add("gpus_per_replica", dims, k, "GPU", "accelerators bought per replica (decode and prefill pools)")
    add("aggregated", dims, aggregated, "bool", "prefill and decode on the same GPUs (chunked prefill)")

    m_ = sc.markets.values()
    add("market_country", ("market",), [m.country for m in m_], "ISO 3166-1 alpha-2", "country of the market")
    demand = np.zeros((len(markets), len(llms), n))
    for i, m in enumerate(m_):
        for lid, v in m.demand_output_tokens_per_s.items():
            demand[i, llms.index(lid)] = _series(v, n)
    add("demand_output_tokens_per_s", ("market", "llm", "time"), demand, "token/s", "mean output-token demand")
    default_pen = np.nan if sc.unserved_penalty_usd_per_mtok is None else sc.unserved_penalty_usd_per_mtok
    add("unserved_penalty_usd_per_mtok", ("market",),
        [default_pen if m.unserved_penalty_usd_per_mtok is None else m.unserved_penalty_usd_per_mtok for m in m_],
        "USD/Mtok", "penalty per million unserved tokens (NaN = demand must be served)")
    price = {k: np.full((len(markets), len(llms)), np.nan) for k in ("input", "cached_input", "output")}
    for i, m in enumerate(m_):
        for lid, p in m.price_usd_per_mtok.items():
            if lid in llms:
                j = llms.index(lid)
                price["input"][i, j], price["output"][i, j] = p.input, p.output
                price["cached_input"][i, j] = p.input if p.cached_input is None else p.cached_input
    for k, text in (("input", "input tokens that miss the prefix cache"), ("cached_input", "input tokens served "
                    "from the prefix cache"), ("output", "output tokens")):
        add(f"price_{k}_usd_per_mtok", ("market", "llm"), price[k], "USD/Mtok", f"list price of {text} (NaN: none)")
    served = np.ones((len(sites), len(markets)), bool)
    for j, m in enumerate(m_):
        if m.served_from is not None:
            served[:, j] = np.isin(site_country, m.served_from)
    add("route_allowed", ("site", "market"), served, "bool", "market may be served from the site (served_from)")

    lat = _derived_latency(sc)
    for sid, row in sc.latency_ms.items():
        for mid, ms in row.items():
            lat[sites.index(sid), markets.index(mid)] = ms
    add("latency_ms", ("site", "market"), lat, "ms",
        "network round-trip time: latency_ms entries, else derived from coordinates (NaN = no route)")

    add("weight_h", ("time",), sc.time.weights_h(), "h", "hours of the year each modelled hour stands for")
    add("day", ("time",), sc.time.day_of_step(), "1", "day number of each modelled hour (flexible work, storage)")
    _onsite(ds, sc, add, n)
    c = sc.carbon
    add("deferrable_share", ("llm",), [x.deferrable_share for x in l_], "1",
        "share of each day's demand that may move to any hour of the same day")
    add("cap_t_per_year_by_country", ("cap_country_carbon",), list(c.cap_t_per_year_by_country.values()),
        "t CO2/year", "annual emission caps by site country")
    ds = ds.assign_coords(cap_country_carbon=list(c.cap_t_per_year_by_country))
    ds.attrs.update(
        name=sc.name,
        time_weight_h=sc.time.weight_h,
        discount_rate=sc.finance.discount_rate,
        storage_cyclic="period" if sc.time.contiguous else "day",
        carbon_price_usd_per_t=c.price_usd_per_t,
        carbon_cap_t_per_year=np.nan if c.cap_t_per_year is None else c.cap_t_per_year,
        hourly_matching=c.hourly_matching,
    )
    return ds


def _available(sc: Scenario, first_month: str) -> np.ndarray:
    """(gpu,): the accelerator can be installed in the scenario's first modelled month (YYYY-MM): its
    ``available_from`` (data/gpus.csv: first shipments, or the announced date of roadmap parts) is not
    later. One warning per accelerator that is not yet available."""
    out = []
    for gid, g in sc.gpus.items():
        ok = g.available_from is None or g.available_from <= first_month
        if not ok:
            log.warning("gpus.%s: available from %s (available_from), after the scenario's first modelled month "
                        "%s; it is not installed", gid, g.available_from, first_month)
        out.append(ok)
    return np.array(out, bool)


def _onsite(ds: xr.Dataset, sc: Scenario, add: object, n: int) -> None:
    """On-site supply options by site (NaN where a site has none): each technology's, a battery's,
    the export price."""
    s_ = list(sc.sites.values())
    for tech in TECHNOLOGIES:
        kind = tech.kind
        gens = [getattr(s, kind) for s in s_]
        add(tech.capex, ("site",), [np.nan if g is None else g.capex_usd_per_mw for g in gens],
            "USD/MW", f"{kind} installed cost (NaN = no option)")
        add(tech.lifetime, ("site",), [np.nan if g is None else g.lifetime_years for g in gens],
            "years", f"{kind} life")
        add(tech.fixed_om, ("site",),
            [np.nan if g is None else g.fixed_om_usd_per_mw_year for g in gens], "USD/MW/year", f"{kind} fixed O&M")
        add(tech.max_mw, ("site",), [np.nan if g is None or g.max_mw is None else g.max_mw for g in gens],
            "MW", f"{kind} capacity limit (NaN = none)")
        add(tech.capacity_factor, ("site", "time"),
            [np.zeros(n) if g is None or g.capacity_factor is None else _series(g.capacity_factor, n) for g in gens],
            "1", f"{kind} output per MW installed")
    bats = [s.battery for s in s_]
    add("battery_capex_usd_per_mwh", ("site",), [np.nan if b is None else b.capex_usd_per_mwh for b in bats],
        "USD/MWh", "battery energy cost (NaN = no option)")
    add("battery_capex_usd_per_mw", ("site",), [np.nan if b is None else b.capex_usd_per_mw for b in bats],
        "USD/MW", "battery power cost")
    add("battery_lifetime_years", ("site",), [np.nan if b is None else b.lifetime_years for b in bats], "years",
        "battery life")
    add("battery_round_trip_efficiency", ("site",), [np.nan if b is None else b.round_trip_efficiency for b in bats],
        "1", "battery energy out / in")
    add("battery_max_mwh", ("site",), [np.nan if b is None or b.max_mwh is None else b.max_mwh for b in bats],
        "MWh", "battery energy limit (NaN = none)")
    add("export_price_usd_per_mwh", ("site", "time"),
        [np.full(n, np.nan) if s.export_price_usd_per_mwh is None else _series(s.export_price_usd_per_mwh, n)
         for s in s_], "USD/MWh", "price for exported on-site power (NaN = no export)")
    add("has_onsite", ("site",), [s.has_onsite for s in s_], "bool", "site may build on-site supply or storage")


def _derived_latency(sc: Scenario) -> np.ndarray:
    """RTT (site, market) from coordinates where both ends have them (optimizer.catalogs.latency), else NaN."""
    lat = np.full((len(sc.sites), len(sc.markets)), np.nan)
    s_ok = [k for k, s in sc.sites.items() if s.lat is not None and s.lon is not None]
    m_ok = [k for k, m in sc.markets.items() if m.lat is not None and m.lon is not None]
    if not s_ok or not m_ok:
        return lat
    sdf = pd.DataFrame({k: {"lat": sc.sites[k].lat, "lon": sc.sites[k].lon, "country": sc.sites[k].country}
                        for k in s_ok}).T
    mdf = pd.DataFrame({k: {"lat": sc.markets[k].lat, "lon": sc.markets[k].lon, "country": sc.markets[k].country}
                        for k in m_ok}).T
    sdf[["lat", "lon"]] = sdf[["lat", "lon"]].astype(float)
    mdf[["lat", "lon"]] = mdf[["lat", "lon"]].astype(float)
    rtt = latency_matrix(sdf, mdf, catalog.latency_overrides(), reference_markets=catalog.markets())
    si = [list(sc.sites).index(k) for k in s_ok]
    mi = [list(sc.markets).index(k) for k in m_ok]
    lat[np.ix_(si, mi)] = rtt.values
    return lat
