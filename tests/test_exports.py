"""Exports are on-site surplus, never grid power resold (docs/math.md, "Exports": ``export_onsite``)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer import solve
from optimizer.scenario import scenario_from_dict

SUN = [1.0] * 12 + [0.0] * 12
TOL_MW = 1e-6


@pytest.fixture
def flat(tiny: dict) -> dict:
    """Tiny with a flat 0.144 MW load: idle = full power, PUE 1 (120 GPUs x 1.2 kW)."""
    tiny["gpus"]["h100"]["idle_power_kw_per_gpu"] = 1.2
    tiny["sites"]["texas"]["pue"] = 1.0
    return tiny


def _without_export(d: dict) -> dict:
    out = copy.deepcopy(d)
    out["sites"]["texas"].pop("export_price_usd_per_mwh", None)
    return out


def test_issue_reproduction_no_longer_resells_grid_power(tiny):
    # solar offered but with no sun: nothing on site can be exported, whatever the feed-in tariff
    tiny["sites"]["texas"].update(solar={"capex_usd_per_mw": 1.0e7, "capacity_factor": 0},
                                  export_price_usd_per_mwh=100)
    plan = solve(scenario_from_dict(tiny))
    ds, s = plan.dataset, plan.summary
    assert float(ds["export_mw"].max()) == 0.0
    assert s["export_revenue_usd_per_year"] == 0.0
    assert s["cost_usd_per_year"] > 0 and s["cost_per_mtok_usd"] > 0
    base = solve(scenario_from_dict(_without_export(tiny))).summary
    assert s["cost_usd_per_year"] == pytest.approx(base["cost_usd_per_year"], rel=1e-9)


def test_battery_alone_cannot_sell_grid_energy(flat):
    # buy at 20 by night, sell at 200 by day: 0.81 x 200 > 20, so a battery arbitrage would pay
    flat["sites"]["texas"].update(
        energy_price_usd_per_mwh=[60.0] * 12 + [20.0] * 12, export_price_usd_per_mwh=200,
        battery={"capex_usd_per_mwh": 1000, "capex_usd_per_mw": 1000, "round_trip_efficiency": 0.81})
    plan = solve(scenario_from_dict(flat))
    assert float(plan.dataset["export_mw"].max()) == 0.0
    base = solve(scenario_from_dict(_without_export(flat))).summary
    assert plan.summary["objective_usd_per_year"] == pytest.approx(base["objective_usd_per_year"], rel=1e-9)


def test_battery_exports_stored_solar_at_night_by_hand(flat):
    """1 MW of free solar in the 12 sunny hours, a free battery (round trip 0.81), feed-in 10 USD/MWh
    by day and 200 by night, grid at 60. Storing solar and selling it at night earns 0.81 x 200 = 162
    per MWh of solar, more than the 60 it saves on site or the 10 it earns by day: all solar goes into
    the battery (the day's load comes from the grid), and the night exports 12 x 0.81 MWh."""
    flat["sites"]["texas"].update(
        solar={"capex_usd_per_mw": 1.0, "capacity_factor": SUN, "max_mw": 1.0},
        battery={"capex_usd_per_mwh": 1.0, "capex_usd_per_mw": 1.0, "round_trip_efficiency": 0.81},
        export_price_usd_per_mwh=[10.0] * 12 + [200.0] * 12)
    ds = solve(scenario_from_dict(flat)).dataset.isel(site=0)
    assert float(ds["export_mw"].values[12:].sum()) == pytest.approx(12 * 0.81, rel=1e-6)
    np.testing.assert_allclose(ds["export_mw"].values[:12], 0.0, atol=TOL_MW)
    np.testing.assert_allclose(ds["battery_charge_onsite_mw"].values[:12], 1.0, rtol=1e-6)
    np.testing.assert_allclose(ds["grid_import_mw"].values, 0.144, rtol=1e-6)
    assert float(ds["battery_soc_onsite_mwh"].max()) == pytest.approx(12 * math.sqrt(0.81), rel=1e-6)


def _hour_series(draw: st.DrawFn, lo: float, hi: float) -> list[float]:
    return [round(draw(st.floats(lo, hi)), 2) for _ in range(24)]


@st.composite
def onsite_worlds(draw: st.DrawFn) -> dict:
    """Random prices (feed-in tariffs above the energy price included), sun, wind and battery options."""
    return {
        "energy": _hour_series(draw, 10.0, 120.0),
        "export": _hour_series(draw, 0.0, 300.0),
        "sun": draw(st.sampled_from([[0.0] * 24, SUN, [0.3] * 24])),
        "solar_capex": draw(st.sampled_from([1e5, 8e5, 5e6])),
        "wind": draw(st.booleans()),
        "battery": draw(st.booleans()),
    }


def _world(flat: dict, w: dict) -> dict:
    d = copy.deepcopy(flat)
    site = d["sites"]["texas"]
    site.update(energy_price_usd_per_mwh=w["energy"], export_price_usd_per_mwh=w["export"],
                solar={"capex_usd_per_mw": w["solar_capex"], "capacity_factor": w["sun"], "max_mw": 2.0})
    if w["wind"]:
        site["wind"] = {"capex_usd_per_mw": 1.3e6, "capacity_factor": [0.1 + 0.8 * (h % 5 == 0) for h in range(24)],
                        "max_mw": 1.0}
    if w["battery"]:
        site["battery"] = {"capex_usd_per_mwh": 5e4, "capex_usd_per_mw": 1e4, "round_trip_efficiency": 0.85}
    return d


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(w=onsite_worlds())
def test_no_hour_exports_more_than_its_onsite_energy(flat, w):
    ds = solve(scenario_from_dict(_world(flat, w))).dataset.isel(site=0)
    gen = ds["solar_generation_mw"] + ds["wind_generation_mw"]
    exported = ds["export_mw"] + ds["curtailed_mw"] + ds["battery_charge_onsite_mw"]
    # export_onsite, hour by hour: nothing imported is sold (or curtailed, or stored as on-site energy)
    assert (exported - gen - ds["battery_discharge_onsite_mw"]).max() <= TOL_MW
    assert (ds["export_mw"] - gen - ds["battery_discharge_mw"]).max() <= TOL_MW
    for part, whole in (("battery_charge_onsite_mw", "battery_charge_mw"),
                        ("battery_discharge_onsite_mw", "battery_discharge_mw"),
                        ("battery_soc_onsite_mwh", "battery_soc_mwh")):
        assert (ds[part] - ds[whole]).max() <= TOL_MW
    if not w["sun"][0] and not w["sun"][12] and not w["wind"]:  # nothing generated on site
        assert float(ds["export_mw"].max()) <= TOL_MW


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(w=onsite_worlds())
def test_without_generation_an_export_price_changes_nothing(flat, w):
    w = dict(w, sun=[0.0] * 24, wind=False)
    d = _world(flat, w)
    with_price = solve(scenario_from_dict(d)).summary
    without = solve(scenario_from_dict(_without_export(d))).summary
    assert with_price["export_revenue_usd_per_year"] == 0.0
    assert with_price["objective_usd_per_year"] == pytest.approx(without["objective_usd_per_year"], rel=1e-9)
    assert with_price["cost_usd_per_year"] > 0
