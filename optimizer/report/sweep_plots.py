"""Charts and a table of a sweep (matplotlib, Agg canvas, no display and no network needed).

A sweep (:func:`optimizer.sweep`, ``tokenomics sweep``) returns one :class:`xarray.Dataset` with
a ``case`` dim: coordinates ``scenario``, ``design`` (``grid`` | ``sample`` | ``oat`` |
``single``), ``sample`` (-1 if none), ``oat_key``, ``oat_side`` (``base`` | ``low`` | ``high`` |
``""``) and one float coordinate per swept key; data variables the numeric summary figures of
each solve (NaN when it failed), ``status``, ``message``, ``worker`` and ``seconds``.

Each chart is a function returning a :class:`matplotlib.figure.Figure` built with the
object-oriented API (no ``pyplot``), as in :mod:`optimizer.report.plots`:

- :func:`cost_distribution`: empirical CDF of a metric over the ``sample`` and ``grid`` cases;
- :func:`tornado`: one-at-a-time sensitivity (from ``oat`` cases, else from a grid);
- :func:`probability_cheapest`: share of samples in which each scenario is cheapest
  (numbers from :func:`cheapest_shares`).

:func:`sweep_table` is the per-scenario summary the CLI prints, :func:`tornado_data` the numbers
behind the tornado, and :func:`write_sweep_charts` writes the charts that apply as PNG files
(atomically), skipping the others. A chart that cannot be drawn raises :class:`ValueError`
with a one-line message.

A case counts as **solved** when its ``status`` is ``optimal`` or ``time_limit_feasible`` and
its metric is a finite number; every other case counts as **failed**.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from optimizer.report.plots import _colors, _figure, _save

log = logging.getLogger(__name__)

SOLVED_STATUSES = ("optimal", "time_limit_feasible")
"""Statuses whose summary figures are a plan's (a time-limited incumbent included)."""

DISTRIBUTION_DESIGNS = ("sample", "grid")
"""Case designs pooled by :func:`cost_distribution` and :func:`sweep_table`."""

TIE_RTOL = 1e-9
"""Relative tolerance under which two scenarios' metrics count as a tie in :func:`cheapest_shares`."""

METRIC_LABELS = {
    "cost_per_mtok_usd": "cost, USD per million tokens (input + output)",
    "cost_per_output_mtok_usd": "cost, USD per million output tokens",
    "cost_usd_per_year": "annual cost, USD/year",
    "accelerator_cost_usd_per_year": "accelerator cost, USD/year",
    "energy_cost_usd_per_year": "energy cost, USD/year",
    "site_cost_usd_per_year": "site cost, USD/year",
    "tokens_per_year": "tokens per year (input + output)",
    "tokens_per_kwh": "tokens per kWh of facility energy",
    "co2_g_per_mtok": "g CO2 per million tokens",
    "unserved_tokens_per_year": "unserved tokens per year",
}


def _metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def _str(ds: xr.Dataset, name: str, default: str = "") -> np.ndarray:
    if name not in ds.variables:
        return np.full(ds.sizes.get("case", 0), default, dtype=object)
    return np.asarray([str(v) for v in ds[name].values], dtype=object)


def _metric(ds: xr.Dataset, metric: str) -> np.ndarray:
    if metric not in ds.data_vars:
        raise ValueError(f"the sweep has no data variable {metric!r}")
    return np.asarray(ds[metric].values, dtype=float)


def _solved_mask(ds: xr.Dataset, metric: str) -> np.ndarray:
    """True for cases with a solved status and a finite metric."""
    status = _str(ds, "status")
    return np.isin(status, SOLVED_STATUSES) & np.isfinite(_metric(ds, metric))


def _scenarios(ds: xr.Dataset) -> list[str]:
    """Scenario labels in the order of their first case."""
    return list(dict.fromkeys(_str(ds, "scenario")))


