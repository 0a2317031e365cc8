"""The size estimate made before the build equals the built model, family by family; a model too big
for the memory is refused (or reduced) at once; the time limit bounds the build; compare --quiet."""

from __future__ import annotations

import copy
import importlib
import json
import logging
import time

import pytest
import yaml

from optimizer import SolveOptions, budget, highs, solve
from optimizer.cli import main
from optimizer.errors import ScenarioError
from optimizer.inputs import build_inputs
from optimizer.model import build_model
from optimizer.model.sets import build_sets
from optimizer.model.size import BASE_BYTES, estimate
from optimizer.scenario import load_scenario, scenario_from_dict

from .conftest import benchmark_module

synthetic_scenario = benchmark_module("synthetic").synthetic_scenario  # in CASES, outside any test

SUN = [1.0] * 12 + [0.0] * 12


def _onsite(tiny: dict, export: bool = True, days: int = 1) -> dict:
    """Two sites: one with solar, wind, a battery (and exports), one grid-only with a zero grid
    limit and carbon-free hours; deferrable work, carbon caps, hourly matching and a supply cap."""
    t = copy.deepcopy(tiny)
    t["sites"]["ohio"] = dict(t["sites"]["texas"], grid_limit_mw=0, carbon_kg_per_mwh=([0] * 6 + [300] * 18) * days)
    t["sites"]["texas"].update(solar={"capex_usd_per_mw": 8e5, "capacity_factor": SUN * days},
                               wind={"capex_usd_per_mw": 1e6, "capacity_factor": 0.3},
                               battery={"capex_usd_per_mwh": 2e5, "round_trip_efficiency": 0.81})
    if export:
        t["sites"]["texas"]["export_price_usd_per_mwh"] = 40
    t["latency_ms"]["ohio"] = {"us-east": 20}
    t["carbon"] = {"cap_t_per_year": 1e6, "hourly_matching": 0.3, "cap_t_per_year_by_country": {"US": 1e6}}
    t["llms"]["llama-70b"]["deferrable_share"] = 0.4
    t["supply_caps"] = [{"gpus": ["h100"], "country": "US", "max_gpus": 10000}]
    return t


