"""Run many cases on dask.distributed and gather one Dataset with a ``case`` dim.

A case (:class:`~optimizer.sweeps.design.Case`) is solved on a dask worker by :func:`run_case`,
which writes the case's full results to ``OUT/cases/<case id>/`` as ``tokenomics solve`` does
(``summary.json``, ``results.nc``, ``run.json`` last) and returns one row of figures. The client
(:func:`sweep`) submits every case, gathers rows as they finish and writes ``OUT/sweep.nc`` and
``OUT/sweep.csv`` atomically as it goes, so an interrupted sweep loses nothing finished; run again,
a case whose folder holds a finished run of the same scenario (hash) and options is read, not
solved. A case that fails (infeasible, time limit without a plan, bad input) is recorded with its
status and message and never stops the sweep.

Workers: a :class:`~distributed.LocalCluster` of ``workers`` processes (default: the machine's
cores), one thread each and one HiGHS thread per solve, or an existing scheduler
(``scheduler="tcp://host:8786"``; its workers must import this package and see ``OUT``: a shared
file system).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from optimizer.errors import TokenomicsError
from optimizer.plan import Plan, SolveOptions, result_options, scenario_hash
from optimizer.resources import atomic_write
from optimizer.sweeps import design
from optimizer.sweeps.design import Case

log = logging.getLogger(__name__)

STATUS_FAILED = ("infeasible", "no_solution", "error")
"""Statuses of a case without a plan."""
CASE_META = "case.json"
"""Per case folder: the case, the worker that solved it and the seconds it took (written before
``run.json``, so a finished run always has it)."""
WRITE_EVERY_S = 10.0
"""Seconds between rewrites of ``sweep.nc`` / ``sweep.csv`` while cases finish."""
LOCAL_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "500ms",
                        "distributed.admin.system-monitor.interval": "5s"}
"""dask settings of the local cluster: no statistical profiler (it samples every thread every 10 ms)
and slower event-loop and system monitors, which otherwise take CPU from the solves on a small
machine (benchmarks/bench_sweep.py, docs/performance.md "Sweeps")."""


# --------------------------------------------------------------------------- one case (on a worker)


def _worker_address() -> str:
    """The address of the dask worker running this task ('local' outside a worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


def _figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The scalar numeric figures of a summary (bools and nested values left out)."""
    return {k: float(v) for k, v in summary.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def _finished(run_dir: Path, digest: str, options: SolveOptions) -> dict[str, Any] | None:
    """The row of a finished run of the same scenario and options in ``run_dir``, or None."""
    try:
        rec = json.loads((run_dir / "run.json").read_text())
        meta = json.loads((run_dir / CASE_META).read_text())
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    if rec.get("scenario_sha256") != digest:
        return None
    if result_options(rec.get("options")) != result_options(dataclasses.asdict(options)):
        return None
    return {**_figures(summary), "status": str(summary.get("status")), "message": meta.get("message", ""),
            "worker": meta.get("worker", ""), "seconds": float(meta.get("seconds", math.nan)), "reused": True}


def run_case(case: Case, out_dir: str, options: SolveOptions) -> dict[str, Any]:
    """Solve one case (or read its finished run) and return its row: the summary's numeric figures,
    ``status``, ``message``, ``worker`` (address), ``seconds`` (load and solve) and ``reused``."""
    from optimizer.api import solve

    t0 = time.perf_counter()
    worker = _worker_address()
    run_dir = Path(out_dir) / "cases" / case.id
    def failed(exc: TokenomicsError) -> dict[str, Any]:
        return {"status": "error", "message": str(exc).splitlines()[0], "worker": worker,
                "seconds": time.perf_counter() - t0, "reused": False}

    try:
        sc = design.load_case(case)
    except TokenomicsError as exc:
        return failed(exc)
    digest = scenario_hash(sc)
    done = _finished(run_dir, digest, options)
    if done is not None:
        return done
    try:
        plan: Plan = solve(sc, options, raise_on_failure=False)
    except TokenomicsError as exc:  # e.g. refused for its size
        return failed(exc)
    seconds = time.perf_counter() - t0
    status = plan.status
    message = "; ".join(plan.summary.get("explanation") or []) if status in STATUS_FAILED else ""
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {"case": case.id, "scenario": case.scenario, "variant": case.variant, "values": dict(case.values),
            "scales": dict(case.scales), "worker": worker, "seconds": seconds, "message": message}
    (run_dir / "run.json").unlink(missing_ok=True)
    atomic_write(run_dir / CASE_META, lambda p: p.write_text(json.dumps(meta, indent=2, default=str) + "\n"))
    plan.write(run_dir)  # run.json last: its presence marks a finished case
    return {**_figures(plan.summary), "status": status, "message": message, "worker": worker,
            "seconds": seconds, "reused": False}


# --------------------------------------------------------------------------- the client


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A dask client: of an existing scheduler (``scheduler``), else of a local cluster of
    ``workers`` processes (default: the machine's cores), one thread each."""
    import dask
    from distributed import Client, LocalCluster

    with _quiet_dask():
        if scheduler:
            with Client(scheduler, timeout="10s") as client:
                yield client
            return
        n = workers or os.cpu_count() or 1
        with dask.config.set(LOCAL_CLUSTER_CONFIG), \
                LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                             silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            client.run(_warm)  # imports and catalogs once per worker, before the first case
            yield client


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """The ``distributed`` loggers of this process at WARNING while a client is open (a local
    cluster's scheduler runs here and logs every worker and client at INFO), unless the package's
    logger is at DEBUG (``tokenomics --debug``); their levels are restored afterwards."""
    names = ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.core",
             "distributed.http.proxy")
    levels = {n: logging.getLogger(n).level for n in names}
    if not logging.getLogger("optimizer").isEnabledFor(logging.DEBUG):
        for n in names:
            logging.getLogger(n).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def _warm() -> None:
    """Import the solver and read the bundled catalogs in a fresh worker process."""
    from optimizer import api  # noqa: F401
    from optimizer.catalogs import catalog

    catalog.gpus(), catalog.sites(), catalog.markets(), catalog.llm_cards()


