"""Held-out-by-source calibration (issue 16): every benchmark row names its publication and its
deployment, the held-out refits really leave a whole publication out, and the figures stored in
data/throughput_calibration.yaml are the ones a fresh computation gives."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from optimizer import throughput as tp
from optimizer.catalogs.catalog import DATA, MODELS
from optimizer.throughput import calibration as tc

BENCH = DATA / "benchmarks.csv"


@pytest.fixture(scope="module")
def bench() -> pd.DataFrame:
    return tp.load_benchmarks(BENCH)


@pytest.fixture(scope="module")
def specs():
    return tp.load_gpu_specs(DATA / "gpus.csv"), tp.load_llm_specs(MODELS)


@pytest.fixture(scope="module")
def heldout_calib(bench, specs) -> pd.DataFrame:
    """Refit with held-out-by-source errors, without the leave-one-out refits (~10 s; the tests
    using it are marked slow)."""
    gpus, llms = specs
    return tp.calibrate(bench, gpus, llms, loo=False)


def test_every_row_states_its_publication_and_deployment(bench):
    assert {"source_group", "date"} <= set(bench.columns)
    for r in bench.to_dict("records"):
        rid = r["id"]
        assert isinstance(r["source_group"], str) and re.fullmatch(r"[a-z0-9][a-z0-9.-]*", r["source_group"]), rid
        assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", str(r["date"])), (rid, r["date"])
        t = tc.parse_tags(r["notes"])
        assert t.get("serving") in ("aggregated", "disaggregated"), rid
        assert "replica" in t or "replica_max" in t, rid
        for k in ("replica", "replica_max", "prefill_replica"):
            if k in t:
                assert int(t[k]) >= 1, (rid, k)
        if "exclude" in t:
            assert len(t["exclude"]) > 30, f"{rid}: exclusion without a stated reason"


def test_one_date_per_publication_and_no_secondary_citations(bench):
    dates = bench.groupby("source_group")["date"].nunique()
    assert (dates == 1).all(), dates[dates > 1]
    assert bench["source_group"].nunique() >= 8
    text = BENCH.read_text(encoding="utf-8")
    assert "facts.md" not in text and "facts §" not in text


def test_deepseek_prefill_row_is_the_cache_free_compute_rate(bench):
    r = bench.set_index("id").loc["deepseek-h800-prod-prefill"]
    assert r["value"] == pytest.approx(32206 / 8)
    assert tc.parse_tags(r["notes"])["cache_hit"] == "0.563"


@pytest.mark.slow
def test_heldout_refit_leaves_the_group_out(bench, specs, heldout_calib):
    """Each group's refit differs from the full fit, and its rows are predicted by it."""
    gpus, llms = specs
    df = heldout_calib
    consts = df.attrs["heldout_constants"]
    assert set(consts) == set(tc.source_groups(bench))
    full = df.attrs["step_overhead_us_per_layer"], df.attrs["attention_compute_scale"]
    moved = [g for g, c in consts.items()
             if not np.allclose((c["step_overhead_us_per_layer"], c["attention_compute_scale"]), full, rtol=1e-6)]
    assert len(moved) >= len(consts) - 1, f"refits equal to the full fit: {set(consts) - set(moved)}"
    inc = df[~df["excluded"]]
    assert inc["heldout_estimate"].notna().all()
    assert df[df["excluded"]]["heldout_estimate"].isna().all()
    differs = (inc["heldout_estimate"] / inc["estimate"] - 1).abs() > 1e-6
    assert differs.mean() > 0.8
    # a held-out estimate is the group's refit applied to the row at its own deployment
    par = df.attrs["info"]["param"]
    held = tc.heldout_by_source(bench, gpus, llms, theta=df.attrs["info"]["theta"])
    g = "lmsys-ant-h20"
    f = par.apply(held.attrs["theta"][g], tp.Factors())
    for r in bench[bench["source_group"] == g].to_dict("records"):
        got = float(df.set_index("id").loc[r["id"], "heldout_estimate"])
        assert got == pytest.approx(tc._row_estimate(r, gpus, llms, f), rel=1e-9)


@pytest.mark.slow
def test_heldout_prediction_ignores_the_groups_own_values(bench, specs, heldout_calib):
    """Doubling the measured values of a held-out group barely moves its held-out estimates
    (only the refit's start point depends on them), while its in-sample estimates follow."""
    gpus, llms = specs
    g = "deepseek-day6"
    b2 = bench.copy()
    b2.loc[b2["source_group"] == g, "value"] *= 2.0
    theta = heldout_calib.attrs["info"]["theta"]
    h1 = tc.heldout_by_source(bench, gpus, llms, theta=theta).set_index("id")
    h2 = tc.heldout_by_source(b2, gpus, llms, theta=theta).set_index("id")
    ids = bench.loc[bench["source_group"] == g, "id"]
    ratio = (h2.loc[ids, "heldout_estimate"] / h1.loc[ids, "heldout_estimate"]).to_numpy()
    assert np.allclose(ratio, 1.0, atol=0.05), ratio
    rel = h2.loc[ids, "heldout_rel_error"].to_numpy() + 1
    assert np.allclose(rel, (h1.loc[ids, "heldout_rel_error"].to_numpy() + 1) / 2 * ratio)


@pytest.mark.slow
def test_summary_and_group_table_are_consistent(heldout_calib):
    df, s = heldout_calib, heldout_calib.attrs["summary"]
    inc = df[~df["excluded"]]
    assert s["rows"] == len(inc) and s["heldout_groups"] == inc["source_group"].nunique()
    assert s["heldout_median_abs_rel_error"] == pytest.approx(np.median(np.abs(inc["heldout_rel_error"])))
    assert 2 ** s["heldout_max_abs_log2_error"] == pytest.approx(
        np.max(np.maximum(inc["heldout_estimate"] / inc["measured"], inc["measured"] / inc["heldout_estimate"])))
    groups = df.attrs["groups"]
    assert groups["rows"].sum() == len(inc)
    for row in groups.to_dict("records"):
        d = inc[inc["source_group"] == row["source_group"]]
        assert row["heldout_median_abs_rel_error"] == pytest.approx(np.median(np.abs(d["heldout_rel_error"])))
        assert row["worst_id"] in set(d["id"])


@pytest.mark.slow
def test_calibration_file_holds_the_fresh_heldout_figures(heldout_calib):
    """The held-out figures of data/throughput_calibration.yaml are what the current data and
    estimator give (rerun `tokenomics calibrate --write` after changing either)."""
    stored = tp.load_calibration(tp.calibration_path())
    fresh = tc.heldout_figures(heldout_calib)
    assert stored.heldout_groups >= 2, "no held-out figures in the calibration file"
    for k in tc.HELDOUT_KEYS:
        assert getattr(stored, k) == pytest.approx(fresh[k], rel=1e-9, abs=1e-12), k
    assert tp.load_calibration(tp.calibration_path()).rows == heldout_calib.attrs["summary"]["rows"]


@pytest.mark.slow
def test_heldout_figures_round_trip_through_the_file(heldout_calib, tmp_path):
    cal = tc.calibration_from_fit(heldout_calib, "2026-01-01")
    path = tc.write_calibration(cal, tmp_path / "c.yaml")
    assert tc.calibration_changes(cal, tp.load_calibration(path)) == []  # every value reads back exactly
    got = tp.load_calibration(path)
    for k, v in tc.heldout_figures(heldout_calib).items():
        assert getattr(got, k) == v, k
