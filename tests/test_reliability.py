"""Runs that lose nothing, solver limits, and numerics warnings."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from optimizer import SolveOptions, load_scenario, solve


def test_time_limit_returns_the_best_plan_with_its_gap(synthetic_scenario):
    plan = solve(synthetic_scenario(20, 15, 4, 48), SolveOptions(time_limit_s=3, mip_gap=1e-6))
    assert plan.status in ("time_limit_feasible", "optimal")
    if plan.status == "time_limit_feasible":
        assert plan.summary["mip_gap"] > 0 and plan.dataset is not None


def test_default_scenario_raises_no_scaling_warning(caplog):
    with caplog.at_level(logging.DEBUG, logger="optimizer.solve"):
        solve(load_scenario())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("coefficients of demand_balance" in r.getMessage() for r in caplog.records)


def test_badly_scaled_inputs_warn_naming_the_family(tiny, caplog):
    from optimizer.scenario import scenario_from_dict

    tiny["gpus"]["h100"]["idle_power_kw_per_gpu"] = 1e-6
    tiny["gpus"]["h100"]["power_kw_per_gpu"] = 2e-6
    with caplog.at_level(logging.WARNING, logger="optimizer.solve"):
        solve(scenario_from_dict(tiny))
    assert any("facility_power_balance" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_killed_compare_loses_nothing_and_redoes_only_the_rest(tmp_path, tiny, synthetic_scenario):
    fast = tmp_path / "fast.yaml"
    fast.write_text(yaml.safe_dump(tiny))
    slow = tmp_path / "slow.yaml"
    slow.write_text(synthetic_scenario(20, 15, 4, 48).to_yaml())
    out = tmp_path / "cmp"
    cmd = [sys.executable, "-m", "optimizer.cli", "compare", str(fast), str(slow), "--out", str(out),
           "--time-limit", "10"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while not (out / "tiny" / "run.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert (out / "tiny" / "run.json").exists(), "the first run never finished"
    time.sleep(0.5)  # the second is being built or solved now
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    name = "synthetic-20x15x4x48"
    assert not (out / name / "run.json").exists(), "killed too late: the second run had finished"
    finished = {p: p.stat().st_mtime_ns for p in (out / "tiny").iterdir()}
    assert json.loads((out / "tiny" / "run.json").read_text())["status"] == "optimal"
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert {p: p.stat().st_mtime_ns for p in (out / "tiny").iterdir()} == finished  # reused, not redone
    assert json.loads((out / name / "run.json").read_text())["status"] in ("optimal", "time_limit_feasible")
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".png") == [
        "comparison.csv", "comparison.nc", name, "tiny", "trade_matrix.csv"]
    assert not list(out.rglob("*.tmp"))