def run_tasks(fn: Callable[..., Any], items: list[Any], *, workers: int | None = None, scheduler: str | None = None,
              on_ready: Callable[[], None] | None = None, **kwargs: Any) -> Iterator[tuple[int, Any]]:
    """``fn(item, **kwargs)`` for every item on dask workers; yields ``(index, result)`` as each
    finishes (exceptions raised by ``fn`` propagate). ``on_ready`` is called once the workers are up."""
    from distributed import as_completed

    with dask_client(workers, scheduler) as client:
        if on_ready is not None:
            on_ready()
        futures = [client.submit(fn, item, **kwargs, pure=False, key=f"{fn.__name__}-{i}-{time.time_ns()}")
                   for i, item in enumerate(items)]
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            yield index[fut.key], fut.result()


def _progress(total: int, quiet: bool) -> Any:
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="case", desc="sweep", dynamic_ncols=True)


def sweep(
    scenarios: list[str] | str, grid: list[str] | None = None, samples: int | None = None, seed: int = 0,
    workers: int | None = None, scheduler: str | None = None, out_dir: str | Path | None = None,
    options: SolveOptions | None = None, quiet: bool = True, oat: bool = True,
) -> xr.Dataset:
    """Solve every case of ``scenarios`` (``path[#variant]`` or bundled names) over ``grid``
    (``KEY=V1,V2,...`` dot-keys, their cross product) and/or ``samples`` Latin-hypercube draws of
    each scenario's ``uncertainty:`` block (plus one-at-a-time cases when ``oat``), on dask, and
    return the results as one Dataset with a ``case`` dim (:func:`assemble`), also written to
    ``out_dir/sweep.nc`` and ``sweep.csv`` (default ``results/sweep``).

    ``options`` default to one HiGHS thread per case. ``quiet=False`` shows a progress bar.
    """
    items = [scenarios] if isinstance(scenarios, str) else list(scenarios)
    cases = design.cases_for(items, grid, samples, seed, oat=oat)
    out = Path(out_dir) if out_dir is not None else Path("results") / "sweep"
    out.mkdir(parents=True, exist_ok=True)
    opts = options or SolveOptions()
    if opts.threads is None:
        opts = dataclasses.replace(opts, threads=1)
    rows: dict[str, dict[str, Any]] = {}
    bar = _progress(len(cases), quiet)
    last_write = time.monotonic()
    t0 = time.perf_counter()
    ready: list[float] = []
    try:
        for i, row in run_tasks(run_case, cases, workers=workers, scheduler=scheduler, out_dir=str(out.resolve()),
                                options=opts, on_ready=lambda: ready.append(time.perf_counter() - t0)):
            rows[cases[i].id] = row
            if bar is not None:
                failed = sum(r["status"] in STATUS_FAILED for r in rows.values())
                bar.set_postfix(failed=failed, running=min(len(cases) - len(rows), workers or os.cpu_count() or 1),
                                refresh=False)
                bar.update(1)
            if time.monotonic() - last_write >= WRITE_EVERY_S:
                write_sweep(assemble(cases, rows, seed), out)
                last_write = time.monotonic()
    finally:
        if bar is not None:
            bar.close()
        if rows:
            ds = assemble(cases, rows, seed)
            ds.attrs.update(wall_seconds=time.perf_counter() - t0, startup_seconds=ready[0] if ready else math.nan)
            write_sweep(ds, out)
    return ds


