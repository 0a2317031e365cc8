"""Results: one xarray Dataset with named dims and units, plus a tidy summary dict."""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.model import PlanningModel
from optimizer.model.objective import MUSD, gpu_crf, site_crf
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
    weight = inp.attrs["time_weight_h"]
    price = inp["energy_price_usd_per_mwh"].transpose("site", "time").values

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
    ds["facility_power_mw"] = _attrs(xr.DataArray(power, dims=("site", "time")), "MW", "facility draw from the grid")
    ds["energy_cost_usd_per_year"] = _attrs(
        xr.DataArray((power * price).sum(axis=1) * weight, dims="site"), "USD/year", "grid energy cost")
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
    ds.attrs.update(time_weight_h=weight, units_note="tokens are output tokens unless named otherwise")
    return ds


def summarize(ds: xr.Dataset, inputs: xr.Dataset, objective_musd: float) -> dict[str, object]:
    """Headline figures of a plan (see README, 'Summary keys')."""
    weight = inputs.attrs["time_weight_h"]
    ipo = inputs["input_per_output"]
    out_tok = float(ds["delivered_tokens_per_s"].sum() * 3600 * weight)
    all_tok = float((ds["delivered_tokens_per_s"].sum(("site", "market", "time")) * (1 + ipo)).sum() * 3600 * weight)
    unserved = float((ds["unserved_tokens_per_s"].sum(("market", "time")) * (1 + ipo)).sum() * 3600 * weight)
    energy = float(ds["facility_power_mw"].sum() * weight)
    co2 = float((ds["facility_power_mw"] * inputs["carbon_kg_per_mwh"]).sum() * weight / 1000.0)
    site_cost = float(ds["site_cost_usd_per_year"].sum())
    acc_cost = float(ds["accelerator_cost_usd_per_year"].sum())
    energy_cost = float(ds["energy_cost_usd_per_year"].sum())
    cost = site_cost + acc_cost + energy_cost
    pen = inputs["unserved_penalty_usd_per_mtok"].fillna(0.0)
    penalty = float((ds["unserved_tokens_per_s"].sum("time") * (1 + ipo) * pen).sum() * 3600 * weight / 1e6)
    gpus = ds["gpus"].sum("site")
    return {
        "objective_usd_per_year": objective_musd * MUSD,
        "cost_usd_per_year": cost,
        "site_cost_usd_per_year": site_cost,
        "accelerator_cost_usd_per_year": acc_cost,
        "energy_cost_usd_per_year": energy_cost,
        "unserved_penalty_usd_per_year": penalty,
        "cost_per_mtok_usd": cost / all_tok * 1e6 if all_tok > 0 else float("nan"),
        "cost_per_output_mtok_usd": cost / out_tok * 1e6 if out_tok > 0 else float("nan"),
        "tokens_per_year": all_tok,
        "output_tokens_per_year": out_tok,
        "unserved_tokens_per_year": unserved,
        "energy_mwh_per_year": energy,
        "tokens_per_kwh": all_tok / (energy * 1000.0) if energy > 0 else float("nan"),
        "co2_t_per_year": co2,
        "co2_g_per_mtok": co2 * 1e6 / all_tok * 1e6 if all_tok > 0 else float("nan"),
        "gpus": {str(g): int(round(float(v))) for g, v in zip(gpus["gpu"].values, gpus.values, strict=True) if v > 0},
        "sites_opened": [str(x) for x in ds["site"].values[ds["open"].values]],
        "peak_facility_power_mw": float(ds["facility_power_mw"].sum("site").max()),
    }
