"""Results: one xarray Dataset with named dims and units, plus a tidy summary dict.

What is reported comes from the model's registries: each variable family's results name, units,
dims and scale from :data:`optimizer.model.FAMILIES`, and each cost component from the objective's
own terms (:data:`optimizer.model.objective.COMPONENTS`, ``LinearBuilder.cost``), so the reported
costs add up to the objective by construction.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.model import FAMILIES, PlanningModel, declare
from optimizer.model.linear import Family, LinearBuilder
from optimizer.model.objective import COMPONENTS, objective_unit_usd
from optimizer.model.power import floored_cf
from optimizer.model.sets import FLOW_TOL_MTOK, MTOK, IndexSets
from optimizer.technologies import TECHNOLOGIES

__all__ = ["COST_TERMS", "FLOW_TOL_MTOK", "build_results", "investment_values", "reported_values", "summarize",
           "total_cost_usd"]

DIMS = ("site", "gpu", "llm", "market", "time", "deployment")


def _scatter(shape: tuple[int, ...], index: tuple[np.ndarray, ...], values: np.ndarray) -> np.ndarray:
    out = np.zeros(shape)
    np.add.at(out, index, values)
    return out


def _attrs(da: xr.DataArray, units: str, description: str) -> xr.DataArray:
    da.attrs.update(units=units, description=description)
    return da


def reported_values(b: LinearBuilder, x: np.ndarray) -> np.ndarray:
    """A solution as results report it: integer families rounded, values below a family's
    ``Result.noise`` (solver noise) set to 0."""
    xv = np.array(x, float)
    for fam in b.variables.values():
        part = xv[fam.offset:fam.offset + fam.size]
        if fam.domain != "continuous":
            part[:] = np.round(part)
        elif fam.family is not None and fam.family.result is not None and fam.family.result.noise:
            part[:] = np.where(part < fam.family.result.noise, 0.0, part)
    return xv


def build_results(pm: PlanningModel, x: np.ndarray) -> xr.Dataset:
    """Dense result arrays over ``site``, ``gpu``, ``llm``, ``market``, ``time`` from a solution."""
    inp, s, b = pm.inputs, pm.sets, pm.builder
    nt = s.n_time
    sizes = {d: inp.sizes[d] for d in DIMS}
    ns, ng, nl = sizes["site"], sizes["gpu"], sizes["llm"]
    xv = reported_values(b, x)

    def val(name: str) -> np.ndarray:
        fam = b.variables[name]
        return xv[fam.offset:fam.offset + fam.size]

    def dense(spec: Family) -> np.ndarray:
        """The family's values laid out over its dims (and time); 0 where it has no element."""
        out = np.zeros(tuple(sizes[d] for d in spec.dims) + ((nt,) if spec.timed else ()))
        fam = b.variables.get(spec.name)
        if fam is not None and fam.size:  # elements on the same coordinates add up (deployments)
            np.add.at(out, fam.index, val(spec.name).reshape(-1, nt) if spec.timed else val(spec.name))
        return out

    def put(name: str, values: np.ndarray | None = None) -> None:
        """The results variable of family ``name`` (its dense values, or ``values``)."""
        spec = FAMILIES[name]
        v = dense(spec) * spec.result.scale if values is None else values
        if spec.domain == "binary":
            v = v.astype(bool)
        da = xr.DataArray(v, dims=spec.dims + (("time",) if spec.timed else ()))
        ds[spec.result.name] = _attrs(da, spec.result_units, spec.result_description)

    unit = objective_unit_usd(inp)
    costs = {}
    for c in COMPONENTS:  # USD/year, as reported (revenues positive)
        shape = tuple(sizes[d] for d in c.dims)
        costs[c.name] = c.sign * b.component_cost(xv, c.name, c.dims, shape) * unit

    def put_cost(name: str) -> None:
        c = next(c for c in COMPONENTS if c.name == name)
        ds[c.result] = _attrs(xr.DataArray(costs[name], dims=c.dims), "USD/year", c.description)

    replicas = val("replicas")
    prod = val("production").reshape(s.n_fleet, nt) * MTOK
    power = dense(FAMILIES["facility_power"])

    fs, fg, fl = s.fleet_site, s.fleet_gpu, s.fleet_llm
    busy = prod / MTOK * s.fleet_busy_gpus_per_mtok[:, None]
    idle = inp["idle_power_kw_per_gpu"].values[fg]
    full = inp["power_kw_per_gpu"].values[fg]
    it_kw = idle[:, None] * (replicas * s.fleet_gpus_per_replica)[:, None] + (full - idle)[:, None] * busy
    weight = inp["weight_h"].values  # hours of the year per modelled hour
    carbon = inp["carbon_kg_per_mwh"].transpose("site", "time").values
    grid = power.copy()  # grid draw: facility power, or grid imports at sites with on-site supply
    imports = b.variables.get("grid_import")
    if imports is not None and imports.size:
        grid[imports.index] = val("grid_import").reshape(-1, nt)

    ds = xr.Dataset(coords={d: inp.coords[d] for d in DIMS})
    ds = ds.assign_coords(
        site_country=("site", inp["site_country"].values.astype(str)),
        market_country=("market", inp["market_country"].values.astype(str)),
        site_lat=("site", inp["site_lat"].values), site_lon=("site", inp["site_lon"].values),
    )
    for name in ("input_per_output", "energy_price_usd_per_mwh", "carbon_kg_per_mwh", "demand_output_tokens_per_s"):
        ds[name] = inp[name].copy()
    put("open_site")
    put("replicas")
    ds["replicas"] = _attrs(ds["replicas_by_deployment"].sum("deployment"), "replica",
                            "serving replicas (one LLM each), all deployments")
    gpus_sgl = _scatter((ns, ng, nl), (fs, fg, fl), replicas * s.fleet_gpus_per_replica)
    ds["gpus"] = _attrs(xr.DataArray(gpus_sgl.sum(axis=2), dims=("site", "gpu")), "GPU", "installed accelerators")
    nd = sizes["deployment"]
    ds["gpus_by_deployment"] = _attrs(xr.DataArray(
        _scatter((ns, ng, nl, nd), (fs, fg, fl, s.fleet_deployment), replicas * s.fleet_gpus_per_replica),
        dims=("site", "gpu", "llm", "deployment")), "GPU", "installed accelerators by LLM and deployment")
    put("production")
    ds["busy_gpus"] = _attrs(
        xr.DataArray(_scatter((ns, ng, nl, nt), (fs, fg, fl), busy), dims=("site", "gpu", "llm", "time")),
        "GPU", "GPUs busy serving")
    put("delivery")
    put("unserved")
    ds["it_power_mw"] = _attrs(
        xr.DataArray(_scatter((ns, nt), (fs,), it_kw / 1000.0), dims=("site", "time")), "MW", "IT power")
    put("facility_power", power)
    put("grid_import", np.clip(grid, 0, None))
    put_cost("energy")
    ds["co2_t_per_year"] = _attrs(
        xr.DataArray((grid * carbon * weight).sum(axis=1) / 1000.0, dims="site"), "t CO2/year",
        "location-based emissions of grid imports")
    put_cost("carbon")
    for spec in FAMILIES.values():  # the on-site families (and any other not reported above), in registry order
        if spec.result is not None and spec.result.name not in ds:
            put(spec.name)
    for t in TECHNOLOGIES:
        ds[t.generation] = _attrs(ds[t.result] * xr.apply_ufunc(floored_cf, inp[t.capacity_factor]),
                                  "MW", f"on-site {t.kind} output")
    put_cost("onsite_supply")
    put_cost("exports")
    ds["weight_h"] = inp["weight_h"].copy()
    installed_mw = (gpus_sgl.sum(axis=2) * inp["power_kw_per_gpu"].values[None, :]).sum(axis=1) / 1000.0
    ds["installed_it_mw"] = _attrs(xr.DataArray(installed_mw, dims="site"), "MW", "nameplate IT capacity")
    put_cost("site")
    put_cost("accelerator")
    ds["revenue_usd_per_year"] = _attrs(revenue_by_market_llm(ds, inp), "USD/year",
                                        "revenue at list prices of the tokens delivered (NaN: no price)")
    ds.attrs.update(time_weight_h=float(weight.mean()), units_note="tokens are output tokens unless named otherwise")
    return ds


