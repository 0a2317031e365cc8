"""Results: one xarray Dataset with named dims and units, plus a tidy summary dict."""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.finance import crf
from optimizer.model import PlanningModel
from optimizer.model.objective import gpu_crf, objective_unit_usd, site_crf
from optimizer.model.power import battery_export_sites, floored_cf
from optimizer.model.sets import MTOK

FLOW_TOL_MTOK = 1e-9
"""Flows below this (million tokens/s, i.e. 0.001 token/s) are solver noise, reported as zero."""


def _clean(v: np.ndarray) -> np.ndarray:
    return np.where(v < FLOW_TOL_MTOK, 0.0, v)


def _scatter(shape: tuple[int, ...], index: tuple[np.ndarray, ...], values: np.ndarray) -> np.ndarray:
    out = np.zeros(shape)
    np.add.at(out, index, values)
    return out


def _attrs(da: xr.DataArray, units: str, description: str) -> xr.DataArray:
    da.attrs.update(units=units, description=description)
    return da


def build_results(pm: PlanningModel, x: np.ndarray) -> xr.Dataset:
    """Dense result arrays over ``site``, ``gpu``, ``llm``, ``market``, ``time`` from a solution."""
    inp, s, b = pm.inputs, pm.sets, pm.builder
    nt = s.n_time
    ns, ng, nl, nm = (inp.sizes[d] for d in ("site", "gpu", "llm", "market"))

    def val(name: str) -> np.ndarray:
        fam = b.variables[name]
        return x[fam.offset:fam.offset + fam.size]

    open_site = np.round(val("open_site"))
    replicas = np.round(val("replicas"))
    prod = _clean(val("production")).reshape(s.n_fleet, nt) * MTOK
    deliv = _clean(val("delivery")).reshape(s.n_route, nt) * MTOK
    unserved = _clean(val("unserved")).reshape(s.n_unmet, nt) * MTOK
    power = np.zeros((ns, nt))
    power[s.active_site] = val("facility_power").reshape(len(s.active_site), nt)

    fs, fg, fl = s.fleet_site, s.fleet_gpu, s.fleet_llm
    busy = prod / MTOK * s.fleet_busy_gpus_per_mtok[:, None]
    idle = inp["idle_power_kw_per_gpu"].values[fg]
    full = inp["power_kw_per_gpu"].values[fg]
    it_kw = idle[:, None] * (replicas * s.fleet_gpus_per_replica)[:, None] + (full - idle)[:, None] * busy
    weight = inp["weight_h"].values  # hours of the year per modelled hour
    price = inp["energy_price_usd_per_mwh"].transpose("site", "time").values
    carbon = inp["carbon_kg_per_mwh"].transpose("site", "time").values
    grid = power.copy()  # grid draw: facility power, or grid imports at sites with on-site supply
    onsite = {name: np.zeros((ns, nt)) for name in ("battery_charge", "battery_discharge", "battery_soc",
                                                    "curtailment", "export")}
    caps = {name: np.zeros(ns) for name in ("solar_capacity", "wind_capacity", "battery_energy", "battery_power")}
    o = s.onsite_site
    if len(o):
        grid[o] = val("grid_import").reshape(len(o), nt)
        for name in onsite:
            onsite[name][o] = val(name).reshape(len(o), nt)
        for name in caps:
            caps[name][o] = val(name)
    pool = battery_export_sites(inp, s)
    for name in ("battery_charge_onsite", "battery_discharge_onsite", "battery_soc_onsite"):
        onsite[name] = np.zeros((ns, nt))
        if len(pool):
            onsite[name][pool] = val(name).reshape(len(pool), nt)

    ds = xr.Dataset(coords={d: inp.coords[d] for d in ("site", "gpu", "llm", "market", "time")})
    ds = ds.assign_coords(
        site_country=("site", inp["site_country"].values.astype(str)),
        market_country=("market", inp["market_country"].values.astype(str)),
        site_lat=("site", inp["site_lat"].values), site_lon=("site", inp["site_lon"].values),
    )
    for name in ("input_per_output", "energy_price_usd_per_mwh", "carbon_kg_per_mwh", "demand_output_tokens_per_s"):
        ds[name] = inp[name].copy()
    ds["open"] = _attrs(xr.DataArray(open_site.astype(bool), dims="site"), "1", "site is built")
    ds["replicas"] = _attrs(
        xr.DataArray(_scatter((ns, ng, nl), (fs, fg, fl), replicas), dims=("site", "gpu", "llm")),
        "replica", "serving replicas (one LLM each)")
    gpus_sgl = _scatter((ns, ng, nl), (fs, fg, fl), replicas * s.fleet_gpus_per_replica)
    ds["gpus"] = _attrs(xr.DataArray(gpus_sgl.sum(axis=2), dims=("site", "gpu")), "GPU", "installed accelerators")
    ds["production_tokens_per_s"] = _attrs(
        xr.DataArray(_scatter((ns, ng, nl, nt), (fs, fg, fl), prod), dims=("site", "gpu", "llm", "time")),
        "token/s", "output tokens produced")
    ds["busy_gpus"] = _attrs(
        xr.DataArray(_scatter((ns, ng, nl, nt), (fs, fg, fl), busy), dims=("site", "gpu", "llm", "time")),
        "GPU", "GPUs busy serving")
    ds["delivered_tokens_per_s"] = _attrs(
        xr.DataArray(_scatter((ns, nm, nl, nt), (s.route_site, s.route_market, s.route_llm), deliv),
                     dims=("site", "market", "llm", "time")),
        "token/s", "output tokens delivered from site to market")
    ds["unserved_tokens_per_s"] = _attrs(
        xr.DataArray(_scatter((nm, nl, nt), (s.unmet_market, s.unmet_llm), unserved), dims=("market", "llm", "time")),
        "token/s", "output-token demand not served")
    ds["it_power_mw"] = _attrs(
        xr.DataArray(_scatter((ns, nt), (fs,), it_kw / 1000.0), dims=("site", "time")), "MW", "IT power")
    ds["facility_power_mw"] = _attrs(xr.DataArray(power, dims=("site", "time")), "MW",
                                     "facility power: PUE times IT power")
    ds["grid_import_mw"] = _attrs(xr.DataArray(np.clip(grid, 0, None), dims=("site", "time")), "MW",
                                  "power drawn from the grid")
    ds["energy_cost_usd_per_year"] = _attrs(
        xr.DataArray((grid * price * weight).sum(axis=1), dims="site"), "USD/year", "grid energy cost")
    ds["co2_t_per_year"] = _attrs(
        xr.DataArray((grid * carbon * weight).sum(axis=1) / 1000.0, dims="site"), "t CO2/year",
        "location-based emissions of grid imports")
    cp = float(inp.attrs.get("carbon_price_usd_per_t", 0.0))
    ds["carbon_cost_usd_per_year"] = _attrs(ds["co2_t_per_year"] * cp, "USD/year", "carbon price times emissions")
    units = {"solar_capacity": ("solar_mw", "MW", "on-site solar PV built"),
             "wind_capacity": ("wind_mw", "MW", "on-site wind built"),
             "battery_energy": ("battery_mwh", "MWh", "battery energy capacity"),
             "battery_power": ("battery_mw", "MW", "battery power capacity")}
    for name, (out, unit, desc) in units.items():
        ds[out] = _attrs(xr.DataArray(caps[name], dims="site"), unit, desc)
    series = {"battery_charge": ("battery_charge_mw", "MW"), "battery_discharge": ("battery_discharge_mw", "MW"),
              "battery_soc": ("battery_soc_mwh", "MWh"), "curtailment": ("curtailed_mw", "MW"),
              "export": ("export_mw", "MW"), "battery_charge_onsite": ("battery_charge_onsite_mw", "MW"),
              "battery_discharge_onsite": ("battery_discharge_onsite_mw", "MW"),
              "battery_soc_onsite": ("battery_soc_onsite_mwh", "MWh")}
    for name, (out, unit) in series.items():
        desc = name.replace("_onsite", " of on-site-generated energy (sites whose battery may feed exports)")
        ds[out] = _attrs(xr.DataArray(onsite[name], dims=("site", "time")), unit, desc.replace("_", " "))

    ds["solar_generation_mw"] = _attrs(ds["solar_mw"] * xr.apply_ufunc(floored_cf, inp["solar_cf"]),
                                       "MW", "on-site solar output")
    ds["wind_generation_mw"] = _attrs(ds["wind_mw"] * xr.apply_ufunc(floored_cf, inp["wind_cf"]),
                                      "MW", "on-site wind output")
    rate = inp.attrs["discount_rate"]
    ann = np.zeros(ns)
    for kind in ("solar", "wind"):
        capex = np.nan_to_num(inp[f"{kind}_capex_usd_per_mw"].values)
        life = np.nan_to_num(inp[f"{kind}_lifetime_years"].values, nan=1.0)
        om = np.nan_to_num(inp[f"{kind}_fixed_om_usd_per_mw_year"].values)
        ann += caps[f"{kind}_capacity"] * (capex * crf(rate, life) + om)
    blife = np.nan_to_num(inp["battery_lifetime_years"].values, nan=1.0)
    ann += (caps["battery_energy"] * np.nan_to_num(inp["battery_capex_usd_per_mwh"].values)
            + caps["battery_power"] * np.nan_to_num(inp["battery_capex_usd_per_mw"].values)) * crf(rate, blife)
    ds["onsite_cost_usd_per_year"] = _attrs(xr.DataArray(ann, dims="site"), "USD/year",
                                            "annualised on-site solar, wind and battery cost")
    export_price = np.nan_to_num(inp["export_price_usd_per_mwh"].transpose("site", "time").values)
    ds["export_revenue_usd_per_year"] = _attrs(
        xr.DataArray((onsite["export"] * export_price * weight).sum(axis=1), dims="site"), "USD/year",
        "revenue from exported on-site power")
    ds["weight_h"] = inp["weight_h"].copy()
    installed_mw = (gpus_sgl.sum(axis=2) * inp["power_kw_per_gpu"].values[None, :]).sum(axis=1) / 1000.0
    ds["installed_it_mw"] = _attrs(xr.DataArray(installed_mw, dims="site"), "MW", "nameplate IT capacity")
    crf_s = site_crf(inp)
    ds["site_cost_usd_per_year"] = _attrs(
        xr.DataArray(open_site * inp["build_cost_usd"].values * crf_s
                     + installed_mw * inp["build_cost_usd_per_mw"].values * crf_s, dims="site"),
        "USD/year", "annualised site opening and facility cost")
    ds["accelerator_cost_usd_per_year"] = _attrs(
        xr.DataArray(gpus_sgl.sum(axis=2) * inp["capex_usd_per_gpu"].values * gpu_crf(inp), dims=("site", "gpu")),
        "USD/year", "annualised accelerator capex")
    ds.attrs.update(time_weight_h=float(weight.mean()), units_note="tokens are output tokens unless named otherwise")
    return ds


