"""Representative days: a scenario's hourly series clustered into typical days with tsam.

Every hourly series of the scenario (site prices, carbon intensity, PUE, solar and wind capacity
factors, export prices, market demand per LLM) is one column of a frame that tsam clusters into
``n`` typical days (hierarchical clustering, medoid representation, column means preserved). The
days holding the highest hour of total demand and of each market's demand for each LLM are kept as
extra periods (``ExtremeConfig`` ``new_cluster``), so capacity is sized on real peaks; in worlds
with more than ``n`` such series, the peaks of each market's total (or, beyond ``n`` markets, of
each LLM's total) are kept instead, so at most ``n + 1`` extra days are added. Each typical day gets the number of
days it stands for as its weight (``time.day_weights``); storage is cyclic within each typical
day (:attr:`optimizer.scenario.schema.TimeSpec.contiguous` is False for them).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from optimizer.errors import ScenarioError
from optimizer.scenario.schema import Scenario, Series
from optimizer.technologies import TECHNOLOGIES

log = logging.getLogger(__name__)


def _columns(sc: Scenario) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Every time-varying series: column name -> (path in the scenario, values)."""
    cols: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}

    def put(path: tuple[str, ...], v: Series | None) -> None:
        if isinstance(v, list):
            cols["/".join(path)] = (path, np.asarray(v, float))

    for sid, s in sc.sites.items():
        for f in ("energy_price_usd_per_mwh", "carbon_kg_per_mwh", "pue", "export_price_usd_per_mwh"):
            put(("sites", sid, f), getattr(s, f))
        for kind in (t.kind for t in TECHNOLOGIES):
            gen = getattr(s, kind)
            if gen is not None:
                put(("sites", sid, kind, "capacity_factor"), gen.capacity_factor)
    for mid, m in sc.markets.items():
        for lid, v in m.demand_output_tokens_per_s.items():
            put(("markets", mid, "demand_output_tokens_per_s", lid), v)
    return cols