def _case_frame(ds: xr.Dataset, metric: str) -> pd.DataFrame:
    """One row per case: scenario, design, sample, oat_key, oat_side, the metric, solved."""
    n = ds.sizes.get("case", 0)
    sample = np.asarray(ds["sample"].values, dtype=int) if "sample" in ds.variables else np.full(n, -1)
    return pd.DataFrame({
        "scenario": _str(ds, "scenario"),
        "design": _str(ds, "design"),
        "sample": sample,
        "oat_key": _str(ds, "oat_key"),
        "oat_side": _str(ds, "oat_side"),
        "value": _metric(ds, metric),
        "solved": _solved_mask(ds, metric),
    })


# ---------------------------------------------------------------- table

def sweep_table(ds: xr.Dataset, metric: str = "cost_per_mtok_usd") -> pd.DataFrame:
    """Per scenario: ``cases``, ``failed``, and ``mean``, ``p5``, ``p50``, ``p95`` of ``metric``.

    Pools the ``sample`` and ``grid`` cases; a sweep with neither (only ``oat`` or ``single``
    cases) pools all of its cases. The statistics are over the solved cases (percentiles by
    linear interpolation, :func:`numpy.percentile`); NaN when a scenario has none.
    """
    df = _case_frame(ds, metric)
    if df.empty:
        raise ValueError("sweep_table: the sweep has no cases")
    pooled = df[df["design"].isin(DISTRIBUTION_DESIGNS)]
    if pooled.empty:
        pooled = df
    rows = {}
    for scen in _scenarios(ds):
        sub = pooled[pooled["scenario"] == scen]
        v = sub.loc[sub["solved"], "value"].to_numpy(dtype=float)
        p5, p50, p95 = np.percentile(v, [5, 50, 95]) if v.size else (np.nan,) * 3
        rows[scen] = {"cases": len(sub), "failed": int((~sub["solved"]).sum()),
                      "mean": float(v.mean()) if v.size else np.nan, "p5": p5, "p50": p50, "p95": p95}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "scenario"
    out.attrs["metric"] = metric
    return out.astype({"cases": int, "failed": int})


# ---------------------------------------------------------------- distribution

def cost_distribution(ds: xr.Dataset, metric: str = "cost_per_mtok_usd") -> Figure:
    """Empirical cumulative distribution of ``metric`` (default cost per million tokens, USD/Mtok)
    over the solved ``sample`` and ``grid`` cases, one step line per scenario.

    The y value at x is the share of a scenario's solved cases whose metric is at most x; a line
    further left is cheaper, a steeper one less uncertain. The median is marked with a dot. The
    legend gives each scenario's solved and failed cases, the title the totals.
    """
    df = _case_frame(ds, metric)
    df = df[df["design"].isin(DISTRIBUTION_DESIGNS)]
    if df.empty:
        raise ValueError("cost_distribution: the sweep has no sample or grid cases")
    if not df["solved"].any():
        raise ValueError(f"cost_distribution: none of the {len(df)} sample/grid cases solved")
    scens = [s for s in _scenarios(ds) if (df["scenario"] == s).any()]
    fig = _figure(7.5, 4.5)
    ax = fig.add_subplot()
    for scen, col in zip(scens, _colors(len(scens)), strict=True):
        sub = df[df["scenario"] == scen]
        v = np.sort(sub.loc[sub["solved"], "value"].to_numpy(dtype=float))
        failed = int((~sub["solved"]).sum())
        label = f"{scen} (n={v.size}" + (f", {failed} failed)" if failed else ")")
        if v.size == 0:
            ax.plot([], [], color=col, label=label)
            continue
        y = np.arange(1, v.size + 1) / v.size
        ax.step(np.r_[v[0], v], np.r_[0.0, y], where="post", color=col, lw=1.8, label=label)
        ax.plot([np.median(v)], [0.5], "o", color=col, ms=5)
    n_failed = int((~df["solved"]).sum())
    ax.set_xlabel(_metric_label(metric))
    ax.set_ylabel("share of cases at or below")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(title="scenario", fontsize=8, frameon=False)
    ax.set_title(f"Distribution of {metric} over {len(df)} sample/grid cases ({n_failed} failed); dot = median",
                 fontsize=10)
    return fig