def revenue_per_output_mtok(inputs: xr.Dataset) -> xr.DataArray:
    """(market, llm): revenue per million output tokens delivered, USD: the output price plus, per
    output token, ``input_per_output`` input tokens, a ``cache_hit_share`` of them at the cached-input
    price and the rest at the input price."""
    h = inputs["cache_hit_share"]
    per_input = (1 - h) * inputs["price_input_usd_per_mtok"] + h * inputs["price_cached_input_usd_per_mtok"]
    return inputs["price_output_usd_per_mtok"] + inputs["input_per_output"] * per_input


def revenue_by_market_llm(ds: xr.Dataset, inputs: xr.Dataset) -> xr.DataArray:
    """(market, llm): revenue at list prices of a year's delivered tokens, USD/year (NaN: no price)."""
    out_mtok = (ds["delivered_tokens_per_s"].sum("site") * inputs["weight_h"]).sum("time") * 3600 / 1e6
    return (out_mtok * revenue_per_output_mtok(inputs)).transpose("market", "llm")


def investment_values(ds: xr.Dataset, inputs: xr.Dataset, sets: IndexSets) -> dict[str, np.ndarray]:
    """A results Dataset's investment decisions (its families without an hourly index: sites
    opened, replicas, on-site capacities) laid out as the variable families of the model of
    ``inputs`` on ``sets``, by family name."""
    fix = {}
    for fam in declare(inputs, sets).variables.values():
        spec = fam.family
        if spec is None or spec.timed or spec.result is None:
            continue
        da = ds[spec.result.name].astype(float).reindex(
            {d: inputs[d].values for d in spec.dims}, fill_value=0.0).transpose(*spec.dims)
        fix[fam.name] = da.values[fam.index] / spec.result.scale
    return fix


