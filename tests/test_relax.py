"""The time-aggregation relaxation: its optimum never exceeds the full optimum, equals it when every
hour is its own group, and the fast strategy built on it reports gaps that hold."""

from __future__ import annotations

import importlib
import logging

import numpy as np
import pytest
import yaml

from optimizer import SolveOptions, highs, solve
from optimizer.fast.progress import Progress
from optimizer.fast.relax import (
    PEAK_HOURS,
    cluster_steps,
    relaxed_model,
    sites_only,
    unsupported,
)
from optimizer.fast.relax import group_inputs as aggregate_inputs
from optimizer.inputs import build_inputs
from optimizer.model import build_model
from optimizer.model.objective import objective_unit_usd
from optimizer.model.sets import build_sets
from optimizer.scenario import scenario_from_dict

HOURS = 48


def _world(synthetic_scenario, seed: int) -> dict:
    """A small synthetic world with every hour-varying input the relaxation handles: hourly PUE,
    on-site solar and wind with exports, a carbon price and a binding-ish carbon cap."""
    d = yaml.safe_load(synthetic_scenario(6, 5, 2, HOURS, seed=seed).to_yaml())
    rng = np.random.default_rng(seed)
    sun = np.clip(np.sin((np.arange(HOURS) % 24 - 6) / 12 * np.pi), 0, None)
    for i, s in enumerate(d["sites"].values()):
        s["pue"] = (1.1 + 0.3 * rng.random(HOURS)).round(3).tolist()
        if i % 2 == 0:
            s["solar"] = {"capex_usd_per_mw": 4e5, "capacity_factor": (sun * rng.uniform(0.6, 1.0, HOURS)).round(4).tolist()}
            s["wind"] = {"capex_usd_per_mw": 9e5, "capacity_factor": rng.uniform(0.0, 0.6, HOURS).round(4).tolist(),
                         "max_mw": 50}
            s["export_price_usd_per_mwh"] = rng.uniform(-5, 60, HOURS).round(2).tolist()
            s["grid_limit_mw"] = 40
    d["carbon"] = {"price_usd_per_t": 40, "cap_t_per_year": 2e5}
    return d


def _relaxed_optimum_usd(inputs, sets, labels, peak_hours: int = PEAK_HOURS) -> float:
    pm, unit = relaxed_model(inputs, sets, labels, peak_hours)
    sf = highs.compile_model(pm.pyomo)
    out = highs.run(highs.to_highs(sf, {"mip_rel_gap": 1e-9}), True)
    assert out.status == "optimal"
    return out.objective * unit


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relaxation_never_exceeds_the_optimum_and_is_exact_on_single_hours(seed, synthetic_scenario):
    sc = scenario_from_dict(_world(synthetic_scenario, seed))
    opt = solve(sc, SolveOptions(strategy="mip", mip_gap=1e-9)).summary["objective_usd_per_year"]
    inputs = build_inputs(sc)
    sets = build_sets(inputs)
    assert unsupported(inputs, sets) is None
    assert _relaxed_optimum_usd(inputs, sets, np.arange(HOURS)) == pytest.approx(opt, rel=1e-7)
    bounds = []
    for groups in (1, 4, 12):
        labels = cluster_steps(inputs, groups, seed=seed)
        bound = _relaxed_optimum_usd(inputs, sets, labels)
        assert bound <= opt * (1 + 1e-9)
        # the peak-hour rows only ever tighten the bound
        assert bound >= _relaxed_optimum_usd(inputs, sets, labels, peak_hours=0) * (1 - 1e-9)
        bounds.append(bound)
    assert bounds[0] < opt  # the hours really differ: one group loses something