# ---------------------------------------------------------------- tornado

_TORNADO_COLUMNS = ["scenario", "key", "source", "base", "low", "high", "min", "max", "swing", "low_value",
                    "high_value", "base_value", "failed"]


def _coord_value(ds: xr.Dataset, key: str, idx: int) -> float:
    if key in ds.coords or key in ds.variables:
        try:
            return float(ds[key].values[idx])
        except (TypeError, ValueError):
            return math.nan
    return math.nan


def _oat_rows(ds: xr.Dataset, df: pd.DataFrame, scen: str) -> list[dict[str, Any]]:
    sub = df[(df["scenario"] == scen) & (df["design"] == "oat")]
    base = sub[sub["oat_side"] == "base"]
    if len(base) > 1:  # OAT cases at several grid points (--grid with --samples): those of the first one
        varied = set(sub["oat_key"])
        at_first = np.ones(len(sub), dtype=bool)
        for k in (k for k in _swept_keys(ds) if k not in varied):
            v = np.asarray(ds[k].values, dtype=float)
            at_first &= np.isclose(v[sub.index], v[base.index[0]], rtol=1e-12, atol=0.0, equal_nan=True)
        sub = sub[at_first]
        base = sub[sub["oat_side"] == "base"]
    base_val = float(base["value"].iloc[0]) if len(base) and base["solved"].iloc[0] else math.nan
    rows = []
    for key in dict.fromkeys(k for k in sub["oat_key"] if k):
        kc = sub[sub["oat_key"] == key]
        row: dict[str, Any] = {"scenario": scen, "key": key, "source": "oat", "base": base_val, "failed": 0,
                               "base_value": _coord_value(ds, key, int(base.index[0])) if len(base) else math.nan}
        for side in ("low", "high"):
            c = kc[kc["oat_side"] == side]
            ok = bool(len(c)) and bool(c["solved"].iloc[0])
            row[side] = float(c["value"].iloc[0]) if ok else math.nan
            row[f"{side}_value"] = _coord_value(ds, key, int(c.index[0])) if len(c) else math.nan
            row["failed"] += int(len(c) - (1 if ok else 0))
        vals = np.array([row["base"], row["low"], row["high"]], dtype=float)
        rows.append(row | _range(vals))
    return rows


def _range(vals: np.ndarray) -> dict[str, float]:
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return {"min": math.nan, "max": math.nan, "swing": math.nan}
    return {"min": float(vals.min()), "max": float(vals.max()), "swing": float(vals.max() - vals.min())}


def _swept_keys(ds: xr.Dataset) -> list[str]:
    raw = ds.attrs.get("swept_keys")
    if isinstance(raw, str):
        try:
            keys = json.loads(raw)
        except ValueError:
            keys = []
    elif raw is None:
        keys = []
    else:
        keys = list(np.atleast_1d(raw))
    return [str(k) for k in keys if str(k) in ds.variables]


