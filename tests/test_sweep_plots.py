"""Sweep charts and table (optimizer/report/sweep_plots.py) on hand-made sweep Datasets: no solving.

The Datasets follow the sweep format of issue 17: a ``case`` dim with coordinates ``scenario``,
``design``, ``sample``, ``oat_key``, ``oat_side`` and one float coordinate per swept key; data
variables the summary figures (NaN when a case failed), ``status``, ``message``, ``worker``,
``seconds``; attrs ``swept_keys`` (JSON) and ``seed``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

from optimizer.report import sweep_plots as sp

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_sweep(cases: list[dict[str, Any]], keys: Sequence[str] = ()) -> xr.Dataset:
    """A sweep Dataset from one dict per case: scenario, design, sample, oat_key, oat_side, status,
    cost (cost_per_mtok_usd; NaN when not given or the case failed) and a value per swept key."""
    n = len(cases)
    keys = list(keys)
    cost = np.array([c.get("cost", math.nan) for c in cases], dtype=float)
    status = [c.get("status", "optimal") for c in cases]
    coords: dict[str, Any] = {
        "case": ("case", [f"c{i:03d}" for i in range(n)]),
        "scenario": ("case", [c["scenario"] for c in cases]),
        "design": ("case", [c.get("design", "sample") for c in cases]),
        "sample": ("case", np.array([c.get("sample", -1) for c in cases], dtype=int)),
        "oat_key": ("case", [c.get("oat_key", "") for c in cases]),
        "oat_side": ("case", [c.get("oat_side", "") for c in cases]),
    }
    for k in keys:
        coords[k] = ("case", np.array([c.get(k, math.nan) for c in cases], dtype=float))
    data = {
        "cost_per_mtok_usd": ("case", cost),
        "cost_usd_per_year": ("case", cost * 1e6),
        "tokens_per_year": ("case", np.where(np.isfinite(cost), 1e12, np.nan)),
        "status": ("case", status),
        "message": ("case", ["" if s == "optimal" else f"{s} (test)" for s in status]),
        "worker": ("case", ["tcp://127.0.0.1:1"] * n),
        "seconds": ("case", np.ones(n)),
    }
    return xr.Dataset(data, coords=coords, attrs={"swept_keys": json.dumps(keys), "seed": 0})


def samples(scenario: str, costs: list[float | None], **kw: Any) -> list[dict[str, Any]]:
    """Sample cases 0..n-1 of one scenario; None = an infeasible case (NaN figures)."""
    return [{"scenario": scenario, "design": "sample", "sample": i, **kw,
             **({"status": "infeasible"} if c is None else {"cost": c})} for i, c in enumerate(costs)]


# ------------------------------------------------------------------ cheapest shares

def three_way_cases() -> list[dict[str, Any]]:
    """Samples 0-5 of A, B, C (costs in USD/Mtok):

    0: A cheapest; 1: B; 2: A and B tie (0.5 each); 3: B infeasible -> dropped; 4: C;
    5: A has a number but status `error` -> counts as failed -> dropped.
    """
    a = samples("A", [1.0, 2.0, 1.0, 1.0, 3.0, 0.1])
    a[5]["status"] = "error"
    b = samples("B", [2.0, 1.0, 1.0, None, 2.0, 2.0])
    b[1]["status"] = "time_limit_feasible"  # a time-limited incumbent counts as solved
    c = samples("C", [3.0, 3.0, 2.0, 0.5, 1.0, 1.0])
    return a + b + c


@pytest.fixture
def three_way() -> xr.Dataset:
    return make_sweep(three_way_cases())


def test_cheapest_shares_hand_made_example(three_way: xr.Dataset) -> None:
    shares = sp.cheapest_shares(three_way)
    assert list(shares.index) == ["A", "B", "C"]
    assert shares.to_dict() == pytest.approx({"A": 1.5 / 4, "B": 1.5 / 4, "C": 1 / 4})
    assert shares.sum() == pytest.approx(1.0)
    assert shares.attrs["n_samples"] == 4 and shares.attrs["n_dropped"] == 2


def test_cheapest_shares_tie_within_tolerance_is_split() -> None:
    ds = make_sweep(samples("A", [1.0, 1.0]) + samples("B", [1.0 * (1 + 1e-12), 2.0]) + samples("C", [5.0, 5.0]))
    shares = sp.cheapest_shares(ds)
    assert shares.to_dict() == pytest.approx({"A": 0.75, "B": 0.25, "C": 0.0})


def test_cheapest_shares_ignore_non_sample_cases() -> None:
    extra = [{"scenario": "A", "design": "single", "cost": 100.0},
             {"scenario": "B", "design": "oat", "oat_side": "base", "cost": 0.001}]
    ds = make_sweep(samples("A", [1.0, 3.0]) + samples("B", [2.0, 2.0]) + extra)
    assert sp.cheapest_shares(ds).to_dict() == pytest.approx({"A": 0.5, "B": 0.5})


def test_cheapest_shares_random_sum_to_one() -> None:
    rng = np.random.default_rng(3)
    costs = {s: list(np.round(rng.uniform(1, 2, 50), 1)) for s in "PQRS"}  # rounding makes ties
    ds = make_sweep([c for s, v in costs.items() for c in samples(s, v)])
    shares = sp.cheapest_shares(ds)
    assert shares.sum() == pytest.approx(1.0) and (shares >= 0).all()
    wins = pd.DataFrame(costs).to_numpy()
    expected = ((wins == wins.min(axis=1, keepdims=True)) / (wins == wins.min(axis=1, keepdims=True)).sum(
        axis=1, keepdims=True)).mean(axis=0)
    assert shares.to_numpy() == pytest.approx(expected)


def test_probability_cheapest_figure(three_way: xr.Dataset) -> None:
    fig = sp.probability_cheapest(three_way)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([37.5, 37.5, 25.0])
    assert "4 samples" in ax.get_title() and "2 sample(s) dropped" in ax.get_title()


@pytest.mark.parametrize(("ds", "match"), [
    (make_sweep(samples("A", [1.0, 2.0])), "two or more scenarios; the sweep has 1"),
    (make_sweep([{"scenario": "A", "design": "grid", "cost": 1.0},
                 {"scenario": "B", "design": "grid", "cost": 2.0}]), "no sampled cases"),
    (make_sweep(samples("A", [1.0, None]) + samples("B", [None, 2.0])), "no sample solved in every scenario"),
])
def test_probability_cheapest_errors(ds: xr.Dataset, match: str) -> None:
    for f in (sp.cheapest_shares, sp.probability_cheapest):
        with pytest.raises(ValueError, match=match) as e:
            f(ds)
        assert "\n" not in str(e.value)


# ------------------------------------------------------------------ tornado

K1, K2, K3 = "sites.us-ercot.energy_price_usd_per_mwh", "scale.capex_nvidia", "scale.throughput_blackwell"


def oat(scenario: str, base: float, sides: dict[str, tuple[float | None, float | None]]) -> list[dict[str, Any]]:
    """OAT cases of one scenario: the base and, per key, low and high (cost; None = infeasible).
    Input values: the key at 1 (base), 0.5 (low), 2 (high)."""
    cases = [{"scenario": scenario, "design": "oat", "oat_side": "base", "cost": base, K1: 1.0, K2: 1.0, K3: 1.0}]
    for key, results in sides.items():
        for side, cost, x in zip(("low", "high"), results, (0.5, 2.0), strict=True):
            case = {"scenario": scenario, "design": "oat", "oat_key": key, "oat_side": side,
                    K1: 1.0, K2: 1.0, K3: 1.0, key: x}
            case.update({"status": "infeasible"} if cost is None else {"cost": cost})
            cases.append(case)
    return cases


def oat_cases(x: str = "X", y: str = "Y") -> list[dict[str, Any]]:
    return (oat(x, 10.0, {K1: (9.5, 10.5), K2: (8.0, 13.0), K3: (12.0, 9.0)})
            + oat(y, 5.0, {K1: (4.0, None), K2: (4.9, 5.2)}))


@pytest.fixture
def oat_sweep() -> xr.Dataset:
    return make_sweep(oat_cases(), [K1, K2, K3])


def test_tornado_data_from_oat_cases(oat_sweep: xr.Dataset) -> None:
    t = sp.tornado_data(oat_sweep)
    x = t[t["scenario"] == "X"].set_index("key")
    assert list(x.index) == [K2, K3, K1]  # swings 5, 3, 1
    assert (x["source"] == "oat").all() and (x["base"] == 10.0).all()
    assert x.loc[K2, ["low", "high", "min", "max", "swing"]].tolist() == [8.0, 13.0, 8.0, 13.0, 5.0]
    assert x.loc[K3, ["low", "high", "swing"]].tolist() == [12.0, 9.0, 3.0]  # a key that lowers cost when high
    assert x.loc[K1, ["low_value", "high_value", "base_value"]].tolist() == [0.5, 2.0, 1.0]
    y = t[t["scenario"] == "Y"].set_index("key")
    assert list(y.index) == [K1, K2]  # K1's swing (1.0: base 5 to low 4) uses the solved side only
    assert math.isnan(y.loc[K1, "high"]) and y.loc[K1, "failed"] == 1 and y.loc[K1, "swing"] == pytest.approx(1.0)
    assert y.loc[K2, "swing"] == pytest.approx(0.3) and y.loc[K2, "failed"] == 0


def test_tornado_figure_bars_run_from_the_base(oat_sweep: xr.Dataset) -> None:
    fig = sp.tornado(oat_sweep)
    ax_x = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("X"))
    bars = sorted((round(p.get_y() + p.get_height() / 2), p.get_x(), p.get_width()) for p in ax_x.patches)
    # rows bottom to top: K1, K3, K2 (largest swing on top); each low bar then high bar, both from base 10
    assert [b[0] for b in bars] == [0, 0, 1, 1, 2, 2]
    assert all(b[1] == pytest.approx(10.0) for b in bars)
    assert sorted(b[2] for b in bars if b[0] == 2) == pytest.approx([-2.0, 3.0])  # K2: 8 and 13
    assert [t.get_text().split("\n")[0] for t in ax_x.get_yticklabels()] == [K1, K3, K2]
    ax_y = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("Y"))
    assert len(ax_y.patches) == 3  # K1's failed high case has no bar
    assert any("1 failed" in t.get_text() for t in ax_y.get_yticklabels())


def test_tornado_grid_fallback() -> None:
    """Grid a in {1, 2, 3} x b in {10, 20, 30}, cost = a + 0.1 b except where stated."""
    cases = []
    for a in (1.0, 2.0, 3.0):
        for b in (10.0, 20.0, 30.0):
            cases.append({"scenario": "G", "design": "grid", "a": a, "b": b, "cost": a + 0.1 * b})
    cases[1]["cost"] = 6.0   # a=1, b=20: above both ends of b's line (non-monotone)
    cases[5] = {**cases[5], "status": "infeasible", "cost": math.nan}   # a=2, b=30: not on a base line
    ds = make_sweep(cases, ["a", "b"])
    t = sp.tornado_data(ds).set_index("key")
    assert list(t.index) == ["b", "a"]
    assert (t["source"] == "grid").all() and (t["base"] == 2.0).all()  # first grid case: a=1, b=10
    # b varies with a at 1: 2.0, 6.0, 4.0
    assert t.loc["b", ["low", "high", "min", "max", "swing"]].tolist() == pytest.approx([2.0, 4.0, 2.0, 6.0, 4.0])
    assert t.loc["b", ["low_value", "high_value", "base_value"]].tolist() == [10.0, 30.0, 10.0]
    # a varies with b at 10: 2, 3, 4
    assert t.loc["a", ["low", "high", "swing", "failed"]].tolist() == pytest.approx([2.0, 4.0, 2.0, 0])
    fig = sp.tornado(ds)
    assert "grid" in fig.get_suptitle()
    assert len(fig.axes[0].collections) >= 1  # the range whiskers


def test_tornado_prefers_oat_over_grid() -> None:
    grid = [{"scenario": "X", "design": "grid", K1: v, "cost": v} for v in (1.0, 2.0)]
    both = make_sweep(oat_cases() + grid, [K1, K2, K3])
    assert set(sp.tornado_data(both)["source"]) == {"oat"}


def test_tornado_oat_at_several_grid_points_uses_the_first() -> None:
    """--grid with --samples: OAT cases at every grid point; the tornado takes those of the first."""
    g = "sites.us-ercot.grid_limit_mw"
    first = [c | {g: 100.0} for c in oat("X", 10.0, {K2: (8.0, 13.0)})]
    second = [c | {g: 200.0} for c in oat("X", 20.0, {K2: (None, 30.0)})]
    t = sp.tornado_data(make_sweep(first + second, [g, K1, K2, K3]))
    assert t[["key", "base", "low", "high", "swing", "failed"]].values.tolist() == [[K2, 10.0, 8.0, 13.0, 5.0, 0]]


def test_tornado_errors() -> None:
    with pytest.raises(ValueError, match="no one-at-a-time .oat. or grid cases"):
        sp.tornado(make_sweep(samples("A", [1.0, 2.0])))
    one_point = make_sweep([{"scenario": "A", "design": "grid", "a": 1.0, "cost": 1.0}], ["a"])
    with pytest.raises(ValueError, match="no swept key varies"):
        sp.tornado(one_point)


# ------------------------------------------------------------------ table and distribution

def test_sweep_table_percentiles() -> None:
    a = samples("A", [float(v) for v in range(1, 22)] + [None, None])  # 1..21, two failures
    b = samples("B", [2.0, 4.0])
    extra = [{"scenario": "A", "design": "oat", "oat_side": "base", "cost": 1000.0}]  # not pooled
    t = sp.sweep_table(make_sweep(a + b + extra))
    assert list(t.columns) == ["cases", "failed", "mean", "p5", "p50", "p95"]
    assert list(t.index) == ["A", "B"]
    assert t.loc["A", ["cases", "failed"]].tolist() == [23, 2]
    assert t.loc["A", ["mean", "p5", "p50", "p95"]].tolist() == pytest.approx([11.0, 2.0, 11.0, 20.0])
    assert t.loc["B", ["mean", "p5", "p50", "p95"]].tolist() == pytest.approx([3.0, 2.1, 3.0, 3.9])


def test_sweep_table_without_sample_or_grid_pools_every_case(oat_sweep: xr.Dataset) -> None:
    t = sp.sweep_table(oat_sweep)
    assert t.loc["Y", ["cases", "failed"]].tolist() == [5, 1]
    assert t.loc["Y", "p50"] == pytest.approx(np.median([5.0, 4.0, 4.9, 5.2]))


def test_sweep_table_scenario_without_solved_case() -> None:
    t = sp.sweep_table(make_sweep(samples("A", [1.0]) + samples("B", [None])))
    assert t.loc["B", "failed"] == 1 and math.isnan(t.loc["B", "p50"])


def test_cost_distribution(three_way: xr.Dataset) -> None:
    fig = sp.cost_distribution(three_way)
    ax = fig.axes[0]
    assert "18 sample/grid cases (2 failed)" in ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["A (n=5, 1 failed)", "B (n=5, 1 failed)", "C (n=6)"]


def test_cost_distribution_errors(oat_sweep: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="no sample or grid cases"):
        sp.cost_distribution(oat_sweep)
    with pytest.raises(ValueError, match="none of the 2 sample/grid cases solved"):
        sp.cost_distribution(make_sweep(samples("A", [None, None])))
    with pytest.raises(ValueError, match="no data variable 'nope'"):
        sp.cost_distribution(make_sweep(samples("A", [1.0])), metric="nope")


# ------------------------------------------------------------------ files

def _pngs(paths: list[Path]) -> dict[str, bytes]:
    return {p.name: p.read_bytes()[:8] for p in paths}


def test_write_sweep_charts_writes_pngs(tmp_path: Path) -> None:
    ds = make_sweep(three_way_cases() + oat_cases("A", "B"), [K1, K2, K3])
    out = tmp_path / "charts"
    paths = sp.write_sweep_charts(ds, out)
    assert _pngs(paths) == dict.fromkeys(["cost_distribution.png", "tornado.png", "probability_cheapest.png"],
                                         PNG_MAGIC)
    assert all(p.parent == out and p.stat().st_size > 5000 for p in paths)
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))  # atomic writes leave no temp files


def test_write_sweep_charts_skips_what_does_not_apply(oat_sweep: xr.Dataset, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    grid = make_sweep([{"scenario": "G", "design": "grid", "a": a, "cost": a} for a in (1.0, 2.0)], ["a"])
    with caplog.at_level("INFO", logger="optimizer.report.sweep_plots"):
        paths = sp.write_sweep_charts(grid, tmp_path / "grid")
    assert _pngs(paths) == {"cost_distribution.png": PNG_MAGIC, "tornado.png": PNG_MAGIC}
    assert "probability_cheapest.png skipped: probability_cheapest needs two or more scenarios" in caplog.text
    assert _pngs(sp.write_sweep_charts(oat_sweep, tmp_path / "oat")) == {"tornado.png": PNG_MAGIC}
    assert sp.write_sweep_charts(make_sweep(samples("A", [None])), tmp_path / "none") == []


def test_wilson_interval() -> None:
    lo, hi = sp.wilson_interval(np.array([0.0, 0.5, 1.0]), 10)
    assert lo[0] == 0.0 and hi[2] == 1.0 and 0 < hi[0] < 0.35 and 0.65 < lo[2] < 1
    assert lo[1] == pytest.approx(0.2366, abs=1e-4) and hi[1] == pytest.approx(0.7634, abs=1e-4)
    for n in range(1, 60):  # the bounds hold the share exactly (matplotlib refuses negative error bars)
        p = np.arange(n + 1) / n
        lo, hi = sp.wilson_interval(p, n)
        assert (lo <= p).all() and (p <= hi).all() and lo[0] == 0.0 and hi[-1] == 1.0
    with pytest.raises(ValueError, match="n >= 1"):
        sp.wilson_interval(0.5, 0)


# ------------------------------------------------------------------ the bundled uncertainty block

@pytest.mark.parametrize("name", ["china_token_export", "open_market"])
def test_world_uncertainty_scales_estimated_throughput_not_measured(name: str) -> None:
    """_world.yaml's throughput groups reach every estimated deployment once and leave alone the
    entries measured at their deployment (index 0 of DeepSeek-R1's h800, h20 and ascend-910c lists)
    and the h100 one derived from H800's measurement."""
    from optimizer.scenario.load import load_scenario

    kept = {("deepseek-r1", g) for g in ("h800", "h100", "h20", "ascend-910c")}
    sc = load_scenario(name)
    groups = sc.uncertainty.scale
    assert 6 <= len(sc.uncertainty.variables) <= 10 and all(g.source.strip() for g in groups.values())
    scales = {p: 2.0 for g in groups.values() for p in g.applies_to}
    doubled = load_scenario(name, scales=scales)
    n_kept = 0
    for llm, by_gpu in sc.llms.items():
        for gpu, deps in by_gpu.throughput.items():
            for i, (d, d2) in enumerate(zip(deps, doubled.llms[llm].throughput[gpu], strict=True)):
                keep = i == 0 and (llm, gpu) in kept
                if keep:
                    assert (d.source or "").startswith(("measured:", "derived: the H800")), (llm, gpu, d.source)
                else:
                    assert (d.source or "").startswith("estimated:"), (llm, gpu, d.name)
                n_kept += keep
                assert d2.output_tokens_per_s == pytest.approx(d.output_tokens_per_s * (1 if keep else 2)), \
                    (llm, gpu, d.name)
    assert n_kept == sum(g in sc.gpus for _, g in kept)
    for g in sc.gpus:
        assert doubled.gpus[g].capex_usd_per_gpu == pytest.approx(2 * sc.gpus[g].capex_usd_per_gpu)
