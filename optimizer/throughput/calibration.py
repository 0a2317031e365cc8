"""Calibration of the roofline estimator against published measurements (``data/benchmarks.csv``).

:func:`load_benchmarks` reads the measurements; :func:`parse_tags` and :func:`row_factors` turn a
row's ``[model: ...]`` notes into the configuration it ran; :func:`fit_efficiencies` fits the
efficiency factors and the other calibrated constants (least squares in log space);
:func:`calibrate` refits and reports per-row in-sample errors and, as the headline, held-out
errors by source (:func:`heldout_by_source`: refit without one publication's rows at a time, then
predict them at their own deployment), plus leave-one-row-out errors when asked;
:func:`calibration_from_fit` and :func:`write_calibration` store a fit in
``data/throughput_calibration.yaml`` (``tokenomics calibrate --write``), which
:mod:`optimizer.throughput.roofline` reads at import.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from optimizer.resources import atomic_write
from optimizer.throughput.estimator import estimate
from optimizer.throughput.hardware import (
    FAMILIES,
    PRECISION_BYTES,
    GpuSpec,
    LlmSpec,
    _norm_precision,
    _opt_float,
    gpu_family,
)
from optimizer.throughput.roofline import (
    Calibration,
    Efficiency,
    Factors,
    calibration_path,
    load_calibration,
)

BENCHMARK_COLUMNS = (
    "id", "gpu", "llm", "precision", "tokens_per_s_per_user", "input_len", "output_len",
    "metric", "value", "gpus", "source", "notes", "source_group", "date",
)
METRICS = ("output_tokens_per_s_per_gpu", "input_tokens_per_s_per_gpu", "total_tokens_per_s_per_gpu")
_TAG_RE = re.compile(r"\[model:([^\]]*)\]")


def load_benchmarks(path: str | Path) -> pd.DataFrame:
    """Read ``data/benchmarks.csv`` and check its columns and metrics."""
    df = pd.read_csv(path, comment=None)
    missing = [c for c in BENCHMARK_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    bad = sorted(set(df["metric"]) - set(METRICS))
    if bad:
        raise ValueError(f"{path}: unknown metrics {bad}")
    if df["id"].duplicated().any():
        raise ValueError(f"{path}: duplicate ids {df.loc[df['id'].duplicated(), 'id'].tolist()}")
    return df


def parse_tags(notes: Any) -> dict[str, str]:
    """Machine-readable settings of a benchmark row: ``[model: key=value; ...]`` in notes.

    Keys: ``serving`` (aggregated|disaggregated), ``mtp`` (tokens per step),
    ``mtp_verify`` (tokens verified per step = 1 + draft tokens), ``cache_hit`` (share),
    ``kv`` (bf16|fp8 KV precision), ``replica`` (decode GPUs per replica, the measured
    configuration), ``replica_max`` (widest replica the benchmark ran), ``layout``
    (tp|dp-ep), ``attn`` (fp8: FP8 attention kernels), ``batch_per_gpu`` (measured
    concurrency / GPUs), ``conc_max`` (top of the concurrency sweep, per replica),
    ``pd`` (prefill GPUs:decode GPUs of a disaggregated deployment), ``prefill_replica``
    (GPUs of one prefill instance of a disaggregated deployment), ``exclude`` (reason; the
    row is kept in the file but left out of the fit and of the error figures).
    """
    if not isinstance(notes, str):
        return {}
    return dict(_parse_tags_cached(notes))


@functools.lru_cache(maxsize=1024)
def _parse_tags_cached(notes: str) -> tuple[tuple[str, str], ...]:
    m = _TAG_RE.search(notes)
    if not m:
        return ()
    out: dict[str, str] = {}
    for part in m.group(1).split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip()
    return tuple(out.items())


def row_factors(row: Mapping[str, Any], base: Factors | None = None) -> Factors:
    """Factors reproducing a benchmark row's configuration (from its notes tags)."""
    f = base or Factors()
    t = parse_tags(row.get("notes"))
    kw: dict[str, Any] = {}
    if "serving" in t:
        kw["serving"] = t["serving"]
    if "mtp" in t:
        kw["mtp_tokens_per_step"] = float(t["mtp"])
    if "cache_hit" in t:
        kw["prefix_cache_hit"] = float(t["cache_hit"])
    if "kv" in t:
        kw["kv_bytes_per_element"] = PRECISION_BYTES[_norm_precision(t["kv"])]
    if "replica" in t:
        kw["gpus_per_replica"] = int(t["replica"])
    if "prefill_replica" in t and any(x.name == "prefill_gpus_per_replica" for x in fields(Factors)):
        kw["prefill_gpus_per_replica"] = int(t["prefill_replica"])
    if "batch_per_gpu" in t:
        kw["max_batch_per_gpu"] = float(t["batch_per_gpu"])
    if "replica_max" in t:
        kw["max_replica_gpus"] = int(t["replica_max"])
    if "conc_max" in t:
        kw["max_batch_per_replica"] = float(t["conc_max"])
    if "mtp_verify" in t:
        kw["mtp_verify_tokens"] = int(float(t["mtp_verify"]))
    if "layout" in t:
        kw["layout"] = t["layout"]
    if "attn" in t:
        kw["fp8_attention"] = _norm_precision(t["attn"]) == "fp8"
    if "pd" in t:
        # prefill GPUs : decode GPUs of the deployed configuration
        a, b = (float(x) for x in t["pd"].split(":"))
        kw["prefill_decode_ratio"] = a / b
    return replace(f, **kw)


