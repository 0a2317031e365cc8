"""The fast method's main loop: bound on few time steps, price plans on all of them, refine.

Each round solves the time-aggregation relaxation (:mod:`optimizer.fast.relax`) on ``G`` groups of
hours as a MILP; its proven lower bound bounds the full optimum. The sites it opens are fixed in
the full model, replicas are sized there (LP, rounded up, then a small MILP on those sites), and
the dispatch LP of that fleet gives a plan for every hour (an upper bound; the pricing is
:mod:`optimizer.fast.pricer`). Hours where that plan's capacity is worth most (largest duals of
``replica_capacity`` and ``grid_limit``) get groups of their own in the next round, and the other
hours are split into twice as many groups, until the gap closes or time runs out. The best plan so
far starts each round's branch-and-bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from optimizer import highs
from optimizer.fast.pricer import SITE_CHOICES, Pricer, milp_options, pack_integers, unpack_integers
from optimizer.fast.progress import STALL_S, Progress, stop_when_stalled
from optimizer.fast.relax import cluster_steps, peak_hour, relaxed_model
from optimizer.model import PlanningModel
from optimizer.model.objective import objective_unit_usd

FIRST_ROUND_NONZEROS = 300_000
"""Size of the first round's relaxed model, in nonzeros, for horizons with large hours."""
ROUND_SHARE = 0.3
"""Most of the remaining time one round's relaxed MILP may take (then its plan is priced)."""
POLISH_S = 30.0
"""Seconds of branch-and-bound on the replicas of each round's best new choice of sites (sites fixed)."""


@dataclass
class Round:
    """One round of the loop: groups, bound and plan found (USD/year), seconds since the start,
    how many choices of sites its relaxed MILP found, how many were priced on every hour, and how
    many the site search has scored so far (all rounds)."""

    groups: int
    lower_bound_usd: float
    plan_usd: float
    best_usd: float
    seconds: float
    site_choices_found: int = 0
    site_choices_priced: int = 0
    site_choices_scored: int = 0


def first_groups(n_time: int, nonzeros_per_step: float = 0.0) -> int:
    """Groups of hours in the first round: about twice the square root of the horizon (at least
    24), but no more than keep the first relaxed model within ``FIRST_ROUND_NONZEROS`` (at least 8)."""
    by_size = FIRST_ROUND_NONZEROS / nonzeros_per_step if nonzeros_per_step > 0 else np.inf
    return int(min(n_time, max(8, min(max(24, round(2 * np.sqrt(n_time))), by_size))))