def _grid_rows(ds: xr.Dataset, df: pd.DataFrame, scen: str) -> list[dict[str, Any]]:
    sub = df[(df["scenario"] == scen) & (df["design"] == "grid")]
    if sub.empty:
        return []
    keys = [k for k in _swept_keys(ds) if np.isfinite(np.asarray(ds[k].values, dtype=float)[sub.index]).any()]
    vals = {k: np.asarray(ds[k].values, dtype=float)[sub.index] for k in keys}
    first = {k: v[0] for k, v in vals.items()}  # the first grid case: every key at its first grid value
    v0 = sub["value"].to_numpy(dtype=float)
    ok = sub["solved"].to_numpy()
    base_val = float(v0[0]) if ok[0] else math.nan
    rows = []
    for key in keys:
        others = np.ones(len(sub), dtype=bool)
        for k in keys:
            if k != key:
                others &= np.isclose(vals[k], first[k], rtol=1e-12, atol=0.0, equal_nan=True)
        line = np.flatnonzero(others)
        if line.size < 2:
            continue
        x, y, good = vals[key][line], v0[line], ok[line]
        lo, hi = line[np.nanargmin(x)], line[np.nanargmax(x)]
        row: dict[str, Any] = {
            "scenario": scen, "key": key, "source": "grid", "base": base_val, "base_value": first[key],
            "low": float(v0[lo]) if ok[lo] else math.nan, "high": float(v0[hi]) if ok[hi] else math.nan,
            "low_value": float(vals[key][lo]), "high_value": float(vals[key][hi]), "failed": int((~good).sum())}
        rows.append(row | _range(np.where(good, y, np.nan)))
    return rows


def tornado_data(ds: xr.Dataset, metric: str = "cost_per_mtok_usd") -> pd.DataFrame:
    """The numbers of :func:`tornado`: one row per (scenario, swept key), largest swing first
    within each scenario.

    Columns: ``source`` (``oat`` or ``grid``); ``base`` (the metric with every key at its base);
    ``low`` / ``high`` (the metric with the key at its low / high input value, ``low_value`` /
    ``high_value``; ``base_value`` the key's base input); ``min``, ``max`` and ``swing`` = max − min
    of the metric over the key's solved cases, base included; ``failed`` (the key's cases that did
    not solve).

    From ``oat`` cases when the sweep has them: the base case and each ``oat_key``'s low and high
    cases (with a grid as well, those at the first grid point). Otherwise from ``grid`` cases: the base is the first grid case (every key at its first
    grid value); for each swept key the cases that keep every other key at that first value, low /
    high at the key's smallest / largest value, and min / max over all of them.
    """
    df = _case_frame(ds, metric)
    use_oat = bool((df["design"] == "oat").any())
    if not use_oat and not (df["design"] == "grid").any():
        raise ValueError("tornado: the sweep has no one-at-a-time (oat) or grid cases")
    rows: list[dict[str, Any]] = []
    for scen in _scenarios(ds):
        rows.extend(_oat_rows(ds, df, scen) if use_oat else _grid_rows(ds, df, scen))
    if not rows:
        raise ValueError("tornado: no swept key varies with the others held fixed")
    out = pd.DataFrame(rows, columns=_TORNADO_COLUMNS)
    order = {s: i for i, s in enumerate(_scenarios(ds))}
    out = out.assign(_s=out["scenario"].map(order), _w=out["swing"].fillna(-1.0))
    out = out.sort_values(["_s", "_w"], ascending=[True, False], kind="stable").drop(columns=["_s", "_w"])
    out.attrs["metric"] = metric
    return out.reset_index(drop=True)


def _fmt(x: float) -> str:
    return "?" if not np.isfinite(x) else f"{x:.3g}"


