"""Power: facility draw from IT load and PUE, grid imports within the connection limit, on-site
generation (:data:`optimizer.technologies.TECHNOLOGIES`: solar, wind) and batteries, exports,
energy cost, and carbon (price, caps, hourly matching).

One function per constraint family, named as the family and documented by its docs/math.md
equation; :func:`constrain` calls them in the order the rows are laid out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from optimizer.finance import crf
from optimizer.model.linear import Family, LinearBuilder, Result
from optimizer.model.objective import objective_unit_usd
from optimizer.model.sets import IndexSets
from optimizer.technologies import TECHNOLOGIES

FACILITY_POWER = Family("facility_power", "MW", "facility draw: PUE times IT power", dims=("site",), timed=True,
                        result=Result("facility_power_mw", description="facility power: PUE times IT power"))
GRID_IMPORT = Family("grid_import", "MW", "power drawn from the grid at on-site sites", dims=("site",), timed=True,
                     result=Result("grid_import_mw", description="power drawn from the grid"))
# results: grid_import_mw is the grid draw of every site, facility_power where there is no grid_import
CAPACITY = tuple(Family(t.family, "MW", f"on-site {t.label} built", dims=("site",), result=Result(t.result))
                 for t in TECHNOLOGIES)
BATTERY_ENERGY = Family("battery_energy", "MWh", "battery energy capacity built", dims=("site",),
                        result=Result("battery_mwh", description="battery energy capacity"))
BATTERY_POWER = Family("battery_power", "MW", "battery power capacity built", dims=("site",),
                       result=Result("battery_mw", description="battery power capacity"))
BATTERY_CHARGE = Family("battery_charge", "MW", "battery charging", dims=("site",), timed=True,
                        result=Result("battery_charge_mw", description="battery charge"))
BATTERY_DISCHARGE = Family("battery_discharge", "MW", "battery discharging", dims=("site",), timed=True,
                           result=Result("battery_discharge_mw", description="battery discharge"))
BATTERY_SOC = Family("battery_soc", "MWh", "battery state of charge at the end of the hour", dims=("site",),
                     timed=True, result=Result("battery_soc_mwh", description="battery soc"))
CURTAILMENT = Family("curtailment", "MW", "on-site generation not used", dims=("site",), timed=True,
                     result=Result("curtailed_mw", description="curtailment"))
EXPORT = Family("export", "MW", "on-site power sold to the grid", dims=("site",), timed=True,
                result=Result("export_mw", description="export"))
_POOL = "of on-site-generated energy (sites whose battery may feed exports)"
BATTERY_CHARGE_ONSITE = Family("battery_charge_onsite", "MW", "battery charging from on-site generation",
                               dims=("site",), timed=True,
                               result=Result("battery_charge_onsite_mw", description=f"battery charge {_POOL}"))
BATTERY_DISCHARGE_ONSITE = Family("battery_discharge_onsite", "MW", "battery discharging of on-site-generated energy",
                                  dims=("site",), timed=True,
                                  result=Result("battery_discharge_onsite_mw", description=f"battery discharge {_POOL}"))
BATTERY_SOC_ONSITE = Family("battery_soc_onsite", "MWh", "on-site-generated energy held in the battery",
                            dims=("site",), timed=True,
                            result=Result("battery_soc_onsite_mwh", description=f"battery soc {_POOL}"))
FAMILIES = (FACILITY_POWER, GRID_IMPORT, *CAPACITY, BATTERY_ENERGY, BATTERY_POWER, BATTERY_CHARGE, BATTERY_DISCHARGE,
            BATTERY_SOC, CURTAILMENT, EXPORT, BATTERY_CHARGE_ONSITE, BATTERY_DISCHARGE_ONSITE, BATTERY_SOC_ONSITE)

CF_FLOOR = 1e-3
"""Capacity factors below this (dawn and dusk slivers) are taken as 0 to keep coefficients >= 1e-3."""


def floored_cf(cf: np.ndarray) -> np.ndarray:
    """Capacity factors as the model uses them: below ``CF_FLOOR`` taken as 0."""
    return np.where(cf < CF_FLOOR, 0.0, cf)


def onsite_options(inputs: xr.Dataset, sets: IndexSets) -> dict[str, np.ndarray]:
    """Which on-site options each on-site site has (boolean arrays over ``sets.onsite_site``): one
    per technology (by kind), ``battery`` and ``export``."""
    o = sets.onsite_site
    out = {t.kind: np.isfinite(inputs[t.capex].values[o]) for t in TECHNOLOGIES}
    out["battery"] = np.isfinite(inputs["battery_capex_usd_per_mwh"].values[o])
    out["export"] = np.isfinite(inputs["export_price_usd_per_mwh"].transpose("site", "time").values[o]).all(axis=1)
    return out


def battery_export_sites(inputs: xr.Dataset, sets: IndexSets) -> np.ndarray:
    """On-site sites (indices into ``site``) whose battery may feed exports: they have both a battery
    option and an export price, so the on-site share of their battery is tracked."""
    opt = onsite_options(inputs, sets)
    return sets.onsite_site[opt["battery"] & opt["export"]]


def declare(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``facility_power[s,t]`` (MW) at active sites; at on-site sites also grid imports, on-site
    capacities, battery flows and state of charge, curtailment and exports."""
    nt, no = sets.n_time, len(sets.onsite_site)
    b.add_var(FACILITY_POWER, len(sets.active_site) * nt, index=(sets.active_site,))
    if not no:
        return
    opt = onsite_options(inputs, sets)
    o = sets.onsite_site
    at = (o,)

    def cap(kind: str, limit: str) -> np.ndarray:
        lim = inputs[limit].values[o]
        return np.where(opt[kind], np.where(np.isfinite(lim), lim, np.inf), 0.0)

    def only(kind: str) -> np.ndarray:
        return np.repeat(np.where(opt[kind], np.inf, 0), nt)

    b.add_var(GRID_IMPORT, no * nt, index=at)
    for t, fam in zip(TECHNOLOGIES, CAPACITY, strict=True):
        b.add_var(fam, no, ub=cap(t.kind, t.max_mw), index=at)
    b.add_var(BATTERY_ENERGY, no, ub=cap("battery", "battery_max_mwh"), index=at)
    b.add_var(BATTERY_POWER, no, ub=np.where(opt["battery"], np.inf, 0.0), index=at)
    b.add_var(BATTERY_CHARGE, no * nt, ub=only("battery"), index=at)
    b.add_var(BATTERY_DISCHARGE, no * nt, ub=only("battery"), index=at)
    b.add_var(BATTERY_SOC, no * nt, ub=only("battery"), index=at)
    b.add_var(CURTAILMENT, no * nt, index=at)
    b.add_var(EXPORT, no * nt, ub=only("export"), index=at)
    pool = battery_export_sites(inputs, sets)
    if len(pool):  # where a battery may feed exports, the share of its flows and charge that came from on-site generation
        for fam in (BATTERY_CHARGE_ONSITE, BATTERY_DISCHARGE_ONSITE, BATTERY_SOC_ONSITE):
            b.add_var(fam, len(pool) * nt, index=(pool,))