COST_TERMS = tuple((c.name, c.summary_key, c.result, c.sign) for c in COMPONENTS if c.in_cost)
"""(component, summary key, results variable, sign): a plan's annual cost is the signed sum
(unserved penalties excluded); from :data:`optimizer.model.objective.COMPONENTS`."""


def total_cost_usd(summary: dict[str, object]) -> float:
    """Annual cost of tokens served, USD/year: the signed sum of :data:`COST_TERMS`."""
    return sum(sign * float(summary[key]) for _, key, _, sign in COST_TERMS)


def _by_deployment(da: xr.DataArray) -> dict[str, int]:
    """``{"<gpu> <llm> <deployment>": count}`` of the non-zero entries of a (site, gpu, llm, deployment)
    array summed over sites."""
    tot = da.sum("site")
    idx = np.argwhere(tot.values > 0.5)
    return {f"{tot['gpu'].values[g]} {tot['llm'].values[lq]} {tot['deployment'].values[d]}":
            int(round(float(tot.values[g, lq, d]))) for g, lq, d in idx}


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
    revenue = ds["revenue_usd_per_year"]
    served = (ds["delivered_tokens_per_s"].sum(("site", "time")) > 0).transpose("market", "llm")
    priced = bool((~served.values | np.isfinite(revenue.values)).all()) and bool(served.values.any())
    revenue_total = float(revenue.where(served, 0.0).sum()) if priced else float("nan")
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
        "revenue_usd_per_year": revenue_total,
        "margin_usd_per_year": revenue_total - cost,
        "margin_share": (revenue_total - cost) / revenue_total if revenue_total > 0 else float("nan"),
        "gpus": {str(g): int(round(float(v))) for g, v in zip(gpus["gpu"].values, gpus.values, strict=True) if v > 0},
        "replicas_by_deployment": _by_deployment(ds["replicas_by_deployment"]),
        "gpus_by_deployment": _by_deployment(ds["gpus_by_deployment"]),
        "sites_opened": [str(x) for x in ds["site"].values[ds["open"].values]],
        "peak_facility_power_mw": float(ds["facility_power_mw"].sum("site").max()),
    }
