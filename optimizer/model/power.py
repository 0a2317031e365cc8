"""Power: facility draw from IT load and PUE, grid imports within the connection limit, on-site
solar, wind and batteries, exports, energy cost, and carbon (price, caps, hourly matching)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.finance import crf
from optimizer.model.linear import LinearBuilder
from optimizer.model.objective import objective_unit_usd
from optimizer.model.sets import IndexSets


def _onsite(inputs: xr.Dataset, sets: IndexSets) -> dict[str, np.ndarray]:
    """Which on-site options each on-site site has (boolean arrays over ``sets.onsite_site``)."""
    o = sets.onsite_site
    return {
        "solar": np.isfinite(inputs["solar_capex_usd_per_mw"].values[o]),
        "wind": np.isfinite(inputs["wind_capex_usd_per_mw"].values[o]),
        "battery": np.isfinite(inputs["battery_capex_usd_per_mwh"].values[o]),
        "export": np.isfinite(inputs["export_price_usd_per_mwh"].transpose("site", "time").values[o]).all(axis=1),
    }


def battery_export_sites(inputs: xr.Dataset, sets: IndexSets) -> np.ndarray:
    """On-site sites (indices into ``site``) whose battery may feed exports: they have both a battery
    option and an export price, so the on-site share of their battery is tracked."""
    opt = _onsite(inputs, sets)
    return sets.onsite_site[opt["battery"] & opt["export"]]


def declare(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``facility_power[s,t]`` (MW) at active sites; at on-site sites also grid imports, on-site
    capacities, battery flows and state of charge, curtailment and exports."""
    nt, no = sets.n_time, len(sets.onsite_site)
    b.add_var("facility_power", len(sets.active_site) * nt, "MW", "facility draw: PUE times IT power")
    if not no:
        return
    opt = _onsite(inputs, sets)
    o = sets.onsite_site

    def cap(kind: str, limit: str) -> np.ndarray:
        lim = inputs[limit].values[o]
        return np.where(opt[kind], np.where(np.isfinite(lim), lim, np.inf), 0.0)

    b.add_var("grid_import", no * nt, "MW", "power drawn from the grid at on-site sites")
    b.add_var("solar_capacity", no, "MW", "on-site solar PV built", ub=cap("solar", "solar_max_mw"))
    b.add_var("wind_capacity", no, "MW", "on-site wind built", ub=cap("wind", "wind_max_mw"))
    b.add_var("battery_energy", no, "MWh", "battery energy capacity built", ub=cap("battery", "battery_max_mwh"))
    b.add_var("battery_power", no, "MW", "battery power capacity built", ub=np.where(opt["battery"], np.inf, 0.0))
    b.add_var("battery_charge", no * nt, "MW", "battery charging", ub=np.repeat(np.where(opt["battery"], np.inf, 0), nt))
    b.add_var("battery_discharge", no * nt, "MW", "battery discharging",
              ub=np.repeat(np.where(opt["battery"], np.inf, 0), nt))
    b.add_var("battery_soc", no * nt, "MWh", "battery state of charge at the end of the hour",
              ub=np.repeat(np.where(opt["battery"], np.inf, 0), nt))
    b.add_var("curtailment", no * nt, "MW", "on-site generation not used")
    b.add_var("export", no * nt, "MW", "on-site power sold to the grid", ub=np.repeat(np.where(opt["export"], np.inf, 0), nt))
    nb = len(battery_export_sites(inputs, sets))
    if nb:  # where a battery may feed exports, the share of its flows and charge that came from on-site generation
        b.add_var("battery_charge_onsite", nb * nt, "MW", "battery charging from on-site generation")
        b.add_var("battery_discharge_onsite", nb * nt, "MW", "battery discharging of on-site-generated energy")
        b.add_var("battery_soc_onsite", nb * nt, "MWh", "on-site-generated energy held in the battery")


