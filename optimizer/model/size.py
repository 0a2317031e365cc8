"""How big the planning model will be, counted from the sparse index sets before anything is built.

:func:`estimate` mirrors the families the concern modules add (``sites``, ``fleet``, ``routing``,
``power``): variables and rows per family from the set sizes, and nonzeros per row family exactly
(the builder drops zero coefficients, so capacity factors, carbon intensities and idle powers
that are zero are counted as the builder sees them). It only touches per-set and per-(site,
time) arrays, never anything of the model's size, so it takes milliseconds for a model of
millions of variables. ``tests/test_size.py`` checks it family by family against built models;
a new family in a concern module must be added here too.

Peak memory is an affine fit in variables and nonzeros to the peak resident memory of whole runs
(build, hand-off, 60 s of HiGHS branch-and-bound, results) of synthetic worlds and bundled
scenarios from 9 thousand to 2.7 million nonzeros, within 27% of every one of them
(``benchmarks/bench_memory.py``; ``docs/performance.md``, "Memory estimate and time limit").
HiGHS's search tree grows with time and is not a function of size: long branch-and-bound runs
of hard small models can go beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from optimizer.model import FAMILIES
from optimizer.model.power import floored_cf, onsite_options
from optimizer.model.sets import IndexSets
from optimizer.technologies import TECHNOLOGIES

BASE_BYTES = 0.33e9
"""Peak resident memory of a solve of a tiny model: interpreter, numpy, xarray, Pyomo, HiGHS."""
BYTES_PER_VARIABLE = 1650.0
"""Peak resident bytes per model variable (Pyomo VarData, column maps, HiGHS column data, results)."""
BYTES_PER_NONZERO = 900.0
"""Peak resident bytes per nonzero (CSR lists held by Pyomo, the compiled matrix, HiGHS's copies,
presolve, factorisation and search)."""


@dataclass(frozen=True)
class ModelSize:
    """Sizes of a model not yet built: totals and, per family, variables or (rows, nonzeros)."""

    variables: int
    integer_variables: int
    rows: int
    nonzeros: int
    variable_families: dict[str, int] = field(default_factory=dict, repr=False)
    row_families: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    @property
    def peak_memory_bytes(self) -> float:
        """Estimated peak resident memory of solving this model (build, hand-off, HiGHS)."""
        return BASE_BYTES + BYTES_PER_VARIABLE * self.variables + BYTES_PER_NONZERO * self.nonzeros

    @property
    def peak_memory_gb(self) -> float:
        return self.peak_memory_bytes / 1e9

    def describe(self) -> str:
        """``4.1M variables, 12.3M nonzeros, ~9.2 GB peak``."""
        return (f"{_count(self.variables)} variables, {_count(self.nonzeros)} nonzeros, "
                f"~{self.peak_memory_gb:.3g} GB peak")


def _count(n: int) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


class _Tally:
    def __init__(self) -> None:
        self.vars: dict[str, int] = {}
        self.integer = 0
        self.rows: dict[str, tuple[int, int]] = {}

    def var(self, name: str, size: int) -> None:
        self.vars[name] = int(size)
        if FAMILIES[name].integer:  # integrality as the family declares it
            self.integer += int(size)

    def row(self, name: str, n_rows: int, nonzeros: int) -> None:
        self.rows[name] = (int(n_rows), int(nonzeros))


def _nz(a: np.ndarray) -> int:
    return int(np.count_nonzero(a))


def estimate(inputs: xr.Dataset, sets: IndexSets) -> ModelSize:
    """Variables, integer variables, rows and nonzeros of ``build_model(inputs, sets=sets)``."""
    t = _Tally()
    nt, nf, nr, nu = sets.n_time, sets.n_fleet, sets.n_route, sets.n_unmet
    act, o = sets.active_site, sets.onsite_site
    na, no = len(act), len(o)
    g, s = sets.fleet_gpu, sets.fleet_site
    k, busy = sets.fleet_gpus_per_replica, sets.fleet_busy_gpus_per_mtok

    # sites, fleet, routing, power: declare
    t.var("open_site", sets.n_site)
    t.var("replicas", nf)
    dm, dl = np.nonzero(sets.demanded)
    flex = inputs["deferrable_share"].values[dl] > 0
    n_flex = int(flex.sum())
    t.var("production", nf * nt)
    t.var("delivery", nr * nt)
    t.var("unserved", nu * nt)
    t.var("flexible_delivery", n_flex * nt)
    t.var("facility_power", na * nt)
    opt = onsite_options(inputs, sets)
    n_pool = int((opt["battery"] & opt["export"]).sum())
    if no:
        for name in ("grid_import", "battery_charge", "battery_discharge", "battery_soc", "curtailment", "export"):
            t.var(name, no * nt)
        for name in (*(tech.family for tech in TECHNOLOGIES), "battery_energy", "battery_power"):
            t.var(name, no)
        if n_pool:
            for name in ("battery_charge_onsite", "battery_discharge_onsite", "battery_soc_onsite"):
                t.var(name, n_pool * nt)

    # sites.constrain
    t.row("site_open_link", nf, nf + _nz(sets.fleet_max_replicas))
    # fleet.constrain
    t.row("replica_capacity", nf * nt, nt * (_nz(busy) + _nz(k)))
    n_cap = inputs.sizes.get("cap", 0)
    if n_cap:
        country = inputs["site_country"].values[s]
        member = inputs["cap_gpu"].transpose("cap", "gpu").values[:, g] & (
            country[None, :] == inputs["cap_country"].values[:, None])
        t.row("supply_cap", n_cap, _nz(member & (k != 0)[None, :]))
    # routing.constrain
    t.row("demand_balance", len(dm) * nt, (nr + nu + n_flex) * nt)
    if n_flex:
        n_day = int(inputs["day"].values.max()) + 1
        t.row("flexible_daily_balance", n_flex * n_day, n_flex * nt)
    n_sl = len(np.unique(s * max(1, inputs.sizes["llm"]) + sets.fleet_llm))
    t.row("production_balance", n_sl * nt, (nf + nr) * nt)

    # power.constrain
    pue = inputs["pue"].transpose("site", "time").values
    pue_nz = np.count_nonzero(pue, axis=1)  # per site
    idle = inputs["idle_power_kw_per_gpu"].values[g]
    dyn = inputs["power_kw_per_gpu"].values[g] - idle
    t.row("facility_power_balance", na * nt,
          na * nt + int(pue_nz[s][(idle * k) != 0].sum()) + int(pue_nz[s][(dyn * busy) != 0].sum()))
    t.row("grid_limit", na * nt, na * nt + nt * _nz(inputs["grid_limit_mw"].values[act]))
    weight = inputs["weight_h"].values
    carbon = inputs["carbon_kg_per_mwh"].transpose("site", "time").values[act]
    per_step = (carbon * weight[None, :]) != 0  # (active site, time)
    if np.isfinite(float(inputs.attrs.get("carbon_cap_t_per_year", np.nan))):
        t.row("carbon_cap", 1, _nz(per_step))
    countries = inputs["cap_country_carbon"].values
    if len(countries):
        site_country = inputs["site_country"].values[act]
        nz = sum(_nz(per_step[site_country == c]) for c in countries)
        t.row("carbon_cap_country", len(countries), nz)
    h = float(inputs.attrs.get("hourly_matching", 0.0))
    if h > 0:
        only_grid = int((~np.isin(act, o)).sum())
        if only_grid:
            t.row("hourly_matching_grid_only", only_grid * nt, only_grid * nt)
    if no:
        _onsite_rows(t, inputs, sets, opt, h)

    rows = sum(r for r, _ in t.rows.values())
    return ModelSize(sum(t.vars.values()), t.integer, rows, sum(n for _, n in t.rows.values()),
                     t.vars, t.rows)


def _onsite_rows(t: _Tally, inputs: xr.Dataset, sets: IndexSets, opt: dict[str, np.ndarray], h: float) -> None:
    nt, o = sets.n_time, sets.onsite_site
    no = len(o)
    r = no * nt
    gen = [floored_cf(inputs[tech.capacity_factor].transpose("site", "time").values[o]) != 0  # (on-site site, time)
           for tech in TECHNOLOGIES]
    cf_nz = sum(_nz(g) for g in gen)
    t.row("power_balance", r, 6 * r + cf_nz)
    t.row("curtailment_limit", r, r + cf_nz)
    day = inputs["day"].values
    if inputs.attrs.get("storage_cyclic") == "day":
        starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        prev = np.arange(nt) - 1
        prev[starts] = np.r_[starts[1:], nt] - 1
    else:
        prev = np.r_[nt - 1, np.arange(nt - 1)]
    soc_nz = nt + _nz(prev != np.arange(nt))  # soc[t] and soc[prev t] share an entry where prev t is t
    eta = np.sqrt(np.nan_to_num(inputs["battery_round_trip_efficiency"].values[o], nan=1.0))
    t.row("battery_balance", r, no * soc_nz + nt * _nz(eta) + nt * _nz(1 / eta))
    for name in ("battery_energy_limit", "battery_charge_limit", "battery_discharge_limit"):
        t.row(name, r, 2 * r)
    ex = np.flatnonzero(opt["export"])
    if len(ex):
        pool = opt["battery"][ex]
        nb = int(pool.sum())
        t.row("export_onsite", len(ex) * nt, 2 * len(ex) * nt + sum(_nz(g[ex]) for g in gen) + 2 * nb * nt)
        if nb:
            e = eta[ex[pool]]
            t.row("battery_onsite_balance", nb * nt, nb * soc_nz + nt * _nz(e) + nt * _nz(1 / e))
            for name in ("battery_onsite_charge_limit", "battery_onsite_discharge_limit", "battery_onsite_soc_limit"):
                t.row(name, nb * nt, 2 * nb * nt)
    t.row("export_limit", r, 2 * r + nt * _nz(inputs["grid_limit_mw"].values[o]))
    if h > 0:
        t.row("hourly_matching", r, 5 * r + cf_nz)
