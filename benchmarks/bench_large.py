"""Large siting plans: plain branch-and-bound vs the fast method, side by side.

    python benchmarks/bench_large.py [--size 30x20x5x168] [--time-limit 600] [--methods mip,fast]

Prints, for each solver method: the final objective, the proven lower bound and gap, the solve time
and the time of the first plan; for the fast method also its rounds (groups of hours, bound,
best plan, gap, seconds). Each run is a fresh process.
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


def run_one(size: str, method: str, time_limit: float) -> dict:
    import logging

    from synthetic import synthetic_scenario

    from optimizer import SolveOptions, solve

    records: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(f"{time.perf_counter() - t0:.1f}s {record.getMessage()}")

    logging.getLogger("optimizer").addHandler(Grab())
    logging.getLogger("optimizer").setLevel(logging.INFO)
    sc = synthetic_scenario(*(int(x) for x in size.split("x")))
    t0 = time.perf_counter()
    plan = solve(sc, SolveOptions(method=method, time_limit_s=time_limit, mip_gap=1e-3, threads=2),
                 raise_on_failure=False)
    s = plan.summary
    return {"method": method, "status": s["status"], "objective": s.get("objective_usd_per_year"),
            "lower_bound": s.get("lower_bound_usd_per_year"), "gap": s.get("mip_gap"),
            "build_s": s["build_seconds"], "solve_s": s["solve_seconds"], "nnz": s["num_nonzeros"],
            "log": records, "rounds": s.get("fast_rounds", [])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="30x20x5x168")
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--methods", "--strategies", dest="methods", default="mip,fast",
                    help="solver methods, comma-separated, run in this order (--strategies: former name)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(run_one(a.size, a.child, a.time_limit)))
        return
    print(f"size {a.size}, time limit {a.time_limit:g} s, 2 threads")
    print("| method | status | objective USD/yr | lower bound | gap | build s | solve s | first incumbent |")
    print("|---|---|---|---|---|---|---|---|")
    rounds: list[dict] = []
    for method in a.methods.split(","):
        cmd = [sys.executable, __file__, "--size", a.size, "--time-limit", str(a.time_limit), "--child", method]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        first = next((x.split("s ", 1)[0] + " s" for x in r["log"] if "new plan" in x or "first plan" in x),
                     "see HiGHS log")
        gap = "n/a" if r["gap"] is None else f"{r['gap']:.2%}"
        obj = "n/a" if r["objective"] is None else f"{r['objective']:.6g}"
        lb = "n/a" if r["lower_bound"] is None else f"{r['lower_bound']:.6g}"
        print(f"| {method} | {r['status']} | {obj} | {lb} | {gap} | {r['build_s']:.1f} | {r['solve_s']:.0f} | {first} |",
              flush=True)
        rounds.extend(r["rounds"])
    if rounds:
        print_rounds(rounds)


def print_rounds(rounds: list[dict]) -> None:
    """The fast method's rounds (``summary['fast_rounds']``) as a Markdown table."""
    print("\n| round | groups of hours | site choices found / scored / priced | proven bound USD/yr | best plan USD/yr "
          "| gap | seconds |")
    print("|---|---|---|---|---|---|---|")
    for i, x in enumerate(rounds, 1):
        gap = (x["best_usd"] - x["lower_bound_usd"]) / x["best_usd"]
        print(f"| {i} | {x['groups']} | {x['site_choices_found']} / {x['site_choices_scored']} / "
              f"{x['site_choices_priced']} | "
              f"{x['lower_bound_usd']:.6g} | {x['best_usd']:.6g} | {gap:.2%} | {x['seconds']:.0f} |")


if __name__ == "__main__":
    main()