def constrain(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``facility_power_balance``, ``grid_limit``; with on-site supply also ``power_balance``,
    ``curtailment_limit``, ``battery_balance``, ``battery_energy_limit``, ``battery_charge_limit``,
    ``battery_discharge_limit``, ``export_limit``; carbon ``carbon_cap``, ``carbon_cap_country`` and
    ``hourly_matching`` (with ``hourly_matching_grid_only``); energy, carbon and on-site costs in the objective (see docs/math.md)."""
    nt = sets.n_time
    t = np.arange(nt)
    power, replicas, production = b.variables["facility_power"], b.variables["replicas"], b.variables["production"]
    open_site = b.variables["open_site"]
    act = sets.active_site
    pos = np.full(sets.n_site, -1, np.int64)
    pos[act] = np.arange(len(act))
    pue = inputs["pue"].transpose("site", "time").values
    g, s = sets.fleet_gpu, sets.fleet_site
    idle = inputs["idle_power_kw_per_gpu"].values[g]
    dyn = inputs["power_kw_per_gpu"].values[g] - idle
    rows = (pos[s][:, None] * nt + t).ravel()  # fleet x time -> (site, time) row
    pue_ft = pue[s].ravel()
    f = np.repeat(np.arange(sets.n_fleet), nt)
    n_rows = len(act) * nt
    b.add_rows(
        "facility_power_balance", n_rows,
        [
            (np.arange(n_rows), power.cols(), 1.0),
            (rows, replicas.cols(f), -pue_ft * np.repeat(idle * sets.fleet_gpus_per_replica, nt) / 1000.0),
            (rows, production.cols(), -pue_ft * np.repeat(dyn * sets.fleet_busy_gpus_per_mtok, nt) / 1000.0),
        ],
        lb=0.0, ub=0.0, description="facility power is PUE times IT power",
    )

    # grid draw per active site and hour: facility power, or the grid_import variable at on-site sites
    o = sets.onsite_site
    grid_cols = power.cols().reshape(len(act), nt).copy()
    if len(o):
        grid_cols[pos[o]] = b.variables["grid_import"].cols().reshape(len(o), nt)
    act_t = np.repeat(act, nt)
    b.add_rows(
        "grid_limit", n_rows,
        [(np.arange(n_rows), grid_cols.ravel(), 1.0),
         (np.arange(n_rows), open_site.cols(act_t), -np.repeat(inputs["grid_limit_mw"].values[act], nt))],
        lb=None, ub=0.0, description="grid draw within the connection limit, zero if not opened",
    )
    weight = inputs["weight_h"].values
    w_at = np.tile(weight, len(act))
    price = inputs["energy_price_usd_per_mwh"].transpose("site", "time").values[act].ravel()
    carbon = inputs["carbon_kg_per_mwh"].transpose("site", "time").values[act].ravel()
    carbon_price = float(inputs.attrs.get("carbon_price_usd_per_t", 0.0))
    b.add_cost(grid_cols.ravel(), w_at * (price + carbon_price * carbon / 1000.0) / objective_unit_usd(inputs))
    _carbon_limits(b, inputs, sets, grid_cols, act, weight)
    if len(o):
        _onsite_constraints(b, inputs, sets, pos)


def _carbon_limits(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets, grid_cols: np.ndarray,
                   act: np.ndarray, weight: np.ndarray) -> None:
    """``carbon_cap`` (all sites) and ``carbon_cap_country``: annual tonnes from grid imports."""
    nt = sets.n_time
    t_per_mw_step = (inputs["carbon_kg_per_mwh"].transpose("site", "time").values[act] * weight[None, :] / 1000.0)
    cap = float(inputs.attrs.get("carbon_cap_t_per_year", np.nan))
    if np.isfinite(cap):
        b.add_rows("carbon_cap", 1, [(np.zeros(grid_cols.size, np.int64), grid_cols.ravel(), t_per_mw_step.ravel())],
                   lb=None, ub=cap, description="annual emissions of all sites within the cap")
    countries = inputs["cap_country_carbon"].values
    if len(countries):
        site_country = inputs["site_country"].values[act]
        rows, cols, vals = [], [], []
        for i, c in enumerate(countries):
            member = site_country == c
            rows.append(np.full(member.sum() * nt, i))
            cols.append(grid_cols[member].ravel())
            vals.append(t_per_mw_step[member].ravel())
        b.add_rows("carbon_cap_country", len(countries), [(np.concatenate(rows), np.concatenate(cols),
                                                           np.concatenate(vals))],
                   lb=None, ub=inputs["cap_t_per_year_by_country"].values,
                   description="annual emissions of each country's sites within its cap")
    h = float(inputs.attrs.get("hourly_matching", 0.0))
    if h > 0:
        # sites without on-site supply cannot match any hour: their facility power must be 0
        only_grid = ~np.isin(act, sets.onsite_site)
        if only_grid.any():
            pw = b.variables["facility_power"].cols().reshape(len(act), nt)[only_grid].ravel()
            b.add_rows("hourly_matching_grid_only", pw.size, [(np.arange(pw.size), pw, 1.0)], lb=None, ub=0.0,
                       description="sites without carbon-free supply cannot meet an hourly-matching target")


CF_FLOOR = 1e-3
"""Capacity factors below this (dawn and dusk slivers) are taken as 0 to keep coefficients >= 1e-3."""


def floored_cf(cf: np.ndarray) -> np.ndarray:
    """Capacity factors as the model uses them: below ``CF_FLOOR`` taken as 0."""
    return np.where(cf < CF_FLOOR, 0.0, cf)


def _onsite_constraints(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets, pos: np.ndarray) -> None:
    nt = sets.n_time
    o = sets.onsite_site
    no = len(o)
    r = np.arange(no * nt)
    per = np.repeat(np.arange(no), nt)
    v = b.variables
    power_at = v["facility_power"].cols().reshape(-1, nt)[pos[o]].ravel()
    solar_cf = floored_cf(inputs["solar_cf"].transpose("site", "time").values[o].ravel())
    wind_cf = floored_cf(inputs["wind_cf"].transpose("site", "time").values[o].ravel())
    # power_balance: grid + solar + wind + discharge - charge - curtailment - export = facility power
    b.add_rows(
        "power_balance", no * nt,
        [(r, v["grid_import"].cols(), 1.0), (r, v["solar_capacity"].cols(per), solar_cf),
         (r, v["wind_capacity"].cols(per), wind_cf), (r, v["battery_discharge"].cols(), 1.0),
         (r, v["battery_charge"].cols(), -1.0), (r, v["curtailment"].cols(), -1.0), (r, v["export"].cols(), -1.0),
         (r, power_at, -1.0)],
        lb=0.0, ub=0.0, description="supply equals facility power every hour",
    )
    b.add_rows(
        "curtailment_limit", no * nt,
        [(r, v["curtailment"].cols(), 1.0), (r, v["solar_capacity"].cols(per), -solar_cf),
         (r, v["wind_capacity"].cols(per), -wind_cf)],
        lb=None, ub=0.0, description="only on-site generation can be curtailed",
    )
    # battery_balance: soc[t] = soc[prev t] + sqrt(eta) charge[t] - discharge[t] / sqrt(eta)
    eta = np.sqrt(np.nan_to_num(inputs["battery_round_trip_efficiency"].values[o], nan=1.0))
    day = inputs["day"].values
    if inputs.attrs.get("storage_cyclic") == "day":
        starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])  # each day is one block of hours
        prev = np.arange(nt) - 1
        prev[starts] = np.r_[starts[1:], nt] - 1  # a day's first hour follows its last
    else:
        prev = np.r_[nt - 1, np.arange(nt - 1)]
    soc = v["battery_soc"].cols().reshape(no, nt)
    b.add_rows(
        "battery_balance", no * nt,
        [(r, soc.ravel(), 1.0), (r, soc[:, prev].ravel(), -1.0),
         (r, v["battery_charge"].cols(), -np.repeat(eta, nt)), (r, v["battery_discharge"].cols(), np.repeat(1 / eta, nt))],
        lb=0.0, ub=0.0, description="state of charge carried hour to hour, cyclic",
    )
    for name, var, cap in (("battery_energy_limit", "battery_soc", "battery_energy"),
                           ("battery_charge_limit", "battery_charge", "battery_power"),
                           ("battery_discharge_limit", "battery_discharge", "battery_power")):
        b.add_rows(name, no * nt, [(r, v[var].cols(), 1.0), (r, v[cap].cols(per), -1.0)], lb=None, ub=0.0,
                   description=f"{var} within {cap}")
    _export_onsite(b, inputs, sets, solar_cf, wind_cf, prev, eta)
    grid_mw = np.repeat(inputs["grid_limit_mw"].values[o], nt)
    b.add_rows(
        "export_limit", no * nt,
        [(r, v["export"].cols(), 1.0), (r, v["grid_import"].cols(), 1.0),
         (r, v["open_site"].cols(np.repeat(o, nt)), -grid_mw)],
        lb=None, ub=0.0, description="imports plus exports within the grid connection of an opened site",
    )
    h = float(inputs.attrs.get("hourly_matching", 0.0))
    if h > 0:
        b.add_rows(
            "hourly_matching", no * nt,
            [(r, v["solar_capacity"].cols(per), solar_cf), (r, v["wind_capacity"].cols(per), wind_cf),
             (r, v["curtailment"].cols(), -1.0), (r, v["export"].cols(), -1.0),
             (r, v["battery_discharge"].cols(), 1.0), (r, v["battery_charge"].cols(), -1.0), (r, power_at, -h)],
            lb=0.0, ub=None, description="on-site carbon-free supply covers the target share of each hour's load",
        )
    # costs: annualised capacity, O&M, export revenue
    rate = inputs.attrs["discount_rate"]
    for kind in ("solar", "wind"):
        capex = np.nan_to_num(inputs[f"{kind}_capex_usd_per_mw"].values[o])
        life = np.nan_to_num(inputs[f"{kind}_lifetime_years"].values[o], nan=1.0)
        om = np.nan_to_num(inputs[f"{kind}_fixed_om_usd_per_mw_year"].values[o])
        b.add_cost(v[f"{kind}_capacity"].cols(), (capex * crf(rate, life) + om) / objective_unit_usd(inputs))
    blife = np.nan_to_num(inputs["battery_lifetime_years"].values[o], nan=1.0)
    b.add_cost(v["battery_energy"].cols(), np.nan_to_num(inputs["battery_capex_usd_per_mwh"].values[o])
               * crf(rate, blife) / objective_unit_usd(inputs))
    b.add_cost(v["battery_power"].cols(), np.nan_to_num(inputs["battery_capex_usd_per_mw"].values[o])
               * crf(rate, blife) / objective_unit_usd(inputs))
    export_price = np.nan_to_num(inputs["export_price_usd_per_mwh"].transpose("site", "time").values[o])
    b.add_cost(v["export"].cols(), -(export_price * inputs["weight_h"].values[None, :]).ravel() / objective_unit_usd(inputs))


def _export_onsite(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets, solar_cf: np.ndarray,
                   wind_cf: np.ndarray, prev: np.ndarray, eta: np.ndarray) -> None:
    """``export_onsite``: exports, curtailment and on-site-origin battery charging within the hour's
    on-site generation plus on-site-origin battery discharge; where a battery may feed exports, the
    on-site share of its flows is tracked by ``battery_onsite_balance`` and the three
    ``battery_onsite_*_limit`` rows (docs/math.md, "Exports")."""
    nt = sets.n_time
    opt = _onsite(inputs, sets)
    ex = np.flatnonzero(opt["export"])  # positions within the on-site sites
    if not len(ex):
        return
    v = b.variables
    r = np.arange(len(ex) * nt)
    per = np.repeat(ex, nt)
    terms = [(r, v["export"].cols().reshape(-1, nt)[ex].ravel(), 1.0),
             (r, v["curtailment"].cols().reshape(-1, nt)[ex].ravel(), 1.0),
             (r, v["solar_capacity"].cols(per), -solar_cf.reshape(-1, nt)[ex].ravel()),
             (r, v["wind_capacity"].cols(per), -wind_cf.reshape(-1, nt)[ex].ravel())]
    pool = opt["battery"][ex]  # export sites whose battery may feed exports, in the order of the pool variables
    if pool.any():
        rp = (np.flatnonzero(pool)[:, None] * nt + np.arange(nt)).ravel()  # their rows of export_onsite
        terms += [(rp, v["battery_charge_onsite"].cols(), 1.0), (rp, v["battery_discharge_onsite"].cols(), -1.0)]
    b.add_rows("export_onsite", len(r), terms, lb=None, ub=0.0,
               description="exports and curtailment come from the hour's on-site generation or on-site-origin "
                           "battery energy, never from grid imports")
    if not pool.any():
        return
    nb = int(pool.sum())
    rb = np.arange(nb * nt)
    e = np.repeat(eta[ex[pool]], nt)
    soc = v["battery_soc_onsite"].cols().reshape(nb, nt)
    b.add_rows(
        "battery_onsite_balance", nb * nt,
        [(rb, soc.ravel(), 1.0), (rb, soc[:, prev].ravel(), -1.0), (rb, v["battery_charge_onsite"].cols(), -e),
         (rb, v["battery_discharge_onsite"].cols(), 1 / e)],
        lb=0.0, ub=0.0, description="on-site-origin energy in the battery carried hour to hour, cyclic",
    )
    for name, part, whole in (("battery_onsite_charge_limit", "battery_charge_onsite", "battery_charge"),
                              ("battery_onsite_discharge_limit", "battery_discharge_onsite", "battery_discharge"),
                              ("battery_onsite_soc_limit", "battery_soc_onsite", "battery_soc")):
        b.add_rows(name, nb * nt, [(rb, v[part].cols(), 1.0), (rb, v[whole].cols().reshape(-1, nt)[ex[pool]].ravel(),
                                                               -1.0)],
                   lb=None, ub=0.0, description=f"{part} within {whole}")
