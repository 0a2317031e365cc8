"""Comparing scenarios: labels, trade matrix totals, reuse of finished runs, run.json."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from optimizer.cli import main
from optimizer.report.compare import compare


@pytest.fixture
def two(tmp_path, tiny):
    tiny["sites"]["paris"] = dict(tiny["sites"]["texas"], country="FR", energy_price_usd_per_mwh=90)
    tiny["gpus"]["h100"]["available_in"] = ["US", "FR"]
    tiny["markets"]["eu"] = {"country": "DE", "demand_output_tokens_per_s": {"llama-70b": 5e4}}
    tiny["latency_ms"] = {"texas": {"us-east": 45, "eu": 95}, "paris": {"us-east": 80, "eu": 15}}
    tiny["llms"]["llama-70b"]["max_rtt_ms"] = 100
    a = tmp_path / "a.yaml"
    a.write_text(yaml.safe_dump(tiny))
    tiny["name"] = "sovereign"
    tiny["markets"]["eu"]["served_from"] = ["FR"]
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump(tiny))
    return a, b


def test_compare_table_labels_and_trade_matrix_total(two, tmp_path):
    comp = compare([str(two[0]), str(two[1])], tmp_path / "out")
    assert list(comp.table.index) == ["tiny", "sovereign"]
    for run in comp.runs:
        total = comp.trade.loc[comp.trade["scenario"] == run.label, "tokens_per_year"].sum()
        assert total == pytest.approx(run.summary["tokens_per_year"], rel=1e-9)
    ds = comp.dataset
    assert float(ds["trade_tokens_per_year"].sel(scenario="sovereign", from_country="US", to_country="DE")) == 0
    assert ds["cost_per_mtok_usd"].sel(scenario="sovereign") >= ds["cost_per_mtok_usd"].sel(scenario="tiny") * (1 - 1e-9)
    for f in ("comparison.nc", "comparison.csv", "trade_matrix.csv"):
        assert (tmp_path / "out" / f).exists()
    np.testing.assert_allclose(ds["gpus"].sum("gpu").values, [r.summary["gpus"]["h100"] for r in comp.runs])


def test_finished_runs_are_reused_and_unfinished_ones_redone(two, tmp_path):
    out = tmp_path / "out"
    compare([str(two[0]), str(two[1])], out)
    rec = json.loads((out / "tiny" / "run.json").read_text())
    assert rec["status"] == "optimal" and len(rec["scenario_sha256"]) == 64 and rec["versions"]["highs"]
    stamp = (out / "tiny" / "results.nc").stat().st_mtime_ns
    (out / "sovereign" / "run.json").unlink()  # as if killed before finishing
    compare([str(two[0]), str(two[1])], out)
    assert (out / "tiny" / "results.nc").stat().st_mtime_ns == stamp  # reused
    assert (out / "sovereign" / "run.json").exists()  # redone


def test_compare_reads_finished_run_folders_and_cli(two, tmp_path, capsys):
    assert main(["solve", str(two[0]), "--out", str(tmp_path / "run_a"), "--quiet"]) == 0
    assert main(["compare", str(tmp_path / "run_a"), str(two[1]), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "sovereign" in out and "token trade" in out


def test_trade_matrix_adds_up_to_tokens_per_year_with_unequal_day_weights(synthetic_scenario):
    from optimizer import solve
    from optimizer.catalogs.days import representative_days
    from optimizer.report.compare import trade_matrix

    small, _ = representative_days(synthetic_scenario(4, 3, 1, 24 * 14, seed=8), 3)
    assert len(set(small.time.day_weights)) > 1
    plan = solve(small)
    assert float(trade_matrix(plan.dataset).sum()) == pytest.approx(plan.summary["tokens_per_year"], rel=1e-9)