def tornado(ds: xr.Dataset, metric: str = "cost_per_mtok_usd") -> Figure:
    """One-at-a-time sensitivity of ``metric``: one panel per scenario, one row per swept key,
    largest swing (max − min of the metric over the key's cases) on top.

    Each row has two bars starting at the base result (vertical line): to the result with the key
    at its low input value (blue) and at its high input value (orange); the input values are in
    the row label ("low → high"). With ``oat`` cases the base is the OAT base case; a sweep with
    only a grid uses, per key, the cases that keep every other key at its first grid value (see
    :func:`tornado_data`), and a grey whisker shows the metric's full range over them. A key
    whose low or high case failed lacks that bar and is marked "(n failed)".
    """
    data = tornado_data(ds, metric)
    scens = list(dict.fromkeys(data["scenario"]))
    n_rows = [int((data["scenario"] == s).sum()) for s in scens]
    fig = _figure(9.0, 1.2 + sum(0.42 * n + 0.9 for n in n_rows))
    axes = fig.subplots(len(scens), 1, squeeze=False, gridspec_kw={"height_ratios": [n + 1.5 for n in n_rows]})[:, 0]
    source = str(data["source"].iloc[0])
    for ax, scen in zip(axes, scens, strict=True):
        d = data[data["scenario"] == scen].iloc[::-1]  # largest swing at the top
        y = np.arange(len(d))
        base = float(d["base"].iloc[0])
        ref = base if np.isfinite(base) else float(np.nanmean(d[["min", "max"]].to_numpy(dtype=float)))
        for side, col in (("low", "#3182bd"), ("high", "#e6550d")):
            v = d[side].to_numpy(dtype=float)
            ok = np.isfinite(v)
            ax.barh(y[ok], v[ok] - ref, left=ref, height=0.6, color=col, alpha=0.85,
                    label=f"key at its {side} value")
        if source == "grid":
            ax.hlines(y, d["min"], d["max"], colors="0.35", lw=1.0, label="range over the key's grid values")
        if np.isfinite(base):
            ax.axvline(base, color="0.2", lw=1.0)
        labels = []
        for _, r in d.iterrows():
            lab = f"{r['key']}\n{_fmt(r['low_value'])} → {_fmt(r['high_value'])}"
            labels.append(lab + (f" ({int(r['failed'])} failed)" if r["failed"] else ""))
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_ylim(-0.7, len(d) - 0.3)
        ax.set_title(f"{scen}: base {_fmt(base)}", fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
    axes[-1].set_xlabel(_metric_label(metric))
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=len(handles),
                   frameon=False, fontsize=8)
    how = "one at a time (OAT cases)" if source == "oat" else "over a grid, other keys at their first value"
    fig.suptitle(f"Sensitivity of {metric}, {how}", fontsize=10)
    return fig


# ---------------------------------------------------------------- probability of being cheapest

def cheapest_shares(ds: xr.Dataset, metric: str = "cost_per_mtok_usd") -> pd.Series:
    """Share of samples in which each scenario has the lowest ``metric``.

    Over the sample indices (``sample`` ≥ 0, shared across scenarios: common random numbers) at
    which every scenario of the sweep solved. A tie (metrics equal within a relative
    :data:`TIE_RTOL`) splits the sample equally among the tied scenarios, so the shares sum to 1.
    Returns a Series indexed by scenario (order of the sweep); ``attrs`` hold ``n_samples`` (used),
    ``n_dropped`` (sample indices left out because a scenario failed or lacks that sample) and
    ``metric``.
    """
    scens = _scenarios(ds)
    if len(scens) < 2:
        raise ValueError(f"probability_cheapest needs two or more scenarios; the sweep has {len(scens)}")
    df = _case_frame(ds, metric)
    df = df[df["sample"] >= 0]
    if df.empty:
        raise ValueError("probability_cheapest: the sweep has no sampled cases (run it with samples=N)")
    dup = df.duplicated(["scenario", "sample"])
    if dup.any():
        r = df[dup].iloc[0]
        raise ValueError(f"probability_cheapest: scenario {r['scenario']!r} has sample {r['sample']} more than once")
    wide = df.assign(value=df["value"].where(df["solved"])).pivot(index="sample", columns="scenario", values="value")
    wide = wide.reindex(columns=scens)
    complete = wide.dropna()
    if complete.empty:
        raise ValueError(f"probability_cheapest: no sample solved in every scenario ({len(wide)} samples)")
    v = complete.to_numpy(dtype=float)
    best = v.min(axis=1, keepdims=True)
    tied = np.isclose(v, best, rtol=TIE_RTOL, atol=0.0)
    wins = (tied / tied.sum(axis=1, keepdims=True)).sum(axis=0)
    shares = pd.Series(wins / len(complete), index=pd.Index(scens, name="scenario"), name="share_cheapest")
    shares.attrs.update(n_samples=len(complete), n_dropped=len(wide) - len(complete), metric=metric)
    return shares


