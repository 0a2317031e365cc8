"""A year of hours planned on representative days, verified on every hour, with a proven gap.

    python benchmarks/bench_year.py [--size 40x30x6] [--days 12] [--time-limit 600]

Generates a synthetic year (``benchmarks/synthetic.py``, 8,760 hours), reduces it to
``--days`` typical days (tsam, plus peak days), plans on them with the fast method, then fixes
the plan's investments and dispatches all 8,760 hours (weekly LPs) and bounds the full-year
optimum from below (time-aggregation relaxation, ``verify.default_bound_groups`` groups of
hours). Prints the timings, the planning gap and the proven full-year gap.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    from bench_large import print_rounds
    from synthetic import synthetic_scenario

    from optimizer import SolveOptions, solve
    from optimizer.catalogs.days import representative_days
    from optimizer.verify import default_bound_groups, verify

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="40x30x6", help="sites x markets x LLMs")
    ap.add_argument("--days", type=int, default=12)
    ap.add_argument("--time-limit", type=float, default=600.0, help="seconds for the plan, and for the bound")
    ap.add_argument("--mip-gap", type=float, default=0.01)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("pyomo").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    year = synthetic_scenario(*(int(x) for x in a.size.split("x")), 8760)
    small, info = representative_days(year, a.days)
    t_agg = time.perf_counter() - t0
    opts = SolveOptions(method="fast", time_limit_s=a.time_limit, mip_gap=a.mip_gap, threads=2)
    plan = solve(small, opts)
    t_plan = time.perf_counter() - t0 - t_agg
    s = plan.summary
    v = verify(plan, year, SolveOptions(time_limit_s=a.time_limit, mip_gap=a.mip_gap, threads=2),
               bound_groups=default_bound_groups(s))
    t_all = time.perf_counter() - t0
    print(f"\nsize {a.size}x8760 via {a.days} typical days ({s['num_time_steps']} planning steps), 2 threads")
    print("| step | seconds | figure |")
    print("|---|---|---|")
    print(f"| generate + tsam | {t_agg:.0f} | {s['num_time_steps'] // 24} days kept |")
    print(f"| plan on typical days (fast) | {t_plan:.0f} | {s['objective_usd_per_year']:.6g} USD/yr, bound "
          f"{s['lower_bound_usd_per_year']:.6g}, gap {s['mip_gap']:.2%}; {s['num_nonzeros']:,} nonzeros |")
    print(f"| verify on 8,760 h ({v['verify_chunks']} weekly LPs) | {v['verify_solve_seconds']:.0f} | "
          f"{v['verified_objective_usd_per_year']:.6g} USD/yr ({v['objective_difference']:+.2%} vs plan), "
          f"unserved {v['verified_unserved_tokens_per_year']:.3g} tokens/yr, peak {v['verified_peak_facility_power_mw']:,.0f} MW |")
    bound = v.get("full_horizon_lower_bound_usd_per_year")
    gap = v.get("full_horizon_gap")
    print(f"| full-year lower bound ({default_bound_groups(s)} groups of hours) | {v.get('bound_seconds', 0):.0f} | "
          f"{'n/a' if bound is None else f'{bound:.6g} USD/yr'}; proven full-year gap "
          f"{'n/a' if gap is None else f'{gap:.2%}'} |")
    print(f"| total | {t_all:.0f} | |")
    print_rounds(s.get("fast_rounds", []))


if __name__ == "__main__":
    main()
