"""Sweep runner speed: the same cases on 1 and on 2 local dask workers, and the runner's overhead.

    python benchmarks/bench_sweep.py [--cases 16] [--scenario data/scenarios/default.yaml] [--workers 1,2]

Each run sweeps ``--cases`` values of the first accelerator's capex of the scenario (a grid) into a
fresh folder, so every case is solved. Reports wall time, speed-up against one worker, the start of
the local cluster (workers up, imports and catalogs read: once per sweep), the mean time per case of
loading and solving on the workers, and the runner overhead per case: (wall - start) x workers /
cases - mean case time, i.e. scheduling, serialising, writing each case's results and the
sweep's files. Targets (issue 17): 16 cases on 2 workers at least 1.7x faster than on 1; overhead
<= 0.5 s per case.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from optimizer import load_scenario, sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=16)
    ap.add_argument("--scenario", default="data/scenarios/default.yaml")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    gid, g = next(iter(sc.gpus.items()))
    values = ",".join(f"{g.capex_usd_per_gpu * (0.8 + 0.4 * i / max(args.cases - 1, 1)):.0f}" for i in range(args.cases))
    grid = [f"gpus.{gid}.capex_usd_per_gpu={values}"]
    print(f"{args.cases} cases of {args.scenario} (grid over gpus.{gid}.capex_usd_per_gpu)\n")
    print("| workers | wall s | speed-up | cluster start s | mean case s | overhead s/case |\n|---:|---:|---:|---:|---:|---:|")
    base = None
    for n in (int(x) for x in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            ds = sweep([args.scenario], grid=grid, workers=n, out_dir=out)
            wall = time.perf_counter() - t0
        mean = float(ds["seconds"].mean())
        start = float(ds.attrs["startup_seconds"])
        base = base or wall
        overhead = (wall - start) * n / ds.sizes["case"] - mean
        print(f"| {n} | {wall:.1f} | {base / wall:.2f} | {start:.1f} | {mean:.2f} | {overhead:.2f} |")


if __name__ == "__main__":
    main()