def wilson_interval(p: np.ndarray | pd.Series | float, n: int, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the Wilson score interval (95 % for z = 1.96) of share(s) ``p`` of
    ``n`` trials: the sampling error of a share such as :func:`cheapest_shares` for ``n`` samples."""
    if n < 1:
        raise ValueError(f"wilson_interval needs n >= 1 trials, got {n}")
    p = np.asarray(p, dtype=float)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # the interval holds p; the clip only removes rounding (p = 0 or 1 gives a bound of -1e-17 or 1 - 1e-16)
    return np.clip(np.minimum(centre - half, p), 0, 1), np.clip(np.maximum(centre + half, p), 0, 1)


def probability_cheapest(ds: xr.Dataset, metric: str = "cost_per_mtok_usd") -> Figure:
    """Bar chart of :func:`cheapest_shares`: the share of samples in which each scenario has the
    lowest ``metric``, with the number of samples used and a 95 % Wilson interval per bar (the
    sampling error of the share for that many samples, not the uncertainty of the inputs).
    """
    shares = cheapest_shares(ds, metric)
    n, dropped = int(shares.attrs["n_samples"]), int(shares.attrs["n_dropped"])
    p = shares.to_numpy(dtype=float)
    lo, hi = wilson_interval(p, n)
    labels = list(shares.index)
    fig = _figure(max(6.0, 1.3 * len(labels) + 2.5), 4.3)
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    ax.bar(x, 100 * p, width=0.6, color=_colors(len(labels)))
    ax.errorbar(x, 100 * p, yerr=[100 * (p - lo), 100 * (hi - p)], fmt="none", ecolor="0.3", capsize=4, lw=1)
    for i, s in enumerate(p):
        ax.text(i, 100 * hi[i] + 1.5, f"{100 * s:.0f}%\n({s * n:.3g} of {n})", ha="center", va="bottom", fontsize=8)
    rot = len(labels) > 3
    ax.set_xticks(x, labels, rotation=20 if rot else 0, ha="right" if rot else "center")
    ax.set_ylabel("share of samples cheapest, %")
    ax.set_ylim(0, 118)
    ax.grid(axis="y", alpha=0.3)
    note = f"; {dropped} sample(s) dropped (a scenario failed)" if dropped else ""
    ax.set_title(f"Probability of the lowest {metric} over {n} samples{note}\n"
                 "(error bars: 95% Wilson interval for this many samples)", fontsize=10)
    return fig


# ---------------------------------------------------------------- files

SWEEP_CHARTS: dict[str, Callable[[xr.Dataset, str], Figure]] = {
    "cost_distribution.png": cost_distribution,
    "tornado.png": tornado,
    "probability_cheapest.png": probability_cheapest,
}
"""File name → chart function, in the order :func:`write_sweep_charts` writes them."""


def write_sweep_charts(ds: xr.Dataset, out_dir: str | Path, metric: str = "cost_per_mtok_usd") -> list[Path]:
    """Write the charts of :data:`SWEEP_CHARTS` that apply to ``ds`` as PNG files into ``out_dir``
    (each atomically, at the resolution of :mod:`optimizer.report.plots`) and return their paths.

    A chart that does not apply (its function raises :class:`ValueError`, e.g. the probability of
    being cheapest for a one-scenario sweep or the tornado without OAT or grid cases) is skipped
    and the reason logged at INFO.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, chart in SWEEP_CHARTS.items():
        try:
            fig = chart(ds, metric)
        except ValueError as e:
            log.info("%s skipped: %s", name, e)
            continue
        paths.append(_save(fig, out / name))
    return paths


__all__ = ["SOLVED_STATUSES", "SWEEP_CHARTS", "cheapest_shares", "cost_distribution", "probability_cheapest",
           "sweep_table", "tornado", "tornado_data", "wilson_interval", "write_sweep_charts"]
