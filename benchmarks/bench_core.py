"""Benchmark the core build path on synthetic scenarios of growing size.

Per size (sites x markets x LLMs x hours), each in a fresh subprocess so peak memory is its own:
variables, constraints, nonzeros, build seconds (inputs + Pyomo model), hand-off seconds (compile
to arrays + passModel), HiGHS seconds (MIP with a time limit, and the LP relaxation alone), peak
RSS of the whole pipeline, and peak RSS of HiGHS alone on the same arrays.

    python benchmarks/bench_core.py [--sizes 10x8x2x24,40x30x6x168] [--time-limit 120]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

DEFAULT_SIZES = "5x4x2x24,10x8x3x48,20x15x4x96,30x20x5x168,40x30x6x168"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_pipeline(size: str, time_limit: float, npz: str) -> dict:
    """Full path in this process; saves the arrays to ``npz`` for the HiGHS-alone run."""
    import highspy
    from synthetic import synthetic_scenario

    from optimizer import highs
    from optimizer.inputs import build_inputs
    from optimizer.model import build_model

    ns, nm, nl, nh = (int(x) for x in size.split("x"))
    sc = synthetic_scenario(ns, nm, nl, nh)
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    pm = build_model(build_inputs(sc))
    t1 = time.perf_counter()
    sf = highs.compile_model(pm.pyomo)
    h = highs.to_highs(sf, {"time_limit": time_limit, "mip_rel_gap": 1e-2, "threads": 2})
    t2 = time.perf_counter()
    out = highs.run(h, True)
    t3 = time.perf_counter()
    lp = highs.to_highs(sf, {"time_limit": time_limit, "solve_relaxation": True})
    lp.run()
    t4 = time.perf_counter()
    np.savez(npz, c=sf.c, a_data=sf.a.data, a_indices=sf.a.indices, a_indptr=sf.a.indptr,
             rl=sf.row_lower, ru=sf.row_upper, cl=sf.col_lower, cu=sf.col_upper, integer=sf.integer)
    del highspy
    return {
        "size": size, "variables": len(sf.c), "integers": int(sf.integer.sum()),
        "constraints": len(sf.row_lower), "nonzeros": sf.num_nonzeros,
        "build_s": t1 - t0, "handoff_s": t2 - t1, "highs_mip_s": t3 - t2, "mip_status": out.status,
        "mip_gap": out.mip_gap, "highs_lp_s": t4 - t3, "peak_rss_mb": _rss_mb(), "baseline_rss_mb": rss0,
        "us_per_nnz": (t2 - t0) / sf.num_nonzeros * 1e6,
    }


def run_highs_alone(npz: str, time_limit: float) -> dict:
    """HiGHS on the same arrays, nothing else loaded but numpy and highspy."""
    import highspy

    d = np.load(npz)
    rss0 = _rss_mb()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", time_limit)
    h.setOptionValue("mip_rel_gap", 1e-2)
    h.setOptionValue("threads", 2)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(d["c"]), len(d["rl"])
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = d["c"], d["cl"], d["cu"]
    lp.row_lower_, lp.row_upper_ = d["rl"], d["ru"]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = d["a_indptr"], d["a_indices"], d["a_data"]
    lp.integrality_ = np.where(d["integer"], highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous).tolist()
    h.passModel(lp)
    h.run()
    return {"highs_alone_rss_mb": _rss_mb(), "highs_alone_baseline_mb": rss0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=DEFAULT_SIZES)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--child", choices=["pipeline", "highs"], help=argparse.SUPPRESS)
    ap.add_argument("--npz", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "pipeline":
        print(json.dumps(run_pipeline(args.sizes, args.time_limit, args.npz)))
        return
    if args.child == "highs":
        print(json.dumps(run_highs_alone(args.npz, args.time_limit)))
        return
    header = ("size", "vars", "cons", "nnz", "build s", "hand-off s", "µs/nnz", "HiGHS LP s",
              "HiGHS MIP s", "MIP status", "peak MB", "HiGHS-alone MB")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for size in args.sizes.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            npz = str(Path(tmp) / "model.npz")
            cmd = [sys.executable, __file__, "--child", "pipeline", "--sizes", size,
                   "--time-limit", str(args.time_limit), "--npz", npz]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            cmd = [sys.executable, __file__, "--child", "highs", "--npz", npz, "--time-limit", str(args.time_limit)]
            r.update(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
        print(f"| {r['size']} | {r['variables']:,} | {r['constraints']:,} | {r['nonzeros']:,} | {r['build_s']:.2f} | "
              f"{r['handoff_s']:.2f} | {r['us_per_nnz']:.2f} | {r['highs_lp_s']:.1f} | {r['highs_mip_s']:.1f} | "
              f"{r['mip_status']} ({r['mip_gap']:.1%}) | {r['peak_rss_mb']:.0f} | {r['highs_alone_rss_mb']:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
