"""Power and time: on-site supply and storage, carbon, flexible work, hourly PUE, representative days."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from optimizer import solve
from optimizer.scenario import scenario_from_dict

SUN = [1.0] * 12 + [0.0] * 12  # full sun for 12 hours, none for 12


@pytest.fixture
def flat(tiny: dict) -> dict:
    """Tiny with a flat 0.144 MW load: idle = full power, PUE 1 (120 GPUs x 1.2 kW)."""
    tiny["gpus"]["h100"]["idle_power_kw_per_gpu"] = 1.2
    tiny["sites"]["texas"]["pue"] = 1.0
    return tiny


def test_off_grid_solar_buys_exactly_the_battery_the_arithmetic_says(flat):
    flat["sites"]["texas"].update(
        grid_limit_mw=0,
        solar={"capex_usd_per_mw": 800000, "capacity_factor": SUN},
        battery={"capex_usd_per_mwh": 200000, "capex_usd_per_mw": 50000, "round_trip_efficiency": 0.81},
    )
    ds = solve(scenario_from_dict(flat)).dataset
    p = 0.144  # MW, flat
    eta = 0.81
    assert float(ds["solar_mw"].sum()) == pytest.approx(p * (1 + 1 / eta), rel=1e-6)  # day load + charging
    assert float(ds["battery_mwh"].sum()) == pytest.approx(12 * p / math.sqrt(eta), rel=1e-6)  # night
    assert float(ds["battery_mw"].sum()) == pytest.approx(p / eta, rel=1e-6)  # charging power binds
    assert float(ds["grid_import_mw"].sum()) == pytest.approx(0, abs=1e-9)
    night = ds["battery_discharge_mw"].isel(site=0).values[12:]
    np.testing.assert_allclose(night, p, rtol=1e-6)


def test_cheap_solar_on_grid_site_reduces_imports_and_curtails_nothing_it_can_use(flat):
    flat["sites"]["texas"]["solar"] = {"capex_usd_per_mw": 1000, "capacity_factor": SUN, "max_mw": 0.1}
    ds = solve(scenario_from_dict(flat)).dataset
    assert float(ds["solar_mw"].sum()) == pytest.approx(0.1)
    np.testing.assert_allclose(ds["grid_import_mw"].isel(site=0).values[:12], 0.044, rtol=1e-6)
    np.testing.assert_allclose(ds["grid_import_mw"].isel(site=0).values[12:], 0.144, rtol=1e-6)


def test_binding_carbon_cap_raises_cost_and_reports_its_shadow_price(flat):
    # solar at 5 M USD/MW costs ~107 USD/MWh here: dearer than the grid until the cap binds
    flat["sites"]["texas"]["solar"] = {"capex_usd_per_mw": 5e6, "capacity_factor": SUN}
    base = solve(scenario_from_dict(flat)).summary
    assert base["co2_t_per_year"] == pytest.approx(0.144 * 8760 * 380 / 1000, rel=1e-6)  # no solar built
    cap = 0.6 * base["co2_t_per_year"]
    flat["carbon"] = {"cap_t_per_year": cap}
    capped = solve(scenario_from_dict(flat)).summary
    assert capped["co2_t_per_year"] == pytest.approx(cap, rel=1e-6)
    assert capped["objective_usd_per_year"] > base["objective_usd_per_year"]
    price = capped["carbon_shadow_price_usd_per_t"]
    assert price > 0
    flat["carbon"] = {"cap_t_per_year": cap - 1.0}
    tighter = solve(scenario_from_dict(flat)).summary
    assert tighter["objective_usd_per_year"] - capped["objective_usd_per_year"] == pytest.approx(price, rel=1e-3)


def test_carbon_price_enters_the_objective(flat):
    base = solve(scenario_from_dict(flat)).summary
    flat["carbon"] = {"price_usd_per_t": 100}
    priced = solve(scenario_from_dict(flat)).summary
    assert priced["carbon_cost_usd_per_year"] == pytest.approx(100 * base["co2_t_per_year"], rel=1e-9)
    assert priced["objective_usd_per_year"] == pytest.approx(base["objective_usd_per_year"]
                                                             + priced["carbon_cost_usd_per_year"], rel=1e-9)


def test_hourly_matching_covers_each_hour_on_site(flat):
    flat["sites"]["texas"]["solar"] = {"capex_usd_per_mw": 800000, "capacity_factor": SUN}
    flat["sites"]["texas"]["battery"] = {"capex_usd_per_mwh": 200000, "round_trip_efficiency": 0.81}
    flat["carbon"] = {"hourly_matching": 0.5}
    ds = solve(scenario_from_dict(flat)).dataset.isel(site=0)
    clean = (ds["solar_generation_mw"] - ds["curtailed_mw"] - ds["export_mw"] + ds["battery_discharge_mw"]
             - ds["battery_charge_mw"])
    assert bool((clean >= 0.5 * ds["facility_power_mw"] - 1e-9).all())
    assert float(ds["grid_import_mw"].max()) == pytest.approx(0.072, rel=1e-6)


def test_deferrable_work_moves_to_cheap_hours_within_the_day(tiny):
    tiny["sites"]["texas"]["energy_price_usd_per_mwh"] = [10.0] * 6 + [300.0] * 18
    tiny["gpus"]["h100"]["capex_usd_per_gpu"] = 1.0
    tiny["gpus"]["h100"]["idle_power_kw_per_gpu"] = 0.0  # spare GPUs cost (almost) nothing to keep
    tiny["sites"]["texas"]["build_cost_usd_per_mw"] = 0.0
    tiny["llms"]["llama-70b"]["deferrable_share"] = 0.5
    ds = solve(scenario_from_dict(tiny)).dataset
    served = ds["delivered_tokens_per_s"].sum("site").isel(market=0, llm=0).values
    requested = ds["demand_output_tokens_per_s"].isel(market=0, llm=0).values
    assert served.sum() == pytest.approx(requested.sum(), rel=1e-9)  # all served within the day
    np.testing.assert_allclose(served[6:], 0.5 * requested[6:], rtol=1e-6)  # only the firm half when dear
    assert served[:6].min() > requested[:6].max()


def test_hourly_pue_drives_facility_power():
    sc = scenario_from_dict({
        "name": "pue", "time": {"start": "2025-07-01", "days": 1}, "sites": {"include": ["us-az"]},
        "gpus": {"include": ["h100"]}, "llms": {"include": ["llama-3.1-8b"]},
        "markets": {"include": ["us-west"], "defaults": {"demand_share": {"llama-3.1-8b": 1e-4}}},
    })
    pue = np.asarray(sc.sites["us-az"].pue)
    assert pue.std() > 0  # hourly, from temperature
    ds = solve(sc).dataset.sel(site="us-az")
    ratio = (ds["facility_power_mw"] / ds["it_power_mw"]).values
    np.testing.assert_allclose(ratio, pue, rtol=1e-6)


@pytest.mark.slow
def test_representative_days_match_the_full_year_and_keep_storage_cyclic_per_day():
    world = {
        "name": "year", "time": {"year": 2025}, "unserved_penalty_usd_per_mtok": 50,
        "sites": {"include": ["us-az"], "us-az": {
            "solar": {"capex_usd_per_mw": 1.0e6},
            "battery": {"capex_usd_per_mwh": 2.5e5, "round_trip_efficiency": 0.85}}},
        "gpus": {"include": ["h100"]}, "llms": {"include": ["llama-3.1-8b"]},
        "markets": {"include": ["us-west"], "defaults": {"demand_share": {"llama-3.1-8b": 2e-4}}},
    }
    full = solve(scenario_from_dict(copy.deepcopy(world)))
    world["time"]["representative_days"] = 12
    rep = solve(scenario_from_dict(world))
    assert rep.scenario.time.steps == 24 * len(rep.scenario.time.day_weights)
    assert sum(rep.scenario.time.day_weights) == pytest.approx(365)
    err = abs(rep.summary["objective_usd_per_year"] / full.summary["objective_usd_per_year"] - 1)
    assert err < 0.03, f"12 typical days are {err:.2%} off the full year"
    ds = rep.dataset.isel(site=0)
    eta = math.sqrt(0.85)
    net = (eta * ds["battery_charge_mw"] - ds["battery_discharge_mw"] / eta).values.reshape(-1, 24).sum(axis=1)
    np.testing.assert_allclose(net, 0, atol=1e-6)  # each typical day ends where it started


def test_verify_fixes_the_fleet_and_redispatches_every_hour(tiny):
    from optimizer.verify import verify

    tiny["sites"]["texas"]["energy_price_usd_per_mwh"] = [50.0] * 12 + [90.0] * 12
    full = scenario_from_dict(copy.deepcopy(tiny))
    plan = solve(full)
    same = verify(plan, full)  # verifying a plan made on all hours reproduces its cost
    assert same["verified_objective_usd_per_year"] == pytest.approx(plan.summary["objective_usd_per_year"], rel=1e-6)
    tiny["markets"]["us-east"]["demand_output_tokens_per_s"]["llama-70b"] = 150000
    tiny["unserved_penalty_usd_per_mtok"] = 50
    more = scenario_from_dict(tiny)
    check = verify(plan, more)  # the 120-GPU fleet cannot serve 1.5x the demand
    assert check["verified_unserved_tokens_per_year"] > 0
    assert check["objective_difference"] > 0


def test_a_leap_year_without_29_february_still_counts_as_contiguous_hours():
    from optimizer.scenario import TimeSpec

    for year in (2024, 2025):
        spec = TimeSpec(year=year)
        assert spec.steps == 8760 and spec.contiguous  # storage cycles over the year, not per day
    assert not TimeSpec(dates=["2025-01-01", "2025-01-03"]).contiguous
