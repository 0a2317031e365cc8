"""The sweep runner on dask.distributed: the Dataset it gathers, failed cases recorded, a sweep killed
and rerun (nothing finished is solved again or lost), an external scheduler and worker, and compare
through the same runner."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from optimizer import SolveOptions, sweep
from optimizer.cli import main
from optimizer.report.compare import compare

HERE = Path(__file__).parent
TINY = str(HERE / "scenarios" / "tiny.yaml")
CLI = [sys.executable, "-m", "optimizer.cli"]


def test_sweep_gathers_one_dataset_with_a_case_dim(tmp_path):
    ds = sweep([TINY], grid=["gpus.h100.capex_usd_per_gpu=30000,35000,40000",
                             "sites.texas.energy_price_usd_per_mwh=40,80"], workers=2, out_dir=tmp_path)
    assert ds.sizes["case"] == 6 and set(ds["design"].values) == {"grid"}
    assert json.loads(ds.attrs["swept_keys"]) == ["gpus.h100.capex_usd_per_gpu", "sites.texas.energy_price_usd_per_mwh"]
    assert (ds["status"] == "optimal").all() and ds["worker"].str.startswith("tcp://").all()
    # the tiny optimum is 120 H100 (README); more expensive GPUs and power cost more
    assert (ds["cost_usd_per_year"] > 0).all()
    by = ds.set_index(case=["gpus.h100.capex_usd_per_gpu", "sites.texas.energy_price_usd_per_mwh"])["cost_usd_per_year"]
    assert by.sel({"gpus.h100.capex_usd_per_gpu": 40000.0}).min() > by.sel({"gpus.h100.capex_usd_per_gpu": 30000.0}).max()
    for c in ds["case"].values:  # every case's full results, as solve writes them
        assert (tmp_path / "cases" / str(c) / "run.json").exists() and (tmp_path / "cases" / str(c) / "results.nc").exists()
    on_disk = __import__("xarray").load_dataset(tmp_path / "sweep.nc", engine="h5netcdf")
    np.testing.assert_allclose(on_disk["cost_per_mtok_usd"].values, ds["cost_per_mtok_usd"].values)
    assert (tmp_path / "sweep.csv").read_text().count("\n") == 7


def test_failed_cases_are_recorded_and_never_stop_the_sweep(tmp_path):
    # grid limit 0 with no unserved penalty: infeasible; a negative price: bad input
    ds = sweep([TINY], grid=["sites.texas.grid_limit_mw=0,50,-5"], workers=1, out_dir=tmp_path)
    status = dict(zip(ds["sites.texas.grid_limit_mw"].values.tolist(), ds["status"].values.tolist(), strict=True))
    assert status == {0.0: "infeasible", 50.0: "optimal", -5.0: "error"}
    msg = dict(zip(ds["sites.texas.grid_limit_mw"].values.tolist(), ds["message"].values.tolist(), strict=True))
    assert "grid_limit_mw" in msg[-5.0] and "must be >= 0" in msg[-5.0]
    assert msg[0.0]  # the explanation of the infeasible case
    assert np.isnan(ds["cost_per_mtok_usd"].values[ds["status"].values != "optimal"]).all()


def _run_json_times(out: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "cases").glob("*/run.json")}


def test_a_killed_sweep_rerun_solves_no_finished_case_again_and_loses_none(tmp_path):
    out = tmp_path / "sw"
    grid = "gpus.h100.capex_usd_per_gpu=" + ",".join(str(30000 + 1000 * i) for i in range(8))
    cmd = [*CLI, "sweep", TINY, "--grid", grid, "--workers", "1", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(_run_json_times(out)) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _run_json_times(out)
    assert 3 <= len(before) < 8, f"{len(before)} cases finished before the kill"
    assert main(["sweep", TINY, "--grid", grid, "--workers", "1", "--out", str(out), "--quiet"]) == 0
    after = _run_json_times(out)
    assert len(after) == 8
    assert {k: after[k] for k in before} == before  # no finished case solved again
    ds = __import__("xarray").load_dataset(out / "sweep.nc", engine="h5netcdf")
    reused = dict(zip(ds["case"].values.tolist(), ds["reused"].values.tolist(), strict=True))
    assert {c for c, r in reused.items() if r} == set(before) and (ds["status"] == "optimal").all()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args: str) -> list[str]:
    exe = shutil.which("dask", path=str(Path(sys.executable).parent))
    return [exe, *args] if exe else [sys.executable, "-m", "dask", *args]


def test_sweep_runs_on_an_external_scheduler_and_worker(tmp_path):
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    sched = subprocess.Popen(_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    worker = subprocess.Popen(_dask("worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                                    "--host", "127.0.0.1"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers: list[str] = []
        while not workers and time.monotonic() < deadline:
            try:
                with Client(address, timeout="5s") as c:
                    workers = list(c.scheduler_info()["workers"])
            except OSError:
                pass
            time.sleep(0.5)
        assert workers, "the dask worker did not connect"
        out = tmp_path / "ext"
        assert main(["sweep", TINY, "--grid", "gpus.h100.capex_usd_per_gpu=30000,35000,40000", "--scheduler",
                     address, "--out", str(out), "--quiet"]) == 0
        ds = __import__("xarray").load_dataset(out / "sweep.nc", engine="h5netcdf")
        assert ds.sizes["case"] == 3 and set(ds["worker"].values.tolist()) == set(workers)
    finally:
        for p in (worker, sched):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)


def test_compare_on_workers_gives_the_same_table(tmp_path):
    tiny2 = tmp_path / "tiny2.yaml"
    tiny2.write_text(Path(TINY).read_text().replace("name: tiny", "name: tiny2").replace("capex_usd_per_gpu: 35000",
                                                                                       "capex_usd_per_gpu: 30000"))
    items = [TINY, str(tiny2)]
    here = compare(items, tmp_path / "a", SolveOptions())
    there = compare(items, tmp_path / "b", SolveOptions(), workers=2)
    assert list(there.table.index) == ["tiny", "tiny2"]
    np.testing.assert_allclose(there.table["cost_per_mtok_usd"].astype(float), here.table["cost_per_mtok_usd"].astype(float),
                               rtol=1e-9)


@pytest.mark.parametrize(("flags", "message"), [
    (["--workers", "0"], "--workers: must be a whole number >= 1, got 0"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers and --scheduler: give one"),
    (["--grid", "gpus.h100.capex_usd_per_gpu"], "--grid"),
])
def test_sweep_bad_flags_are_one_line_errors(capsys, tmp_path, flags, message):
    assert main(["sweep", TINY, *flags, "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