def _row_estimate(
    row: Mapping[str, Any], gpus: Mapping[str, GpuSpec], llms: Mapping[str, LlmSpec],
    base: Factors,
) -> float:
    gpu, llm = gpus[str(row["gpu"])], llms[str(row["llm"])]
    f = row_factors(row, base)
    speed = _opt_float(row.get("tokens_per_s_per_user")) or 20.0
    est = estimate(gpu, llm, str(row["precision"]), speed, int(row["input_len"]),
                   int(row["output_len"]), f)
    metric = str(row["metric"])
    if metric == "output_tokens_per_s_per_gpu" and f.serving == "aggregated":
        # aggregated serving: measured output rate includes the GPUs' prefill time
        return est.delivered_output_tokens_per_s_per_gpu
    return float(getattr(est, metric))


#: Global fitted parameters (name, start value, lower, upper). ``a_bw`` / ``a_c``: logits
#: of the bandwidth / compute efficiency; ``log_tau``: log of the step overhead (us per
#: layer and collective stage); ``log_pm1``: log(p - 1) of the overlap exponent;
#: ``log_comm``: log of the all-to-all time multiplier.
_GLOBALS: tuple[tuple[str, float, float, float], ...] = (
    ("a_bw", 0.0, -12.0, 12.0),
    ("a_c", -0.5, -12.0, 12.0),
    ("log_tau", math.log(10.0), math.log(0.1), math.log(1000.0)),
    ("log_pm1", 0.0, math.log(0.02), math.log(40.0)),
    ("log_comm", 0.0, math.log(0.01), math.log(20.0)),
    ("log_attn", 0.0, math.log(0.05), math.log(20.0)),
)


@dataclass(frozen=True)
class _Param:
    """Fit parameterisation.

    theta = [free globals..., d_1..d_F]; for family f: eta_bw = sigmoid(a_bw + d_f),
    eta_c = sigmoid(a_c + d_f) (so both stay in (0, 1) and ``d_f`` is close to a
    log-multiplier for small eta). Globals not in ``free`` are held at ``fixed`` values.
    """

    families: tuple[str, ...]
    free: tuple[str, ...] = ("a_bw", "a_c", "log_tau", "log_pm1", "log_comm", "log_attn")
    fixed: tuple[tuple[str, float], ...] = ()

    @property
    def size(self) -> int:
        return len(self.free) + len(self.families)

    def full(self, theta: np.ndarray) -> dict[str, float]:
        g = {name: x0 for name, x0, _, _ in _GLOBALS}
        g.update(dict(self.fixed))
        for i, name in enumerate(self.free):
            g[name] = float(theta[i])
        return g

    def offsets(self, theta: np.ndarray) -> np.ndarray:
        return np.asarray(theta[len(self.free):], dtype=float)

    def table(self, theta: np.ndarray) -> dict[str, Efficiency]:
        def sig(x: float) -> float:
            return 1.0 / (1.0 + math.exp(-x))

        g = self.full(theta)
        d = self.offsets(theta)
        return {fam: Efficiency(bw=sig(g["a_bw"] + d[i]), compute=sig(g["a_c"] + d[i]))
                for i, fam in enumerate(self.families)}

    def tau_us(self, theta: np.ndarray) -> float:
        return float(math.exp(self.full(theta)["log_tau"]))

    def overlap_p(self, theta: np.ndarray) -> float:
        return 1.0 + float(math.exp(self.full(theta)["log_pm1"]))

    def comm_scale(self, theta: np.ndarray) -> float:
        return float(math.exp(self.full(theta)["log_comm"]))

    def attn_scale(self, theta: np.ndarray) -> float:
        return float(math.exp(self.full(theta)["log_attn"]))

    def apply(self, theta: np.ndarray, base: Factors) -> Factors:
        return replace(base, efficiency=self.table(theta),
                       step_overhead_us_per_layer=self.tau_us(theta),
                       overlap_exponent=self.overlap_p(theta),
                       ep_comm_scale=self.comm_scale(theta),
                       attention_compute_scale=self.attn_scale(theta))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lim = {name: (lo, hi) for name, _, lo, hi in _GLOBALS}
        lo = [lim[n][0] for n in self.free] + [-12.0] * len(self.families)
        hi = [lim[n][1] for n in self.free] + [12.0] * len(self.families)
        return np.asarray(lo), np.asarray(hi)

    def x0(self, tau_us: float = 10.0, pm1: float = 1.0) -> np.ndarray:
        start = {name: x0 for name, x0, _, _ in _GLOBALS}
        start["log_tau"] = math.log(tau_us)
        start["log_pm1"] = math.log(pm1)
        return np.asarray([start[n] for n in self.free] + [0.0] * len(self.families))