COST_TERMS = (
    ("site", "site_cost_usd_per_year", "site_cost_usd_per_year", 1.0),
    ("accelerator", "accelerator_cost_usd_per_year", "accelerator_cost_usd_per_year", 1.0),
    ("energy", "energy_cost_usd_per_year", "energy_cost_usd_per_year", 1.0),
    ("onsite_supply", "onsite_supply_cost_usd_per_year", "onsite_cost_usd_per_year", 1.0),
    ("carbon", "carbon_cost_usd_per_year", "carbon_cost_usd_per_year", 1.0),
    ("exports", "export_revenue_usd_per_year", "export_revenue_usd_per_year", -1.0),
)
"""(component, summary key, results variable, sign): a plan's annual cost is the signed sum
(unserved penalties excluded)."""


def total_cost_usd(summary: dict[str, object]) -> float:
    """Annual cost of tokens served, USD/year: the signed sum of :data:`COST_TERMS`."""
    return sum(sign * float(summary[key]) for _, key, _, sign in COST_TERMS)


def summarize(ds: xr.Dataset, inputs: xr.Dataset, objective: float) -> dict[str, object]:
    """Headline figures of a plan (see README, 'Summary keys')."""
    w = inputs["weight_h"]  # hours of the year per modelled hour
    ipo = inputs["input_per_output"]
    delivered = (ds["delivered_tokens_per_s"].sum(("site", "market")) * w).sum("time")  # by llm, token-h/s
    out_tok = float(delivered.sum() * 3600)
    all_tok = float((delivered * (1 + ipo)).sum() * 3600)
    unserved = float(((ds["unserved_tokens_per_s"].sum("market") * w).sum("time") * (1 + ipo)).sum() * 3600)
    energy = float((ds["facility_power_mw"].sum("site") * w).sum())
    grid_energy = float((ds["grid_import_mw"].sum("site") * w).sum())
    co2 = float(ds["co2_t_per_year"].sum())
    parts = {key: float(ds[var].sum()) for _, key, var, _ in COST_TERMS}
    cost = total_cost_usd(parts)
    pen = inputs["unserved_penalty_usd_per_mtok"].fillna(0.0)
    penalty = float(((ds["unserved_tokens_per_s"] * w).sum("time") * (1 + ipo) * pen).sum() * 3600 / 1e6)
    gpus = ds["gpus"].sum("site")
    return {
        "objective_usd_per_year": objective * objective_unit_usd(inputs),
        "cost_usd_per_year": cost,
        **parts,
        "unserved_penalty_usd_per_year": penalty,
        "cost_per_mtok_usd": cost / all_tok * 1e6 if all_tok > 0 else float("nan"),
        "cost_per_output_mtok_usd": cost / out_tok * 1e6 if out_tok > 0 else float("nan"),
        "tokens_per_year": all_tok,
        "output_tokens_per_year": out_tok,
        "unserved_tokens_per_year": unserved,
        "energy_mwh_per_year": energy,
        "grid_energy_mwh_per_year": grid_energy,
        "tokens_per_kwh": all_tok / (energy * 1000.0) if energy > 0 else float("nan"),
        "co2_t_per_year": co2,
        "co2_g_per_mtok": co2 * 1e6 / all_tok * 1e6 if all_tok > 0 else float("nan"),
        "gpus": {str(g): int(round(float(v))) for g, v in zip(gpus["gpu"].values, gpus.values, strict=True) if v > 0},
        "sites_opened": [str(x) for x in ds["site"].values[ds["open"].values]],
        "peak_facility_power_mw": float(ds["facility_power_mw"].sum("site").max()),
    }