def solve_fast(pm: PlanningModel, sf: highs.StandardForm, h: highspy.Highs, mip_gap: float,
               time_limit_s: float | None, options: dict[str, object] | None = None,
               ) -> tuple[highs.SolveOutcome, list[Round]]:
    """Best plan of the full model ``pm`` (compiled ``sf``, in HiGHS ``h``) and a proven bound.
    ``options`` are the HiGHS options of every MILP it solves (gap and time limit set per MILP)."""
    base = dict(options or {})
    inputs, sets = pm.inputs, pm.sets
    nt = sets.n_time
    unit = objective_unit_usd(inputs)
    progress = Progress()
    deadline = progress.t0 + (np.inf if time_limit_s is None else time_limit_s)
    pricer = Pricer(pm, sf, h, progress)
    singletons = [peak_hour(inputs)]
    n_group = first_groups(nt, sf.num_nonzeros / nt)
    rounds: list[Round] = []
    with progress.running():
        while True:
            labels = cluster_steps(inputs, n_group, np.array(singletons))
            n_group = int(labels.max()) + 1
            rpm, r_unit = relaxed_model(inputs, sets, labels)
            rsf = highs.compile_model(rpm.pyomo)
            remaining = deadline - time.perf_counter()
            round_end = deadline if n_group >= nt else time.perf_counter() + max(60.0, ROUND_SHARE * remaining)
            # the last round is the full model itself: its own gap target is the one asked for
            target = mip_gap if n_group >= nt else max(mip_gap / 2, min(0.01, progress.gap / 4))
            rh = highs.to_highs(rsf, milp_options(base, target, min(deadline, round_end)))
            if pricer.best is not None:  # the best plan so far is feasible in the relaxation too
                highs.warm_start(rh, rsf, pack_integers(rpm, rsf, pricer.best[2]))
            progress.stage = f"bounding on {n_group} groups of hours"
            stop_when_stalled(rh, r_unit, np.inf if n_group >= nt else STALL_S, progress.offer_bound)
            pricer.new_round(rh, rpm, rsf, r_unit)
            with pricer.pricing_alongside():
                out = highs.run(rh, True)
            if np.isfinite(out.lower_bound):
                progress.offer_bound(out.lower_bound * r_unit)
            if out.x is not None:
                choice = unpack_integers(rpm, out.x)
                pricer.collect(choice["open_site"], out.objective)
                pricer.add_end(choice["open_site"])  # priced below if its score is below the best plan
                if n_group >= nt:  # the groups are the hours: the MILP's own fleet is a plan
                    pricer.price_fleet(choice)

            def overdue(end: float = round_end) -> bool:
                """The run's time is up, or the round's once there is a plan."""
                now = time.perf_counter()
                return now >= deadline or (now >= end and pricer.best is not None)

            # price what the searches found; search on here only without a plan (the next
            # round's worker goes on searching beside its MILP)
            while len(pricer.plans) < SITE_CHOICES and not overdue():
                if not pricer.step(overdue, search=pricer.best is None):
                    break
            seconds = min(POLISH_S, 0.25 * (deadline - time.perf_counter()))
            if pricer.plans and seconds >= 1.0:
                pricer.polish(min(pricer.plans, key=lambda p: p[0])[1], seconds, base)
            plan_usd = min((p[0] for p in pricer.plans), default=np.nan)
            rounds.append(Round(n_group, progress.lower_usd, plan_usd, progress.best_usd,
                                time.perf_counter() - progress.t0, len(pricer.found), len(pricer.plans),
                                pricer.scored))
            progress.report(f"round {len(rounds)} done ({n_group} groups of hours)")
            if out.status == "infeasible":
                return highs.SolveOutcome("infeasible", np.nan, np.nan, None, rounds[-1].seconds,
                                          "time-aggregated relaxation infeasible"), rounds
            if progress.gap <= mip_gap or time.perf_counter() >= deadline or n_group >= nt:
                break
            if pricer.best is not None:
                critical = _critical_hours(sf, pricer.best[1], nt, max(4, n_group // 4))
                singletons = sorted(set(singletons) | set(critical.tolist()))
            n_group = min(nt, 2 * n_group)
    best_x = None if pricer.best is None else pricer.best[0]
    gap = progress.gap
    status = "optimal" if gap <= mip_gap else ("time_limit_feasible" if best_x is not None else "no_solution")
    lower = progress.lower_usd / unit if np.isfinite(progress.lower_usd) else np.nan
    return highs.SolveOutcome(status, progress.best_usd / unit if best_x is not None else np.nan, gap, best_x,
                              time.perf_counter() - progress.t0, f"fast: {len(rounds)} rounds", lower), rounds


def _critical_hours(sf: highs.StandardForm, duals: np.ndarray, nt: int, count: int) -> np.ndarray:
    """The ``count`` time steps where capacity is worth most: summed |duals| of the
    ``replica_capacity`` and ``grid_limit`` rows (both laid out set-major, time inner)."""
    value = np.zeros(nt)
    for name, start, n in sf.row_names:
        if name in ("replica_capacity", "grid_limit") and n:
            value += np.abs(duals[start:start + n]).reshape(-1, nt).sum(axis=0)
    order = np.argsort(-value)
    return order[:count][value[order[:count]] > 0]