def _set(d: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for p in path[:-1]:
        d = d[p]
    d[path[-1]] = value


def _keep_peaks_and_means(reps: pd.DataFrame, counts: dict, assign: np.ndarray, frame: pd.DataFrame,
                          demand_cols: list[str], peak_cols: list[str]) -> None:
    """Demand columns are left out of tsam's mean rescaling so peak days stay exact; here the other
    typical days are scaled so that each demand column's weighted mean equals the original mean.
    ``peak_cols`` are the series whose peak days tsam kept as periods of their own."""
    if not demand_cols:
        return
    peak_days = {int(np.argmax(frame[c].to_numpy().reshape(-1, 24).max(axis=1))) for c in peak_cols}
    protected = {int(assign[d]) for d in peak_days}
    for c in demand_cols:
        total = float(frame[c].sum())
        kept = sum(float(reps.loc[k][c].sum()) * counts[k] for k in counts if k in protected)
        rest = sum(float(reps.loc[k][c].sum()) * counts[k] for k in counts if k not in protected)
        if rest > 0 and total > kept:
            factor = (total - kept) / rest
            for k in counts:
                if k not in protected:
                    reps.loc[k, c] = reps.loc[k][c].to_numpy() * factor


def _peak_series(frame: pd.DataFrame, demand_cols: list[str], n_days: int) -> list[str]:
    """Demand series whose peak day is kept as a period of its own: total demand, plus each
    market x LLM series when there are at most ``n_days`` of them, else each market's total when
    there are at most ``n_days`` markets, else each LLM's total (helper columns added to ``frame``).
    So at most ``n_days + 1`` extra days, however large the world."""
    frame["_total_demand"] = frame[demand_cols].sum(axis=1)
    if len(demand_cols) <= n_days:
        return ["_total_demand", *demand_cols]
    by: dict[str, list[str]] = {}
    markets = {c.split("/")[1] for c in demand_cols}
    level = 1 if len(markets) <= n_days else 3  # markets/<market>/demand_output_tokens_per_s/<llm>
    for c in demand_cols:
        by.setdefault(f"_peak/{c.split('/')[level]}", []).append(c)
    for name, members in by.items():
        frame[name] = frame[members].sum(axis=1)
    return ["_total_demand", *by]


def representative_days(sc: Scenario, n_days: int) -> tuple[Scenario, dict[str, Any]]:
    """The scenario on ``n_days`` typical days (plus the peak-demand day) with day weights."""
    import tsam

    idx = sc.time.index()
    if sc.time.steps % 24 or (idx.hour[0] != 0):
        raise ScenarioError(f"time.representative_days: needs whole UTC days, got {sc.time.steps} hours "
                            f"from {idx[0]}")
    n_in = sc.time.steps // 24
    if n_days >= n_in:
        return sc, {"days_in": n_in, "days_out": n_in, "note": "no aggregation needed"}
    cols = _columns(sc)
    if not cols:
        frame = pd.DataFrame({"flat": np.ones(len(idx))}, index=pd.date_range("2001-01-01", periods=len(idx), freq="h"))
    else:
        # tsam needs a regular index: the modelled days back to back
        frame = pd.DataFrame({k: v for k, (_, v) in cols.items()},
                             index=pd.date_range("2001-01-01", periods=len(idx), freq="h"))
    demand_cols = [k for k in cols if k.startswith("markets/")]
    peak_cols = _peak_series(frame, demand_cols, n_days) if demand_cols else []
    # keep the peak days of total demand and of the demand series peak_cols: fleets are sized on peaks
    extremes = tsam.ExtremeConfig(method="new_cluster", max_value=peak_cols) if peak_cols else None
    weights = {c: (1.0 if not c.startswith("_") or c == "_total_demand" else 1e-6) for c in frame.columns}
    helpers = [c for c in frame.columns if c.startswith("_")]
    result = tsam.aggregate(frame, n_days, period_duration=24, extremes=extremes, weights=weights, numerical_tolerance=1e-6,
                            rescale_exclude_columns=[*helpers, *demand_cols] if demand_cols else None)
    reps = result.cluster_representatives
    counts = result.cluster_counts
    assign = np.asarray(result.cluster_assignments)
    _keep_peaks_and_means(reps, counts, assign, frame, demand_cols, peak_cols)
    order = sorted(counts, key=lambda k: int(np.flatnonzero(assign == k)[0]) if (assign == k).any() else 10**9)
    days = idx.normalize().unique()
    dates, weights_d, values = [], [], {c: [] for c in cols}
    for k in order:
        members = np.flatnonzero(assign == k)
        first = members[0] if len(members) else 0
        dates.append(days[first].strftime("%Y-%m-%d"))
        weights_d.append(float(counts[k]) * 365.0 / n_in)
        block = reps.loc[k]
        for c in cols:
            values[c].extend(block[c].to_numpy(float).tolist())
    data = sc.model_dump(mode="python", exclude={"source_file"})
    for c, (path, _) in cols.items():
        _set(data, path, [max(0.0, x) if not path[-1] == "pue" else max(1.0, x) for x in values[c]])
    data["time"] = {"dates": dates, "day_weights": weights_d, "representative_days": n_days}
    if len(set(dates)) != len(dates):  # two typical days share a first date: keep them apart by a day
        seen: dict[str, int] = {}
        fixed = []
        for d in dates:
            ts = pd.Timestamp(d)
            while ts.strftime("%Y-%m-%d") in seen:
                ts += pd.Timedelta(days=1)
            seen[ts.strftime("%Y-%m-%d")] = 1
            fixed.append(ts.strftime("%Y-%m-%d"))
        data["time"]["dates"] = fixed
    out = Scenario.model_validate(data).model_copy(update={"source_file": sc.source_file})
    info = {"days_in": n_in, "days_out": len(dates), "typical_days": n_days,
            "extreme_days": len(dates) - n_days, "rmse": float(np.nanmean(result.accuracy.rmse))
            if hasattr(result.accuracy, "rmse") else None}
    log.info("aggregated %d days into %d representative days", n_in, len(dates))
    return out, info
