"""Peak memory of solves against the estimate made before the build (``optimizer/model/size.py``).

    python benchmarks/bench_memory.py [--sizes 5x4x2x24,10x8x3x48,...] [--time-limit 60] [--method mip]

Each size is a synthetic world (``benchmarks/synthetic.py``) or a scenario file (``FILE.yaml``, with
overrides ``FILE.yaml;KEY=VALUE;...``) solved in a fresh process with the given solver method and
time limit (the calibration protocol: plain branch-and-bound, 60 s, so HiGHS has the full
model, its root LP and some search in memory); the child reports the estimate, the built model's
sizes, its peak resident memory when the model had been handed to HiGHS ("hand-off"), within the
first 30 and 60 s of the solve (sampled every 0.2 s) and over the whole run (``ru_maxrss``). Prints
a Markdown table: estimated vs measured peak and their ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SIZES = ("5x4x2x24,10x8x3x48,20x15x4x96,20x15x4x168,30x20x5x168,40x30x6x168,data/scenarios/default.yaml,"
         "data/scenarios/open_market.yaml,data/scenarios/medium_year.yaml;time.representative_days=12")


def _peak_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB


def run_one(size: str, time_limit: float, method: str) -> dict:
    import logging
    import threading

    from synthetic import synthetic_scenario

    from optimizer import SolveOptions, solve
    from optimizer.inputs import build_inputs
    from optimizer.model.sets import build_sets
    from optimizer.model.size import estimate

    marks: dict[str, float] = {}
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:  # resident memory now, every 0.2 s
        import os

        page = os.sysconf("SC_PAGE_SIZE")
        while not stop.wait(0.2):
            with open("/proc/self/statm") as f:
                samples.append((time.perf_counter() - t0, int(f.read().split()[1]) * page / 1e9))

    class Mark(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("built "):
                marks["build"] = _peak_gb()

    logging.getLogger("optimizer").addHandler(Mark())
    logging.getLogger("optimizer").setLevel(logging.INFO)
    if ".yaml" in size:
        from optimizer.scenario import load_scenario

        path, *sets = size.split(";")
        sc = load_scenario(path if Path(path).exists() else HERE.parent / path, None, sets)
    else:
        sc = synthetic_scenario(*(int(x) for x in size.split("x")))
    inputs = build_inputs(sc)
    est = estimate(inputs, build_sets(inputs))
    del inputs
    t0 = time.perf_counter()
    threading.Thread(target=sample, daemon=True).start()
    plan = solve(sc, SolveOptions(time_limit_s=time_limit, method=method, memory_limit_gb=1e6),
                 raise_on_failure=False)
    stop.set()
    s = plan.summary
    return {"size": size, "variables": s["num_variables"], "nonzeros": s["num_nonzeros"],
            "est_variables": est.variables, "est_nonzeros": est.nonzeros, "est_gb": est.peak_memory_gb,
            "build_gb": marks.get("build", float("nan")), "peak_gb": _peak_gb(), "status": s["status"], "method": s.get("strategy"),
            "gb_30s": max((g for t, g in samples if t <= 30), default=float("nan")),
            "gb_60s": max((g for t, g in samples if t <= 60), default=float("nan")),
            "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=SIZES, help="comma-separated sites x markets x LLMs x hours")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve (build included)")
    ap.add_argument("--method", "--strategy", dest="method", default="mip",
                    help="solver method: mip (the calibration protocol), fast or auto (--strategy: former name)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(run_one(a.child, a.time_limit, a.method)))
        return
    print(f"time limit {a.time_limit:g} s, method {a.method}; GB = 10^9 bytes")
    print("| size | variables | nonzeros | method | status | seconds | peak GB at hand-off | first 30 s | "
          "first 60 s | whole run | estimate GB | estimate / peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in a.sizes.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", size, "--time-limit", str(a.time_limit),
                              "--method", a.method], capture_output=True, text=True, check=False)
        if out.returncode:
            print(f"| {size} | failed: {out.stderr.strip().splitlines()[-1:]} |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        assert (r["variables"], r["nonzeros"]) == (r["est_variables"], r["est_nonzeros"]), r
        print(f"| {size} | {r['variables']:,} | {r['nonzeros']:,} | {r['method']} | {r['status']} | "
              f"{r['seconds']:.0f} | {r['build_gb']:.2f} | {r['gb_30s']:.2f} | {r['gb_60s']:.2f} | {r['peak_gb']:.2f} | "
              f"{r['est_gb']:.2f} | {r['est_gb'] / r['peak_gb']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