def _days(tiny: dict, days: int) -> dict:
    """Tiny over ``days`` whole days with demand that differs from day to day."""
    t = copy.deepcopy(tiny)
    t["time"] = {"days": days}
    t["markets"]["us-east"]["demand_output_tokens_per_s"]["llama-70b"] = [
        1e5 * (1 + 0.3 * ((h // 24) % 5) / 4 + 0.2 * ((h % 24) >= 12)) for h in range(24 * days)]
    return t


CASES = {
    "tiny": lambda tiny: scenario_from_dict(tiny),
    "default": lambda tiny: load_scenario(),
    "onsite, exports, deferrable, carbon, supply cap": lambda tiny: scenario_from_dict(_onsite(tiny)),
    "onsite without exports": lambda tiny: scenario_from_dict(_onsite(tiny, export=False)),
    "onsite on 3 typical days (storage cyclic per day)": lambda tiny: scenario_from_dict(
        {**_onsite(_days(tiny, 6), days=6), "time": {"days": 6, "representative_days": 3}}),
    "synthetic 8x6x3x48": lambda tiny: synthetic_scenario(8, 6, 3, 48),
}


@pytest.mark.parametrize("case", list(CASES))
def test_estimate_equals_the_built_model_family_by_family(case, tiny):
    inputs = build_inputs(CASES[case](tiny))
    sets = build_sets(inputs)
    est = estimate(inputs, sets)
    pm = build_model(inputs, sets=sets)
    b = pm.builder
    assert est.variable_families == {n: f.size for n, f in b.variables.items()}
    assert est.row_families == {n: (f.matrix.shape[0], f.matrix.nnz) for n, f in b.rows.items()}
    sf = highs.compile_model(pm.pyomo)
    assert (est.variables, est.integer_variables, est.rows, est.nonzeros) == (
        len(sf.c), int(sf.integer.sum()), len(sf.row_lower), sf.num_nonzeros)
    assert est.peak_memory_bytes > BASE_BYTES


def test_a_model_too_big_for_the_memory_limit_is_refused_at_once_with_exit_2(tmp_path, tiny, capsys):
    p = tmp_path / "year.yaml"
    p.write_text(yaml.safe_dump(_days(tiny, 365)))
    out = tmp_path / "o"
    t0 = time.perf_counter()
    code = main(["solve", str(p), "--out", str(out), "--memory-limit-gb", "0.001", "--quiet"])
    assert code == 2 and time.perf_counter() - t0 < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: year.yaml: the model would have ")
    assert "nonzeros and need about" in err[0] and "(limit 0.001 GB)" in err[0]
    assert "even one modelled day would not fit" in err[0]
    assert not out.exists()  # nothing written: no results.nc, no summary.json


def test_the_refusal_names_how_many_representative_days_would_fit(tmp_path, tiny):
    sc = scenario_from_dict(_days(tiny, 365))
    inputs = build_inputs(sc)
    est = estimate(inputs, build_sets(inputs))
    limit_gb = (BASE_BYTES + (est.peak_memory_bytes - BASE_BYTES) / 10) / 1e9  # about 36 days fit
    with pytest.raises(ScenarioError) as exc:
        solve(sc, SolveOptions(memory_limit_gb=limit_gb))
    (msg,) = exc.value.messages
    assert f"{est.variables / 1e3:.3g}k variables" in msg
    assert "use --representative-days N (e.g. 17), fewer hours (time.days) or fewer sites, or --auto-reduce" in msg


def test_auto_reduce_plans_on_as_many_representative_days_as_fit(tmp_path, tiny, caplog):
    p = tmp_path / "month.yaml"
    p.write_text(yaml.safe_dump(_days(tiny, 30)))
    sc = load_scenario(p)
    inputs = build_inputs(sc)
    est = estimate(inputs, build_sets(inputs))
    limit_gb = (BASE_BYTES + (est.peak_memory_bytes - BASE_BYTES) * 8 / 30) / 1e9  # 8 days fit
    out = tmp_path / "o"
    with caplog.at_level(logging.INFO, logger="optimizer"):
        assert main(["solve", str(p), "--out", str(out), "--memory-limit-gb", f"{limit_gb:.9f}", "--auto-reduce",
                     "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text())
    reduced = s["auto_reduce"]
    assert reduced["days_in"] == 30 and 1 <= reduced["representative_days"] <= reduced["days_modelled"] <= 8
    assert s["num_time_steps"] == 24 * reduced["days_modelled"] and s["status"] == "optimal"
    assert s["estimated_peak_memory_gb"] <= limit_gb
    assert any("auto-reduce: 30 days would need" in r.getMessage() for r in caplog.records)


def _slow_build(monkeypatch, seconds: float) -> None:
    solve_mod = importlib.import_module("optimizer.solve")
    real = solve_mod.build_model

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return real(*args, **kwargs)

    monkeypatch.setattr(solve_mod, "build_model", slow)


def test_a_build_past_the_time_limit_stops_cleanly_with_no_solution(tmp_path, tiny, monkeypatch, capsys):
    _slow_build(monkeypatch, 1.0)
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(tiny))
    t0 = time.perf_counter()
    code = main(["solve", str(p), "--out", str(tmp_path / "o"), "--time-limit", "0.5", "--quiet"])
    assert code == 4 and time.perf_counter() - t0 < 10
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == "no_solution" and s["num_variables"] == 74  # the estimate's
    assert "time limit of 0.5 s reached while building the model" in s["explanation"][0]
    assert not (tmp_path / "o" / "results.nc").exists()
    assert "time limit of 0.5 s reached" in capsys.readouterr().out


def test_highs_gets_the_time_the_build_left(tiny, monkeypatch):
    _slow_build(monkeypatch, 1.0)
    seen = []
    real_run = highs.run

    def run(h, is_mip):
        seen.append(float(highs.option_value(h, "time_limit")))
        return real_run(h, is_mip)

    monkeypatch.setattr(highs, "run", run)
    plan = solve(scenario_from_dict(tiny), SolveOptions(time_limit_s=5.0, strategy="mip"))
    assert plan.status == "optimal"
    assert seen and 3.0 < seen[0] <= 4.0 and plan.summary["build_seconds"] >= 1.0


def test_a_long_build_reports_its_stages_and_a_heartbeat(tiny, monkeypatch, caplog):
    monkeypatch.setattr(budget, "PROGRESS_AFTER_S", 0.0)
    monkeypatch.setattr(budget, "HEARTBEAT_S", 0.1)
    _slow_build(monkeypatch, 0.5)
    with caplog.at_level(logging.INFO, logger="optimizer"):
        solve(scenario_from_dict(tiny), SolveOptions(strategy="mip"))
    lines = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("estimate: 74 variables, 242 nonzeros, ~") for m in lines)
    assert any(m.startswith("build: building the model, ") and m.endswith("s so far") for m in lines)
    for stage in ("size estimate", "Pyomo model", "standard form", "hand-off to HiGHS"):
        assert any(m.startswith(f"build: {stage} done after ") for m in lines), stage


@pytest.fixture
def pair(tmp_path, tiny):
    a = tmp_path / "a.yaml"
    a.write_text(yaml.safe_dump(tiny))
    tiny["name"] = "dear"
    tiny["sites"]["texas"]["energy_price_usd_per_mwh"] = 90
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump(tiny))
    return str(a), str(b)


def test_compare_quiet_hides_the_highs_log_and_progress(pair, tmp_path, capfd, caplog):
    assert main(["compare", *pair, "--out", str(tmp_path / "loud")]) == 0
    loud = capfd.readouterr()
    assert "HiGHS" in loud.out + loud.err  # the solver's own log, as solve shows it
    assert any(r.name.startswith("optimizer") and r.levelno == logging.INFO for r in caplog.records)
    caplog.clear()
    assert main(["compare", *pair, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    quiet = capfd.readouterr()
    assert "HiGHS" not in quiet.out + quiet.err and "dear" in quiet.out
    assert not [r for r in caplog.records if r.name.startswith("optimizer") and r.levelno < logging.WARNING]