def test_peak_rows_size_the_fleet_for_the_peak_hour_of_one_group(synthetic_scenario):
    """One site, one accelerator, one market, one LLM, flat prices, demand 1e5 then 3e5 tokens/s.
    On one group of both hours, the mean (2e5) would size the fleet; with the peak-hour rows the
    relaxation needs the fleet of the 3e5 hour and equals the optimum (its energy cost is the same
    averaged; with two accelerator types the mean could run on the more frugal one alone)."""
    d = yaml.safe_load(synthetic_scenario(1, 1, 1, 2, variation=0.0).to_yaml())
    gpu = next(iter(d["gpus"]))
    d["gpus"] = {gpu: d["gpus"][gpu]}
    d["llms"]["llm0"]["throughput"] = {gpu: d["llms"]["llm0"]["throughput"][gpu]}
    site = next(iter(d["sites"].values()))
    site.update(energy_price_usd_per_mwh=50.0, grid_limit_mw=1000)
    market = next(iter(d["markets"].values()))
    market["demand_output_tokens_per_s"] = {"llm0": [1e5, 3e5]}
    d["latency_ms"] = {s: {m: 10.0 for m in d["markets"]} for s in d["sites"]}
    sc = scenario_from_dict(d)
    opt = solve(sc, SolveOptions(strategy="mip", mip_gap=1e-9)).summary["objective_usd_per_year"]
    inputs = build_inputs(sc)
    sets = build_sets(inputs)
    one = np.zeros(2, int)
    assert _relaxed_optimum_usd(inputs, sets, one, peak_hours=0) < opt * (1 - 1e-3)
    assert _relaxed_optimum_usd(inputs, sets, one, peak_hours=1) == pytest.approx(opt, rel=1e-6)