@dataclass(frozen=True)
class _OnsiteRows:
    """What the on-site row families share: rows (on-site site, hour), the site of each row, the
    facility power column of each row and each technology's floored capacity factors per row."""

    nt: int
    r: np.ndarray
    per: np.ndarray
    power_at: np.ndarray
    cf: dict[str, np.ndarray]

    def generation(self, b: LinearBuilder, sign: float = 1.0, sites: np.ndarray | None = None,
                   rows: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Terms ``sign * sum_k cf_k[s,t] K_k[s]`` of every technology k, on ``rows`` (default all)
        for the on-site positions ``sites`` (default all)."""
        nt = self.nt
        per = self.per if sites is None else np.repeat(sites, nt)
        r = self.r if rows is None else rows
        out = []
        for t in TECHNOLOGIES:
            cf = self.cf[t.kind] if sites is None else self.cf[t.kind].reshape(-1, nt)[sites].ravel()
            out.append((r, b.variables[t.family].cols(per), cf if sign == 1.0 else sign * cf))
        return out


def constrain(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``facility_power_balance``, ``grid_limit``, ``carbon_cap``, ``carbon_cap_country``,
    ``hourly_matching_grid_only``; with on-site supply also ``power_balance``, ``curtailment_limit``,
    ``battery_balance``, ``battery_energy_limit``, ``battery_charge_limit``,
    ``battery_discharge_limit``, ``export_onsite`` (with ``battery_onsite_balance`` and the
    ``battery_onsite_*_limit`` rows), ``export_limit`` and ``hourly_matching``; energy, carbon and
    on-site costs and export revenue in the objective (see docs/math.md)."""
    nt = sets.n_time
    act = sets.active_site
    pos = np.full(sets.n_site, -1, np.int64)
    pos[act] = np.arange(len(act))
    facility_power_balance(b, inputs, sets, pos)
    grid_cols = _grid_draw(b, sets, pos)
    grid_limit(b, inputs, sets, grid_cols)
    weight = inputs["weight_h"].values
    w_at = np.tile(weight, len(act))
    unit = objective_unit_usd(inputs)
    price = inputs["energy_price_usd_per_mwh"].transpose("site", "time").values[act].ravel()
    b.add_cost(grid_cols.ravel(), w_at * price / unit, "energy")
    carbon_price = float(inputs.attrs.get("carbon_price_usd_per_t", 0.0))
    if carbon_price:
        carbon = inputs["carbon_kg_per_mwh"].transpose("site", "time").values[act].ravel()
        b.add_cost(grid_cols.ravel(), w_at * (carbon_price * carbon / 1000.0) / unit, "carbon")
    t_per_mw_step = inputs["carbon_kg_per_mwh"].transpose("site", "time").values[act] * weight[None, :] / 1000.0
    carbon_cap(b, inputs, grid_cols, t_per_mw_step)
    carbon_cap_country(b, inputs, sets, grid_cols, t_per_mw_step)
    hourly_matching_grid_only(b, inputs, sets)
    o = sets.onsite_site
    if not len(o):
        return
    v = b.variables
    rows = _OnsiteRows(
        nt, np.arange(len(o) * nt), np.repeat(np.arange(len(o)), nt),
        v["facility_power"].cols().reshape(-1, nt)[pos[o]].ravel(),
        {t.kind: floored_cf(inputs[t.capacity_factor].transpose("site", "time").values[o].ravel())
         for t in TECHNOLOGIES},
    )
    power_balance(b, rows)
    curtailment_limit(b, rows)
    prev = _previous_hour(inputs, nt)
    eta = np.sqrt(np.nan_to_num(inputs["battery_round_trip_efficiency"].values[o], nan=1.0))
    battery_balance(b, rows, prev, eta)
    battery_limits(b, rows)
    export_onsite(b, inputs, sets, rows, prev, eta)
    export_limit(b, inputs, sets, rows)
    hourly_matching(b, inputs, rows)
    _onsite_costs(b, inputs, sets)


def _grid_draw(b: LinearBuilder, sets: IndexSets, pos: np.ndarray) -> np.ndarray:
    """Columns of the grid draw per (active site, hour): ``grid_import`` at on-site sites, the
    facility power elsewhere."""
    nt, o = sets.n_time, sets.onsite_site
    grid_cols = b.variables["facility_power"].cols().reshape(len(sets.active_site), nt).copy()
    if len(o):
        grid_cols[pos[o]] = b.variables["grid_import"].cols().reshape(len(o), nt)
    return grid_cols


def facility_power_balance(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets, pos: np.ndarray) -> None:
    """``facility_power_balance``, for every s in S^a and t: IT power is idle power of installed
    GPUs plus the dynamic power of busy ones, times PUE,

    q[s,t] = pue[s,t] / 1000 (sum_F P0_g k_gl n[s,g,l] + sum_F (P_g - P0_g) beta_gl x[s,g,l,t])
    """
    nt = sets.n_time
    t = np.arange(nt)
    power, replicas, production = b.variables["facility_power"], b.variables["replicas"], b.variables["production"]
    pue = inputs["pue"].transpose("site", "time").values
    g, s = sets.fleet_gpu, sets.fleet_site
    idle = inputs["idle_power_kw_per_gpu"].values[g]
    dyn = inputs["power_kw_per_gpu"].values[g] - idle
    rows = (pos[s][:, None] * nt + t).ravel()  # fleet x time -> (site, time) row
    pue_ft = pue[s].ravel()
    f = np.repeat(np.arange(sets.n_fleet), nt)
    n_rows = len(sets.active_site) * nt
    b.add_rows(
        "facility_power_balance", n_rows,
        [
            (np.arange(n_rows), power.cols(), 1.0),
            (rows, replicas.cols(f), -pue_ft * np.repeat(idle * sets.fleet_gpus_per_replica, nt) / 1000.0),
            (rows, production.cols(), -pue_ft * np.repeat(dyn * sets.fleet_busy_gpus_per_mtok, nt) / 1000.0),
        ],
        lb=0.0, ub=0.0, description="facility power is PUE times IT power",
        fields="sites.*.pue, gpus.*.power_kw_per_gpu, idle_power_kw_per_gpu",
    )


def grid_limit(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets, grid_cols: np.ndarray) -> None:
    """``grid_limit``, for every s in S^a and t (g = q at sites without on-site options):
    g[s,t] <= grid_limit_mw[s] * open_site[s]."""
    act, nt = sets.active_site, sets.n_time
    n_rows = len(act) * nt
    act_t = np.repeat(act, nt)
    b.add_rows(
        "grid_limit", n_rows,
        [(np.arange(n_rows), grid_cols.ravel(), 1.0),
         (np.arange(n_rows), b.variables["open_site"].cols(act_t), -np.repeat(inputs["grid_limit_mw"].values[act], nt))],
        lb=None, ub=0.0, description="grid draw within the connection limit, zero if not opened",
        fields="sites.*.grid_limit_mw",
    )


def carbon_cap(b: LinearBuilder, inputs: xr.Dataset, grid_cols: np.ndarray, t_per_mw_step: np.ndarray) -> None:
    """``carbon_cap`` (if ``carbon.cap_t_per_year``): location-based emissions of grid imports of
    all sites, sum_{s,t} w_t eps[s,t] g[s,t] / 1000 <= cap."""
    cap = float(inputs.attrs.get("carbon_cap_t_per_year", np.nan))
    if np.isfinite(cap):
        b.add_rows("carbon_cap", 1, [(np.zeros(grid_cols.size, np.int64), grid_cols.ravel(), t_per_mw_step.ravel())],
                   lb=None, ub=cap, description="annual emissions of all sites within the cap")


def carbon_cap_country(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets, grid_cols: np.ndarray,
                       t_per_mw_step: np.ndarray) -> None:
    """``carbon_cap_country``, per country c of ``carbon.cap_t_per_year_by_country``:
    sum_{s in c, t} w_t eps[s,t] g[s,t] / 1000 <= cap_c."""
    countries = inputs["cap_country_carbon"].values
    if not len(countries):
        return
    nt = sets.n_time
    site_country = inputs["site_country"].values[sets.active_site]
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


def hourly_matching_grid_only(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``hourly_matching_grid_only`` (if ``carbon.hourly_matching`` > 0): q[s,t] <= 0 at active
    sites without on-site options (they cannot match any hour)."""
    if float(inputs.attrs.get("hourly_matching", 0.0)) <= 0:
        return
    act, nt = sets.active_site, sets.n_time
    only_grid = ~np.isin(act, sets.onsite_site)
    if only_grid.any():
        pw = b.variables["facility_power"].cols().reshape(len(act), nt)[only_grid].ravel()
        b.add_rows("hourly_matching_grid_only", pw.size, [(np.arange(pw.size), pw, 1.0)], lb=None, ub=0.0,
                   description="sites without carbon-free supply cannot meet an hourly-matching target")


def power_balance(b: LinearBuilder, rows: _OnsiteRows) -> None:
    """``power_balance``, for s in S^o and every t: grid, on-site generation and storage supply the
    facility; surplus is curtailed or exported,

    g[s,t] + sum_k cf_k[s,t] K_k[s] + d[s,t] - c[s,t] - k[s,t] - x_ex[s,t] = q[s,t]
    """
    v, r = b.variables, rows.r
    b.add_rows(
        "power_balance", len(r),
        [(r, v["grid_import"].cols(), 1.0), *rows.generation(b), (r, v["battery_discharge"].cols(), 1.0),
         (r, v["battery_charge"].cols(), -1.0), (r, v["curtailment"].cols(), -1.0), (r, v["export"].cols(), -1.0),
         (r, rows.power_at, -1.0)],
        lb=0.0, ub=0.0, description="supply equals facility power every hour",
    )


def curtailment_limit(b: LinearBuilder, rows: _OnsiteRows) -> None:
    """``curtailment_limit``: k[s,t] <= sum_k cf_k[s,t] K_k[s] (only on-site generation can be curtailed)."""
    r = rows.r
    b.add_rows(
        "curtailment_limit", len(r), [(r, b.variables["curtailment"].cols(), 1.0), *rows.generation(b, -1.0)],
        lb=None, ub=0.0, description="only on-site generation can be curtailed",
    )


def _previous_hour(inputs: xr.Dataset, nt: int) -> np.ndarray:
    """The hour before each hour, cyclic: over the period (contiguous hours) or within each day
    (representative or selected days, ``storage_cyclic`` attr ``day``)."""
    day = inputs["day"].values
    if inputs.attrs.get("storage_cyclic") == "day":
        starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])  # each day is one block of hours
        prev = np.arange(nt) - 1
        prev[starts] = np.r_[starts[1:], nt] - 1  # a day's first hour follows its last
        return prev
    return np.r_[nt - 1, np.arange(nt - 1)]


def battery_balance(b: LinearBuilder, rows: _OnsiteRows, prev: np.ndarray, eta: np.ndarray) -> None:
    """``battery_balance``, round-trip efficiency split evenly between charging and discharging, cyclic:
    e[s,t] = e[s,prev(t)] + sqrt(eta_s) c[s,t] - d[s,t] / sqrt(eta_s)  (``eta`` here is sqrt(eta_s))."""
    v, r, nt = b.variables, rows.r, rows.nt
    soc = v["battery_soc"].cols().reshape(-1, nt)
    b.add_rows(
        "battery_balance", len(r),
        [(r, soc.ravel(), 1.0), (r, soc[:, prev].ravel(), -1.0),
         (r, v["battery_charge"].cols(), -np.repeat(eta, nt)), (r, v["battery_discharge"].cols(), np.repeat(1 / eta, nt))],
        lb=0.0, ub=0.0, description="state of charge carried hour to hour, cyclic",
    )


def battery_limits(b: LinearBuilder, rows: _OnsiteRows) -> None:
    """``battery_energy_limit`` e[s,t] <= E[s]; ``battery_charge_limit`` c[s,t] <= B[s];
    ``battery_discharge_limit`` d[s,t] <= B[s]."""
    v, r, per = b.variables, rows.r, rows.per
    for name, var, cap in (("battery_energy_limit", "battery_soc", "battery_energy"),
                           ("battery_charge_limit", "battery_charge", "battery_power"),
                           ("battery_discharge_limit", "battery_discharge", "battery_power")):
        b.add_rows(name, len(r), [(r, v[var].cols(), 1.0), (r, v[cap].cols(per), -1.0)], lb=None, ub=0.0,
                   description=f"{var} within {cap}")


def export_onsite(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets, rows: _OnsiteRows, prev: np.ndarray,
                  eta: np.ndarray) -> None:
    """``export_onsite``, for every site with an export price and every t: exports, curtailment and
    on-site-origin battery charging within the hour's on-site generation plus on-site-origin discharge,

    x_ex[s,t] + k[s,t] + c_on[s,t] <= sum_k cf_k[s,t] K_k[s] + d_on[s,t]   (c_on, d_on only at s in S^bx);

    where a battery may feed exports, the on-site share of its flows is tracked by
    :func:`battery_onsite_balance` and :func:`battery_onsite_limits` (docs/math.md, "Exports")."""
    nt = rows.nt
    opt = onsite_options(inputs, sets)
    ex = np.flatnonzero(opt["export"])  # positions within the on-site sites
    if not len(ex):
        return
    v = b.variables
    r = np.arange(len(ex) * nt)
    terms = [(r, v["export"].cols().reshape(-1, nt)[ex].ravel(), 1.0),
             (r, v["curtailment"].cols().reshape(-1, nt)[ex].ravel(), 1.0),
             *rows.generation(b, -1.0, sites=ex, rows=r)]
    pool = opt["battery"][ex]  # export sites whose battery may feed exports, in the order of the pool variables
    if pool.any():
        rp = (np.flatnonzero(pool)[:, None] * nt + np.arange(nt)).ravel()  # their rows of export_onsite
        terms += [(rp, v["battery_charge_onsite"].cols(), 1.0), (rp, v["battery_discharge_onsite"].cols(), -1.0)]
    b.add_rows("export_onsite", len(r), terms, lb=None, ub=0.0,
               description="exports and curtailment come from the hour's on-site generation or on-site-origin "
                           "battery energy, never from grid imports")
    if pool.any():
        battery_onsite_balance(b, nt, ex[pool], prev, eta)
        battery_onsite_limits(b, nt, ex[pool])


def battery_onsite_balance(b: LinearBuilder, nt: int, sites: np.ndarray, prev: np.ndarray, eta: np.ndarray) -> None:
    """``battery_onsite_balance``, for s in S^bx and every t, with the efficiencies and cyclic hours
    of ``battery_balance``: e_on[s,t] = e_on[s,prev(t)] + sqrt(eta_s) c_on[s,t] - d_on[s,t] / sqrt(eta_s).
    ``sites`` are positions within the on-site sites."""
    v = b.variables
    nb = len(sites)
    rb = np.arange(nb * nt)
    e = np.repeat(eta[sites], nt)
    soc = v["battery_soc_onsite"].cols().reshape(nb, nt)
    b.add_rows(
        "battery_onsite_balance", nb * nt,
        [(rb, soc.ravel(), 1.0), (rb, soc[:, prev].ravel(), -1.0), (rb, v["battery_charge_onsite"].cols(), -e),
         (rb, v["battery_discharge_onsite"].cols(), 1 / e)],
        lb=0.0, ub=0.0, description="on-site-origin energy in the battery carried hour to hour, cyclic",
    )


def battery_onsite_limits(b: LinearBuilder, nt: int, sites: np.ndarray) -> None:
    """``battery_onsite_charge_limit`` c_on[s,t] <= c[s,t], ``battery_onsite_discharge_limit``
    d_on[s,t] <= d[s,t], ``battery_onsite_soc_limit`` e_on[s,t] <= e[s,t], for s in S^bx."""
    v = b.variables
    rb = np.arange(len(sites) * nt)
    for name, part, whole in (("battery_onsite_charge_limit", "battery_charge_onsite", "battery_charge"),
                              ("battery_onsite_discharge_limit", "battery_discharge_onsite", "battery_discharge"),
                              ("battery_onsite_soc_limit", "battery_soc_onsite", "battery_soc")):
        b.add_rows(name, len(rb), [(rb, v[part].cols(), 1.0),
                                   (rb, v[whole].cols().reshape(-1, nt)[sites].ravel(), -1.0)],
                   lb=None, ub=0.0, description=f"{part} within {whole}")


def export_limit(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets, rows: _OnsiteRows) -> None:
    """``export_limit``: x_ex[s,t] + g[s,t] <= grid_limit_mw[s] * open_site[s] (exports use the grid
    connection of an opened site)."""
    v, r, nt, o = b.variables, rows.r, rows.nt, sets.onsite_site
    grid_mw = np.repeat(inputs["grid_limit_mw"].values[o], nt)
    b.add_rows(
        "export_limit", len(r),
        [(r, v["export"].cols(), 1.0), (r, v["grid_import"].cols(), 1.0),
         (r, v["open_site"].cols(np.repeat(o, nt)), -grid_mw)],
        lb=None, ub=0.0, description="imports plus exports within the grid connection of an opened site",
    )


def hourly_matching(b: LinearBuilder, inputs: xr.Dataset, rows: _OnsiteRows) -> None:
    """``hourly_matching`` (if ``carbon.hourly_matching`` = h > 0), for s in S^o and every t:
    sum_k cf_k[s,t] K_k[s] - k[s,t] - x_ex[s,t] + d[s,t] - c[s,t] >= h q[s,t]."""
    h = float(inputs.attrs.get("hourly_matching", 0.0))
    if h <= 0:
        return
    v, r = b.variables, rows.r
    b.add_rows(
        "hourly_matching", len(r),
        [*rows.generation(b), (r, v["curtailment"].cols(), -1.0), (r, v["export"].cols(), -1.0),
         (r, v["battery_discharge"].cols(), 1.0), (r, v["battery_charge"].cols(), -1.0), (r, rows.power_at, -h)],
        lb=0.0, ub=None, description="on-site carbon-free supply covers the target share of each hour's load",
    )


def _onsite_costs(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """Annualised on-site capacity and fixed O&M (``onsite_supply``), export revenue (``exports``)."""
    o, v = sets.onsite_site, b.variables
    rate = inputs.attrs["discount_rate"]
    unit = objective_unit_usd(inputs)
    for t in TECHNOLOGIES:
        capex = np.nan_to_num(inputs[t.capex].values[o])
        life = np.nan_to_num(inputs[t.lifetime].values[o], nan=1.0)
        om = np.nan_to_num(inputs[t.fixed_om].values[o])
        b.add_cost(v[t.family].cols(), (capex * crf(rate, life) + om) / unit, "onsite_supply")
    blife = np.nan_to_num(inputs["battery_lifetime_years"].values[o], nan=1.0)
    b.add_cost(v["battery_energy"].cols(), np.nan_to_num(inputs["battery_capex_usd_per_mwh"].values[o])
               * crf(rate, blife) / unit, "onsite_supply")
    b.add_cost(v["battery_power"].cols(), np.nan_to_num(inputs["battery_capex_usd_per_mw"].values[o])
               * crf(rate, blife) / unit, "onsite_supply")
    export_price = np.nan_to_num(inputs["export_price_usd_per_mwh"].transpose("site", "time").values[o])
    b.add_cost(v["export"].cols(), -(export_price * inputs["weight_h"].values[None, :]).ravel() / unit, "exports")