# --------------------------------------------------------------------------- the Dataset


def assemble(cases: list[Case], rows: dict[str, dict[str, Any]], seed: int = 0) -> xr.Dataset:
    """The finished cases (those in ``rows``) as one Dataset on a ``case`` dim: coordinates
    ``scenario``, ``design``, ``sample``, ``oat_key``, ``oat_side`` and one per swept key (NaN where a
    case does not set it); variables: every numeric summary figure, ``status``, ``message``,
    ``worker``, ``seconds``, ``reused``. Attrs: ``swept_keys`` (JSON), ``seed``."""
    done = [c for c in cases if c.id in rows]
    keys = design.swept_keys(cases)
    figures: list[str] = []
    for c in done:
        for k, v in rows[c.id].items():
            if k not in figures and isinstance(v, float) and k not in ("seconds",):
                figures.append(k)
    coords: dict[str, Any] = {
        "case": [c.id for c in done],
        "scenario": ("case", [c.label for c in done]),
        "design": ("case", [c.design for c in done]),
        "sample": ("case", np.array([c.sample for c in done], dtype=int)),
        "oat_key": ("case", [c.oat_key for c in done]),
        "oat_side": ("case", [c.oat_side for c in done]),
    }
    for k in keys:
        vals = [_case_value(c, k) for c in done]
        numeric = all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in vals)
        coords[k] = ("case", np.array([np.nan if v is None else float(v) for v in vals]) if numeric
                     else np.array(["" if v is None else json.dumps(v) if not isinstance(v, str) else v for v in vals]))
    ds = xr.Dataset(coords=coords)
    for k in figures:
        ds[k] = ("case", np.array([rows[c.id].get(k, math.nan) for c in done], dtype=float))
    for k in ("status", "message", "worker"):
        ds[k] = ("case", np.array([str(rows[c.id].get(k, "")) for c in done], dtype=str))
    ds["seconds"] = ("case", np.array([rows[c.id].get("seconds", math.nan) for c in done], dtype=float))
    ds["reused"] = ("case", np.array([bool(rows[c.id].get("reused", False)) for c in done]))
    ds["seconds"].attrs.update(units="s", description="load and solve time of the case on its worker")
    ds["worker"].attrs.update(description="address of the dask worker that solved the case")
    ds["reused"].attrs.update(description="read from a finished run of an earlier sweep, not solved again")
    ds.attrs.update(swept_keys=json.dumps(keys), seed=int(seed), cases_total=len(cases))
    return ds


def _case_value(case: Case, key: str) -> Any:
    if key.startswith("scale."):
        return dict(case.scales).get(key[len("scale."):])
    return dict(case.values).get(key)


def write_sweep(ds: xr.Dataset, out: Path) -> None:
    """``sweep.nc`` and ``sweep.csv`` into ``out``, each atomically."""
    atomic_write(out / "sweep.nc", lambda p: ds.to_netcdf(p, engine="h5netcdf"))
    table = ds.to_dataframe()
    atomic_write(out / "sweep.csv", lambda p: table.to_csv(p))


def read_sweep(out_dir: str | Path) -> xr.Dataset:
    """A sweep's Dataset as written to ``out_dir/sweep.nc``."""
    return xr.load_dataset(Path(out_dir) / "sweep.nc", engine="h5netcdf")