def _residuals(
    theta: np.ndarray, rows: list[dict[str, Any]], gpus: Mapping[str, GpuSpec],
    llms: Mapping[str, LlmSpec], par: _Param, base: Factors, ridge: float,
) -> np.ndarray:
    f = par.apply(theta, base)
    res = []
    for r in rows:
        est = _row_estimate(r, gpus, llms, f)
        res.append(math.log(max(est, 1e-9) / float(r["value"])))
    reg = math.sqrt(ridge) * par.offsets(theta)
    return np.concatenate([np.asarray(res, dtype=float), reg])


def _fit(
    rows: list[dict[str, Any]], gpus: Mapping[str, GpuSpec], llms: Mapping[str, LlmSpec],
    par: _Param, base: Factors, ridge: float, theta0: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    from scipy.optimize import least_squares

    lo, hi = par.bounds()
    starts = ([par.x0(t, q) for t in (3.0, 20.0) for q in (0.1, 1.0, 5.0)] if theta0 is None
              else [np.asarray(theta0, dtype=float)])
    best_x, best_cost = None, math.inf
    for x0 in starts:
        x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
        sol = least_squares(
            _residuals, x0, args=(rows, gpus, llms, par, base, ridge),
            bounds=(lo, hi), diff_step=1e-3, xtol=1e-8, ftol=1e-10, max_nfev=400,
        )
        if sol.cost < best_cost:
            best_x, best_cost = sol.x, float(sol.cost)
    assert best_x is not None
    return best_x, best_cost


def _fit_rows(benchmarks: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for r in benchmarks.to_dict("records"):
        if "exclude" in parse_tags(r.get("notes")):
            continue
        rows.append(r)
    return rows


def fit_efficiencies(
    benchmarks: pd.DataFrame,
    gpus: Mapping[str, GpuSpec],
    llms: Mapping[str, LlmSpec],
    *,
    base: Factors | None = None,
    ridge: float = 0.05,
    par: _Param | None = None,
) -> tuple[dict[str, Efficiency], dict[str, Any]]:
    """Least-squares fit of the efficiency factors in log space.

    Minimises sum(log(estimate / measured)**2) + ridge * sum(d_f**2) over the
    parameters of :class:`_Param`: six globals (``a_bw``, ``a_c``, ``log_tau``,
    ``log_pm1``, ``log_comm``, ``log_attn``) and one offset per family (11 with the
    five families).

    Parameters
    ----------
    benchmarks : DataFrame
        Rows of ``data/benchmarks.csv``; rows tagged ``exclude=...`` are skipped.
    gpus, llms : Mapping
        Specs for the ids used by the rows.
    base : Factors, optional
        Modelling choices other than the fitted factors.
    ridge : float
        Weight of the penalty on each family offset ``d_f`` (log units); it pulls a
        family with few rows toward the global factors.

    Returns
    -------
    (dict[str, Efficiency], dict)
        Fitted factors per family and info: ``theta``, ``step_overhead_us_per_layer``,
        ``overlap_exponent``, ``ep_comm_scale``, ``attention_compute_scale``,
        ``n_params``, ``n_rows``, ``cost``, ``ridge``, ``param``.
    """
    base = base or Factors()
    rows = _fit_rows(benchmarks)
    par = par or _Param(FAMILIES)
    theta, cost = _fit(rows, gpus, llms, par, base, ridge)
    return par.table(theta), {
        "theta": theta, "step_overhead_us_per_layer": par.tau_us(theta),
        "overlap_exponent": par.overlap_p(theta), "ep_comm_scale": par.comm_scale(theta),
        "attention_compute_scale": par.attn_scale(theta),
        "n_params": par.size, "n_rows": len(rows), "cost": cost, "ridge": ridge,
        "param": par,
    }


def _gauss_newton(
    rows: list[dict[str, Any]], gpus: Mapping[str, GpuSpec], llms: Mapping[str, LlmSpec],
    par: _Param, base: Factors, ridge: float, theta: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residuals ``r0``, Jacobian ``J`` and ``J'J`` of the fit objective at ``theta``.

    The Jacobian is taken with a wide finite-difference step because the residuals are only
    piecewise smooth (replica and layout switches, batch caps).
    """
    r0 = _residuals(theta, rows, gpus, llms, par, base, ridge)
    h = 0.02
    cols = []
    for k in range(len(theta)):
        t2 = np.array(theta, dtype=float)
        t2[k] += h
        cols.append((_residuals(t2, rows, gpus, llms, par, base, ridge) - r0) / h)
    jac = np.stack(cols, axis=1)
    hess = jac.T @ jac + 1e-6 * np.eye(len(theta))
    return r0, jac, hess


def _drop_starts(
    rows: list[dict[str, Any]], gpus: Mapping[str, GpuSpec], llms: Mapping[str, LlmSpec],
    par: _Param, base: Factors, ridge: float, theta: np.ndarray,
    drops: Mapping[str, list[int]],
) -> dict[str, np.ndarray]:
    """Start points for refits without some rows: one Gauss-Newton step per dropped set.

    Dropping the rows ``I`` from a least-squares fit moves the optimum by about
    (J'J)^-1 sum_i J_i' r_i (J: Jacobian of the residuals, r_i: row i's residual). The
    refit then starts there, so it does not stall on the kink the full fit sits on.
    ``drops`` maps a name (a row id, a source group) to the indices of its rows in ``rows``.
    """
    r0, jac, hess = _gauss_newton(rows, gpus, llms, par, base, ridge, theta)
    out = {}
    for name, idx in drops.items():
        g = sum((jac[i] * r0[i] for i in idx), np.zeros(len(theta)))
        out[name] = np.asarray(theta, dtype=float) + np.linalg.solve(hess, g)
    return out


def _loo_starts(
    rows: list[dict[str, Any]], gpus: Mapping[str, GpuSpec], llms: Mapping[str, LlmSpec],
    par: _Param, base: Factors, ridge: float, theta: np.ndarray,
) -> dict[str, np.ndarray]:
    """Start points for the leave-one-out refits (:func:`_drop_starts`, one row at a time)."""
    return _drop_starts(rows, gpus, llms, par, base, ridge, theta,
                        {r["id"]: [i] for i, r in enumerate(rows)})


def source_groups(benchmarks: pd.DataFrame) -> list[str]:
    """The ``source_group`` values of the fitted rows (rows tagged ``exclude`` do not count), in
    order of first appearance."""
    seen: dict[str, None] = {}
    for r in _fit_rows(benchmarks):
        seen.setdefault(str(r.get("source_group")), None)
    return list(seen)


def heldout_by_source(
    benchmarks: pd.DataFrame,
    gpus: Mapping[str, GpuSpec],
    llms: Mapping[str, LlmSpec],
    *,
    base: Factors | None = None,
    ridge: float = 0.05,
    par: _Param | None = None,
    theta: np.ndarray | None = None,
) -> pd.DataFrame:
    """Held-out errors by source: refit without one whole ``source_group`` at a time, then
    predict that group's rows at their own deployment (their ``[model: ...]`` tags).

    Each refit starts from the full fit moved by one Gauss-Newton step for the dropped group
    (:func:`_drop_starts`) and falls back to the full-fit start if that ends at a higher cost
    (:func:`_refit_without`).

    Parameters
    ----------
    benchmarks, gpus, llms, base, ridge, par
        As for :func:`fit_efficiencies`.
    theta : ndarray, optional
        The full fit's parameters (refitted when not given).

    Returns
    -------
    DataFrame
        One row per fitted benchmark row: ``id``, ``source_group``, ``heldout_estimate``,
        ``heldout_rel_error`` (estimate / measured - 1). ``attrs["constants"]`` maps each group
        to the constants refitted without it (``efficiency``, ``step_overhead_us_per_layer``,
        ``overlap_exponent``, ``ep_comm_scale``, ``attention_compute_scale``) and
        ``attrs["theta"]`` to the parameter vectors.
    """
    base = base or Factors()
    par = par or _Param(FAMILIES)
    rows = _fit_rows(benchmarks)
    if theta is None:
        theta, _ = _fit(rows, gpus, llms, par, base, ridge)
    groups = source_groups(benchmarks)
    idx = {g: [i for i, r in enumerate(rows) if str(r.get("source_group")) == g] for g in groups}
    starts = _drop_starts(rows, gpus, llms, par, base, ridge, theta, idx)
    out, consts, thetas = [], {}, {}
    for g in groups:
        others = [r for i, r in enumerate(rows) if i not in set(idx[g])]
        th = _refit_without(others, gpus, llms, par, base, ridge, theta, starts[g])
        f = par.apply(th, base)
        thetas[g] = th
        consts[g] = {"efficiency": par.table(th), "step_overhead_us_per_layer": par.tau_us(th),
                     "overlap_exponent": par.overlap_p(th), "ep_comm_scale": par.comm_scale(th),
                     "attention_compute_scale": par.attn_scale(th)}
        for i in idx[g]:
            r = rows[i]
            est = _row_estimate(r, gpus, llms, f)
            out.append({"id": r["id"], "source_group": g, "heldout_estimate": est,
                        "heldout_rel_error": est / float(r["value"]) - 1.0})
    df = pd.DataFrame(out, columns=["id", "source_group", "heldout_estimate", "heldout_rel_error"])
    df.attrs["constants"] = consts
    df.attrs["theta"] = thetas
    return df


def group_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per source group of a :func:`calibrate` result: fitted ``rows``, ``date``, in-sample and
    held-out median |estimate / measured - 1|, and the worst held-out row (``worst_id``,
    ``worst_ratio`` = estimate / measured)."""
    inc = df[~df["excluded"]]
    out = []
    for g, d in inc.groupby("source_group", sort=False):
        ratio = d["heldout_estimate"] / d["measured"]
        w = int(np.argmax(np.abs(np.log2(ratio.to_numpy()))))
        out.append({
            "source_group": g, "date": str(d["date"].iloc[0]), "rows": int(len(d)),
            "median_abs_rel_error": float(np.median(np.abs(d["rel_error"]))),
            "heldout_median_abs_rel_error": float(np.median(np.abs(d["heldout_rel_error"]))),
            "worst_id": str(d["id"].iloc[w]), "worst_ratio": float(ratio.iloc[w]),
        })
    return pd.DataFrame(out)


def _refit_without(
    others: list[dict[str, Any]], gpus: Mapping[str, GpuSpec], llms: Mapping[str, LlmSpec],
    par: _Param, base: Factors, ridge: float, theta: np.ndarray, shifted: np.ndarray | None,
) -> np.ndarray:
    """Refit without one row, from its shifted start (else from the full fit).

    The refit from the full fit is run as well when the shifted start ends above the
    cost of the full-fit parameters themselves.
    """
    if shifted is not None:
        th, cost = _fit(others, gpus, llms, par, base, ridge, theta0=shifted)
        cost0 = 0.5 * float(np.sum(_residuals(theta, others, gpus, llms, par, base, ridge) ** 2))
        if cost <= cost0:
            return th
    th0, cost0 = _fit(others, gpus, llms, par, base, ridge, theta0=theta)
    if shifted is not None and cost < cost0:
        return th
    return th0


def calibrate(
    benchmarks: pd.DataFrame,
    gpus: Mapping[str, GpuSpec],
    llms: Mapping[str, LlmSpec],
    *,
    base: Factors | None = None,
    ridge: float = 0.05,
    loo: bool = True,
    heldout: bool = True,
    par: _Param | None = None,
) -> pd.DataFrame:
    """Refit the factors and report per-row in-sample, held-out-by-source (the headline) and
    leave-one-out errors (``loo=False`` skips the leave-one-out refits, one per row).

    Returns
    -------
    DataFrame
        One row per benchmark with ``family``, ``metric``, ``source_group``, ``date``,
        ``measured``, ``estimate_constants`` (with the module constants), ``estimate``
        (refitted), ``rel_error`` = estimate / measured - 1, ``heldout_estimate`` (refit
        without the row's whole source group, then predict it; :func:`heldout_by_source`),
        ``heldout_rel_error``, ``loo_estimate`` (refit without the row alone),
        ``loo_rel_error`` and ``excluded``. ``attrs`` holds the refit (``efficiency``,
        ``step_overhead_us_per_layer``, ``overlap_exponent``, ``ep_comm_scale``,
        ``attention_compute_scale``), ``summary`` (median |rel err| and max |log2 err|,
        in-sample, held-out by source and leave-one-out; ``heldout_groups``), ``groups``
        (:func:`group_table`), ``heldout_constants`` (per group) and ``info``. Excluded rows
        get estimates but no held-out or leave-one-out ones and count in no figure.

    Each held-out or leave-one-out refit starts from the full fit moved by one Gauss-Newton
    step for the dropped rows (:func:`_drop_starts`), so it does not stall on the kink of the
    piecewise-smooth objective that the full fit sits on.
    """
    base = base or Factors()
    par = par or _Param(FAMILIES)
    eff, info = fit_efficiencies(benchmarks, gpus, llms, base=base, ridge=ridge, par=par)
    f_fit = par.apply(info["theta"], base)
    f_const = replace(base, efficiency=None, step_overhead_us_per_layer=None,
                      overlap_exponent=None,
                      ep_comm_scale=None, attention_compute_scale=None)
    fit_rows = _fit_rows(benchmarks)
    shifts = _loo_starts(fit_rows, gpus, llms, par, base, ridge, info["theta"]) if loo else {}
    held = (heldout_by_source(benchmarks, gpus, llms, base=base, ridge=ridge, par=par,
                              theta=info["theta"]) if heldout else None)
    held_by_id = held.set_index("id") if held is not None else None
    out = []
    for r in benchmarks.to_dict("records"):
        excluded = "exclude" in parse_tags(r.get("notes"))
        measured = float(r["value"])
        e_fit = _row_estimate(r, gpus, llms, f_fit)
        e_const = _row_estimate(r, gpus, llms, f_const)
        loo_est = math.nan
        if loo and not excluded:
            others = [x for x in fit_rows if x["id"] != r["id"]]
            th = _refit_without(others, gpus, llms, par, base, ridge, info["theta"],
                                shifts.get(r["id"]))
            loo_est = _row_estimate(r, gpus, llms, par.apply(th, base))
        ho_est = math.nan
        if held_by_id is not None and not excluded:
            ho_est = float(held_by_id.loc[r["id"], "heldout_estimate"])
        out.append({
            "id": r["id"], "gpu": r["gpu"], "llm": r["llm"], "precision": r["precision"],
            "family": gpu_family(gpus[str(r["gpu"])]), "metric": r["metric"],
            "source_group": r.get("source_group"), "date": r.get("date"),
            "measured": measured, "estimate_constants": e_const, "estimate": e_fit,
            "rel_error": e_fit / measured - 1.0,
            "heldout_estimate": ho_est,
            "heldout_rel_error": (ho_est / measured - 1.0) if not math.isnan(ho_est) else math.nan,
            "loo_estimate": loo_est,
            "loo_rel_error": (loo_est / measured - 1.0) if not math.isnan(loo_est) else math.nan,
            "excluded": excluded,
        })
    df = pd.DataFrame(out)
    inc = df[~df["excluded"]]
    df.attrs["efficiency"] = eff
    df.attrs["step_overhead_us_per_layer"] = info["step_overhead_us_per_layer"]
    df.attrs["overlap_exponent"] = info["overlap_exponent"]
    df.attrs["ep_comm_scale"] = info["ep_comm_scale"]
    df.attrs["attention_compute_scale"] = info["attention_compute_scale"]
    df.attrs["info"] = info
    summ = {
        "rows": int(len(inc)),
        "n_params": int(info["n_params"]),
        "median_abs_rel_error": float(np.median(np.abs(inc["rel_error"]))),
        "max_abs_log2_error": float(np.max(np.abs(np.log2(inc["estimate"] / inc["measured"])))),
        "heldout_median_abs_rel_error": math.nan,
        "heldout_max_abs_log2_error": math.nan,
        "heldout_groups": 0,
        "loo_median_abs_rel_error": math.nan,
        "loo_max_abs_log2_error": math.nan,
    }
    if held is not None:
        summ["heldout_median_abs_rel_error"] = float(np.median(np.abs(inc["heldout_rel_error"])))
        summ["heldout_max_abs_log2_error"] = float(
            np.max(np.abs(np.log2(inc["heldout_estimate"] / inc["measured"]))))
        summ["heldout_groups"] = int(inc["source_group"].nunique())
        df.attrs["groups"] = group_table(df)
        df.attrs["heldout_constants"] = held.attrs["constants"]
    if loo:
        summ["loo_median_abs_rel_error"] = float(np.nanmedian(np.abs(inc["loo_rel_error"])))
        summ["loo_max_abs_log2_error"] = float(
            np.nanmax(np.abs(np.log2(inc["loo_estimate"] / inc["measured"]))))
    df.attrs["summary"] = summ
    return df


# --------------------------------------------------------------------------------------
# The calibration file (data/throughput_calibration.yaml)
# --------------------------------------------------------------------------------------


#: Held-out-by-source figures stored in the calibration file (:func:`heldout_by_source`).
HELDOUT_KEYS = ("heldout_median_abs_rel_error", "heldout_max_abs_log2_error", "heldout_groups")


def heldout_figures(df: pd.DataFrame) -> dict[str, float | int]:
    """The held-out-by-source figures of a :func:`calibrate` result (:data:`HELDOUT_KEYS`; NaN and 0
    when it ran without them)."""
    s = df.attrs["summary"]
    return {"heldout_median_abs_rel_error": float(s.get("heldout_median_abs_rel_error", math.nan)),
            "heldout_max_abs_log2_error": float(s.get("heldout_max_abs_log2_error", math.nan)),
            "heldout_groups": int(s.get("heldout_groups", 0))}


def calibration_from_fit(df: pd.DataFrame, date: str | None = None) -> Calibration:
    """The constants of a :func:`calibrate` result (its ``attrs``), dated ``date`` (default:
    today). ``default_efficiency`` is the geometric mean of the family factors."""
    eff: Mapping[str, Efficiency] = df.attrs["efficiency"]
    summary = df.attrs["summary"]
    g_bw = float(np.exp(np.mean([np.log(e.bw) for e in eff.values()])))
    g_c = float(np.exp(np.mean([np.log(e.compute) for e in eff.values()])))
    return Calibration(
        **heldout_figures(df),
        date=date or _dt.date.today().isoformat(),
        rows=int(summary["rows"]),
        parameters=int(summary["n_params"]),
        median_abs_rel_error=float(summary["median_abs_rel_error"]),
        max_abs_log2_error=float(summary["max_abs_log2_error"]),
        loo_median_abs_rel_error=float(summary["loo_median_abs_rel_error"]),
        loo_max_abs_log2_error=float(summary["loo_max_abs_log2_error"]),
        efficiency={f: Efficiency(bw=float(e.bw), compute=float(e.compute)) for f, e in eff.items()},
        default_efficiency=Efficiency(bw=g_bw, compute=g_c),
        step_overhead_us_per_layer=float(df.attrs["step_overhead_us_per_layer"]),
        overlap_exponent=float(df.attrs["overlap_exponent"]),
        ep_comm_scale=float(df.attrs["ep_comm_scale"]),
        attention_compute_scale=float(df.attrs["attention_compute_scale"]),
    )


def _num(x: float) -> str:
    """``x`` as a YAML 1.1 float that reads back to the same double (``repr`` precision)."""
    x = float(x)
    if math.isnan(x):
        return ".nan"
    if math.isinf(x):
        return ".inf" if x > 0 else "-.inf"
    r = repr(x)
    mantissa, e, exp = r.partition("e")
    if e and "." not in mantissa:  # PyYAML reads 1e-05 as a string, 1.0e-05 as a float
        r = f"{mantissa}.0e{exp}"
    return r


def _eff(e: Efficiency) -> str:
    return f"{{bw: {_num(e.bw)}, compute: {_num(e.compute)}}}"


def format_calibration(cal: Calibration) -> str:
    """The text of ``data/throughput_calibration.yaml`` for ``cal`` (full float precision)."""
    lines = [
        f"# derived: fitted by `tokenomics calibrate --write` to data/benchmarks.csv on {cal.date}",
        f"# ({cal.rows} rows, {cal.parameters} free parameters; least squares on log(estimate / measured),",
        "# method and per-row errors in docs/throughput.md). Read at import by",
        "# optimizer/throughput/roofline.py; rewrite it with `tokenomics calibrate --write`, not by hand.",
        f'date: "{cal.date}"',
        f"rows: {cal.rows}",
        f"parameters: {cal.parameters}",
        "# errors over the rows: median |estimate / measured - 1| and max |log2(estimate / measured)|,",
        "# in-sample and leave-one-out (refit without the row, then predict it)",
        f"median_abs_rel_error: {_num(cal.median_abs_rel_error)}",
        f"max_abs_log2_error: {_num(cal.max_abs_log2_error)}",
        f"loo_median_abs_rel_error: {_num(cal.loo_median_abs_rel_error)}",
        f"loo_max_abs_log2_error: {_num(cal.loo_max_abs_log2_error)}",
        "# held-out by source: refit without one source_group of data/benchmarks.csv at a time, then",
        "# predict its rows; median |estimate / measured - 1|, max |log2(estimate / measured)|, groups",
        f"heldout_median_abs_rel_error: {_num(cal.heldout_median_abs_rel_error)}",
        f"heldout_max_abs_log2_error: {_num(cal.heldout_max_abs_log2_error)}",
        f"heldout_groups: {int(cal.heldout_groups)}",
        "# achieved fraction of the datasheet HBM bandwidth (bw) and dense tensor peak (compute)",
        "efficiency:",
        *(f"  {fam}: {_eff(e)}" for fam, e in cal.efficiency.items()),
        "# families without their own factors: geometric mean of the families above",
        f"default_efficiency: {_eff(cal.default_efficiency)}",
        "# fixed decode-step time per layer and collective stage (microseconds)",
        f"step_overhead_us_per_layer: {_num(cal.step_overhead_us_per_layer)}",
        "# p of the p-norm joining the memory, compute and collective times of a step",
        f"overlap_exponent: {_num(cal.overlap_exponent)}",
        "# multiplier on the collective time (expert-parallel all-to-all, tensor-parallel all-reduce)",
        f"ep_comm_scale: {_num(cal.ep_comm_scale)}",
        "# attention-kernel efficiency relative to the GEMM efficiency",
        f"attention_compute_scale: {_num(cal.attention_compute_scale)}",
    ]
    return "\n".join(lines) + "\n"


def write_calibration(cal: Calibration, path: str | Path | None = None) -> Path:
    """Write ``cal`` to ``path`` (default: the bundled ``data/throughput_calibration.yaml``)
    atomically: readers see the old file or the new one, never half of it."""
    path = Path(path) if path is not None else calibration_path()
    text = format_calibration(cal)
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path


def _flat(cal: Calibration) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(cal):
        v = getattr(cal, f.name)
        if isinstance(v, Efficiency):
            out[f"{f.name}.bw"], out[f"{f.name}.compute"] = v.bw, v.compute
        elif isinstance(v, Mapping):
            for fam, e in v.items():
                out[f"{f.name}.{fam}.bw"], out[f"{f.name}.{fam}.compute"] = e.bw, e.compute
        else:
            out[f.name] = v
    return out


def calibration_changes(old: Calibration | None, new: Calibration) -> list[str]:
    """One line per value that differs between ``old`` and ``new`` (every value if no ``old``)."""
    a, b = (_flat(old) if old is not None else {}), _flat(new)
    lines = []
    for k in list(b) + [k for k in a if k not in b]:
        x, y = a.get(k), b.get(k)
        same = x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        if same:
            continue
        change = ""
        if isinstance(x, float) and isinstance(y, float) and x and math.isfinite(x) and math.isfinite(y):
            change = f" ({y / x - 1:+.2%})"
        lines.append(f"{k}: {'-' if x is None else x} -> {'-' if y is None else y}{change}")
    return lines


def read_calibration_if_any(path: str | Path | None = None) -> Calibration | None:
    """The calibration at ``path`` (default: the bundled file), or None if there is none or it
    does not parse (so ``--write`` can replace a broken file)."""
    p = Path(path) if path is not None else calibration_path()
    if not p.is_file():
        return None
    try:
        return load_calibration(p)
    except (ValueError, TypeError, KeyError, OSError, yaml.YAMLError):
        return None