def test_each_group_averages_demand_and_takes_the_cheapest_hour_of_energy(synthetic_scenario):
    sc = scenario_from_dict(_world(synthetic_scenario, 0))
    inputs = build_inputs(sc)
    labels = np.repeat([0, 1], HOURS // 2)
    agg = aggregate_inputs(inputs, labels)
    dem = inputs["demand_output_tokens_per_s"].values
    np.testing.assert_allclose(agg["demand_output_tokens_per_s"].values[..., 0], dem[..., :24].mean(axis=-1))
    assert agg["weight_h"].values.sum() == pytest.approx(inputs["weight_h"].values.sum())
    grid_only = ~inputs["has_onsite"].values
    price = inputs["energy_price_usd_per_mwh"].values[grid_only][:, :24]
    pue = inputs["pue"].values[grid_only][:, :24]
    carbon = inputs["carbon_kg_per_mwh"].values[grid_only][:, :24]
    cost = (price + 40 * carbon / 1000) * pue  # USD per MWh of IT load
    got = (agg["energy_price_usd_per_mwh"].values + 40 * agg["carbon_kg_per_mwh"].values / 1000) * agg["pue"].values
    np.testing.assert_allclose(got[grid_only, 0], cost.min(axis=1))


def test_relaxation_is_not_offered_where_hours_are_linked_otherwise(tiny):
    tiny["sites"]["texas"]["battery"] = {"capex_usd_per_mwh": 2e5, "capex_usd_per_mw": 5e4}
    inputs = build_inputs(scenario_from_dict(tiny))
    assert "batteries" in unsupported(inputs, build_sets(inputs))
    tiny["sites"]["texas"].pop("battery")
    tiny["llms"][next(iter(tiny["llms"]))]["deferrable_share"] = 0.3
    inputs = build_inputs(scenario_from_dict(tiny))
    assert "deferrable" in unsupported(inputs, build_sets(inputs))


def test_fast_strategy_with_a_battery_falls_back_to_the_lp_bound(tiny):
    tiny["sites"]["texas"]["battery"] = {"capex_usd_per_mwh": 2e5, "capex_usd_per_mw": 5e4}
    sc = scenario_from_dict(tiny)
    exact = solve(sc, SolveOptions(strategy="mip", mip_gap=1e-9)).summary
    fast = solve(sc, SolveOptions(strategy="fast", mip_gap=1e-6)).summary
    assert "fast_rounds" not in fast
    assert fast["lower_bound_usd_per_year"] <= exact["objective_usd_per_year"] * (1 + 1e-9)
    assert fast["objective_usd_per_year"] == pytest.approx(exact["objective_usd_per_year"], rel=1e-5)


def test_model_cut_down_to_open_sites_equals_the_model_with_those_sites_fixed(synthetic_scenario):
    sc = synthetic_scenario(8, 6, 2, 24, seed=3)
    plan = solve(sc, SolveOptions(strategy="mip", mip_gap=1e-9))
    open_site = plan.dataset["open"].values.astype(float)
    inputs = build_inputs(sc)
    pm = build_model(inputs, sets=sites_only(build_sets(inputs), open_site))
    out = highs.run(highs.to_highs(highs.compile_model(pm.pyomo), {"mip_rel_gap": 1e-9}), True)
    assert out.objective * objective_unit_usd(inputs) == pytest.approx(
        plan.summary["objective_usd_per_year"], rel=1e-7)


@pytest.mark.slow
def test_fast_rounds_report_a_bound_that_only_rises_and_a_plan_that_only_falls(caplog, synthetic_scenario):
    caplog.set_level(logging.INFO, logger="optimizer")
    sc = synthetic_scenario(10, 8, 3, 72, seed=4)
    exact = solve(sc, SolveOptions(strategy="mip", mip_gap=1e-9)).summary["objective_usd_per_year"]
    fast = solve(sc, SolveOptions(strategy="fast", mip_gap=1e-4)).summary
    rounds = fast["fast_rounds"]
    assert len(rounds) >= 1
    lows = [r["lower_bound_usd"] for r in rounds]
    best = [r["best_usd"] for r in rounds]
    assert lows == sorted(lows) and best == sorted(best, reverse=True)
    assert lows[-1] <= exact * (1 + 1e-9) <= best[-1] * (1 + 2e-9)
    assert fast["objective_usd_per_year"] <= exact * (1 + fast["mip_gap"] + 1e-9)
    assert any("round 1 done" in r.getMessage() for r in caplog.records)


def test_progress_keeps_the_best_plan_and_the_highest_bound(caplog):
    caplog.set_level(logging.INFO, logger="optimizer")
    p = Progress(every_s=0.0)
    assert not np.isfinite(p.gap)
    assert p.offer_plan(110.0) and not p.offer_plan(120.0)
    p.offer_bound(90.0)
    p.offer_bound(80.0)
    assert p.lower_usd == 90.0 and p.gap == pytest.approx(20 / 110)
    p.report("test")
    assert "gap 18.18%" in caplog.records[-1].getMessage()


def test_progress_reports_from_a_background_thread_while_the_main_thread_waits(caplog):
    import time

    caplog.set_level(logging.INFO, logger="optimizer")
    p = Progress(every_s=0.2)
    p.stage = "waiting"
    with p.running():
        time.sleep(1.0)  # stands for HiGHS, which releases the GIL while it solves
    beats = [r for r in caplog.records if "waiting" in r.getMessage()]
    assert 3 <= len(beats) <= 6


@pytest.mark.slow
def test_verification_in_week_chunks_equals_one_model_of_the_whole_horizon(synthetic_scenario):
    v = importlib.import_module("optimizer.verify")  # optimizer.verify is also the function

    sc = synthetic_scenario(5, 4, 2, 24 * 35, seed=5)  # 35 days: above CHUNK_ABOVE_STEPS
    plan = solve(sc, SolveOptions(strategy="mip", mip_gap=1e-6))
    inputs = build_inputs(sc)
    sets = build_sets(inputs)
    chunks = v._chunks(inputs, sets)
    assert chunks is not None and len(chunks) == 5
    one = v.solve_model(sc, SolveOptions(), fix=v.investments(plan, inputs, sets)).summary
    parts = v._dispatch_in_chunks(inputs, sets, v.investments(plan, inputs, sets), chunks, SolveOptions())
    # a plan made on all hours, verified on all hours, reproduces its own cost either way
    assert one["objective_usd_per_year"] == pytest.approx(plan.summary["objective_usd_per_year"], rel=1e-6)
    for key in ("objective_usd_per_year", "cost_usd_per_year", "energy_cost_usd_per_year",
                "unserved_tokens_per_year", "tokens_per_year", "co2_t_per_year", "peak_facility_power_mw"):
        assert parts[key] == pytest.approx(one[key], rel=1e-6, abs=1e-6), key


@pytest.mark.slow
def test_full_horizon_bound_is_below_the_optimum_and_verify_reports_the_gap(synthetic_scenario):
    from optimizer.verify import full_horizon_bound, verify

    sc = synthetic_scenario(6, 5, 2, 96, seed=6)
    plan = solve(sc, SolveOptions(strategy="mip", mip_gap=1e-9))
    opt = plan.summary["objective_usd_per_year"]
    inputs = build_inputs(sc)
    bound = full_horizon_bound(inputs, build_sets(inputs), 8, SolveOptions(mip_gap=1e-9))
    assert opt * 0.9 < bound <= opt * (1 + 1e-9)
    out = verify(plan, sc, SolveOptions(mip_gap=1e-9), bound_groups=8)
    assert out["full_horizon_lower_bound_usd_per_year"] == pytest.approx(bound, rel=1e-6)
    assert out["full_horizon_gap"] == pytest.approx(1 - bound / opt, abs=1e-6)
