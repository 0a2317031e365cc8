"""The fast strategy's main loop: bound on few time steps, price plans on all of them, refine.

Each round solves the time-aggregation relaxation (:mod:`optimizer.relax`) on ``G`` groups of
hours as a MILP; its proven lower bound bounds the full optimum. The sites it opens are fixed in
the full model, replicas are sized there (LP, rounded up, then a small MILP on those sites), and
the dispatch LP of that fleet gives a plan for every hour (an upper bound). Hours where that plan's capacity is worth most (largest duals of ``replica_capacity``
and ``grid_limit``) get groups of their own in the next round, and the other hours are split
into twice as many groups, until the gap closes or time runs out. The best plan so far starts
each round's branch-and-bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import highspy
import numpy as np

from optimizer import highs
from optimizer.model import PlanningModel, build_model
from optimizer.model.objective import objective_unit_usd
from optimizer.relax import cluster_steps, peak_hour, relaxed_model, sites_only

log = logging.getLogger(__name__)

INTEGER_FAMILIES = ("open_site", "replicas")
FIRST_ROUND_NONZEROS = 300_000
"""Size of the first round's relaxed model, in nonzeros, for horizons with large hours."""
ROUND_SHARE = 0.3
"""Most of the remaining time one round's relaxed MILP may take (then its plan is priced)."""
PROGRESS_EVERY_S = 10.0
"""Seconds between progress lines while a MILP runs."""
POLISH_S = 30.0
"""Seconds of branch-and-bound on the replicas of each new choice of sites (sites fixed)."""


@dataclass
class Round:
    """One round of the loop: groups, bound and plan found (USD/year), seconds since the start."""

    groups: int
    lower_bound_usd: float
    plan_usd: float
    best_usd: float
    seconds: float


class Progress:
    """Best plan and proven bound so far (USD/year), logged after every improvement and, from a
    background thread while HiGHS works, at least every ``every_s`` seconds."""

    def __init__(self, every_s: float = PROGRESS_EVERY_S) -> None:
        self.t0 = time.perf_counter()
        self.every = every_s
        self.last = self.t0
        self.best_usd = np.inf
        self.lower_usd = -np.inf
        self.stage = "starting"

    @property
    def gap(self) -> float:
        return _gap(self.best_usd, self.lower_usd)

    def offer_plan(self, usd: float) -> bool:
        """Record a plan's cost; True if it is the best so far."""
        if usd < self.best_usd:
            self.best_usd = usd
            self.report("new plan")
            return True
        return False

    def offer_bound(self, usd: float) -> None:
        if usd > self.lower_usd:
            self.lower_usd = usd

    def report(self, what: str | None = None) -> None:
        self.last = time.perf_counter()
        best = f"{self.best_usd:.6g} USD/yr" if np.isfinite(self.best_usd) else "none yet"
        gap = f"{100 * self.gap:.2f}%" if np.isfinite(self.gap) else "n/a"
        log.info("fast: %s: best plan %s, proven bound %.6g, gap %s after %.0f s",
                 what or self.stage, best, self.lower_usd, gap, self.last - self.t0)

    @contextmanager
    def running(self) -> Iterator[None]:
        """Report every ``every_s`` seconds until the block ends (HiGHS releases the GIL)."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(min(1.0, self.every)):
                if time.perf_counter() - self.last >= self.every:
                    self.report()

        thread = threading.Thread(target=beat, name="fast-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def watch_bound(self, h: highspy.Highs, unit_usd: float) -> None:
        """Take ``h``'s MIP dual bound (objective units, ``unit_usd`` USD each) as it rises."""
        def tick(event: highspy.highs.HighsCallbackEvent) -> None:
            bound = float(event.data_out.mip_dual_bound)
            if np.isfinite(bound) and abs(bound) < 1e30:
                self.offer_bound(bound * unit_usd)

        h.cbMipInterrupt.subscribe(tick)


def first_groups(n_time: int, nonzeros_per_step: float = 0.0) -> int:
    """Groups of hours in the first round: about twice the square root of the horizon (at least
    24), but no more than keep the first relaxed model within ``FIRST_ROUND_NONZEROS`` (at least 8)."""
    by_size = FIRST_ROUND_NONZEROS / nonzeros_per_step if nonzeros_per_step > 0 else np.inf
    return int(min(n_time, max(8, min(max(24, round(2 * np.sqrt(n_time))), by_size))))


def run_aggregation(pm: PlanningModel, sf: highs.StandardForm, h: highspy.Highs, mip_gap: float,
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
    best_x: np.ndarray | None = None
    best_ints: dict[str, np.ndarray] | None = None
    best_duals: np.ndarray | None = None
    singletons = [peak_hour(inputs)]
    n_group = first_groups(nt, sf.num_nonzeros / nt)
    rounds: list[Round] = []
    tried: set[bytes] = set()  # site choices already priced on the full horizon
    with progress.running():
        while True:
            labels = cluster_steps(inputs, n_group, np.array(singletons))
            n_group = int(labels.max()) + 1
            rpm, r_unit = relaxed_model(inputs, sets, labels)
            rsf = highs.compile_model(rpm.pyomo)
            remaining = deadline - time.perf_counter()
            round_end = deadline if n_group >= nt else time.perf_counter() + max(60.0, ROUND_SHARE * remaining)
            rh = highs.to_highs(rsf, _options(base, max(mip_gap / 2, min(0.01, progress.gap / 4)),
                                              min(deadline, round_end)))
            if best_ints is not None:  # the best plan so far is feasible in the relaxation too
                highs.warm_start(rh, rsf, pack_integers(rpm, rsf, best_ints))
            progress.stage = f"bounding on {n_group} groups of hours"
            progress.watch_bound(rh, r_unit)
            out = highs.run(rh, True)
            if np.isfinite(out.lower_bound):
                progress.offer_bound(out.lower_bound * r_unit)
            plan_usd = np.nan
            sites = None if out.x is None else unpack_integers(rpm, out.x)["open_site"]
            if sites is not None and sites.tobytes() not in tried:
                tried.add(sites.tobytes())
                progress.stage = "pricing the chosen sites on every hour"
                for x, duals, choice in _plans_for_sites(pm, sf, h, sites, deadline, base, progress):
                    plan_usd = float(sf.c @ x + sf.c0) * unit
                    if progress.offer_plan(plan_usd):
                        best_x, best_ints, best_duals = x, choice, duals
            rounds.append(Round(n_group, progress.lower_usd, plan_usd, progress.best_usd,
                                time.perf_counter() - progress.t0))
            progress.report(f"round {len(rounds)} done ({n_group} groups of hours)")
            if out.status == "infeasible":
                return highs.SolveOutcome("infeasible", np.nan, np.nan, None, rounds[-1].seconds,
                                          "time-aggregated relaxation infeasible"), rounds
            if progress.gap <= mip_gap or time.perf_counter() >= deadline or n_group >= nt:
                break
            if best_duals is not None:
                critical = _critical_hours(sf, best_duals, nt, max(4, n_group // 4))
                singletons = sorted(set(singletons) | set(critical.tolist()))
            n_group = min(nt, 2 * n_group)
    gap = progress.gap
    status = "optimal" if gap <= mip_gap else ("time_limit_feasible" if best_x is not None else "no_solution")
    lower = progress.lower_usd / unit if np.isfinite(progress.lower_usd) else np.nan
    return highs.SolveOutcome(status, progress.best_usd / unit if best_x is not None else np.nan, gap, best_x,
                              time.perf_counter() - progress.t0, f"fast: {len(rounds)} rounds", lower), rounds


def _options(base: dict[str, object], gap: float, deadline: float) -> dict[str, object]:
    return {**base, "mip_rel_gap": gap, "time_limit": max(1.0, deadline - time.perf_counter())}


def _plans_for_sites(pm: PlanningModel, sf: highs.StandardForm, h: highspy.Highs, open_site: np.ndarray,
                     deadline: float, options: dict[str, object], progress: Progress,
                     ) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]:
    """Plans of the full model with these sites open, each as (column values, row duals of its
    dispatch LP, integer choice): first the LP with replicas continuous and every replica count
    rounded up, then a better sizing from a MILP on those sites alone (:func:`_polish`, at most
    ``POLISH_S`` seconds). Nothing when the sites cannot carry a plan."""
    sites = pm.builder.variables["open_site"]
    site_cols = np.arange(sites.offset, sites.offset + sites.size, dtype=np.int32)
    h.changeColsBounds(len(site_cols), site_cols, open_site, open_site)
    h.setOptionValue("time_limit", highspy.kHighsInf)
    try:
        relaxed = highs.relaxation_rounded_up(h, sf)
        fixed = None if relaxed is None else highs.fixed_integer_lp(h, sf, relaxed[1])
        if fixed is None:
            return
        choice = unpack_integers(pm, fixed[0])
        yield fixed[0], fixed[1], choice
        seconds = min(POLISH_S, 0.25 * (deadline - time.perf_counter()))
        better = _polish(pm, choice, seconds, options, progress) if seconds >= 1.0 else None
        if better is not None:
            again = highs.fixed_integer_lp(h, sf, pack_integers(pm, sf, better))
            if again is not None:
                yield again[0], again[1], better
    finally:
        h.changeColsBounds(len(site_cols), site_cols, sf.col_lower[site_cols], sf.col_upper[site_cols])


def _polish(pm: PlanningModel, choice: dict[str, np.ndarray], seconds: float,
            options: dict[str, object], progress: Progress) -> dict[str, np.ndarray] | None:
    """Integer replicas for the sites of ``choice`` from the full-horizon MILP cut down to those
    sites, started from ``choice``. Rounding every replica count up wastes capacity; this model
    trades it off across accelerators and sites. None when it finds nothing."""
    sets = pm.sets
    open_fleet = choice["open_site"][sets.fleet_site] > 0.5
    spm = build_model(pm.inputs, sets=sites_only(sets, choice["open_site"]))
    ssf = highs.compile_model(spm.pyomo)
    quiet = {k: v for k, v in options.items() if k not in ("output_flag", "log_to_console")}
    sh = highs.to_highs(ssf, _options(quiet, 1e-3, time.perf_counter() + seconds))
    start = {"open_site": choice["open_site"], "replicas": choice["replicas"][open_fleet]}
    highs.warm_start(sh, ssf, pack_integers(spm, ssf, start))
    progress.stage = "sizing replicas at the chosen sites"
    out = highs.run(sh, True)
    if out.x is None:
        return None
    reps = np.zeros(sets.n_fleet)
    reps[open_fleet] = unpack_integers(spm, out.x)["replicas"]
    return {"open_site": choice["open_site"], "replicas": reps}


def _gap(upper: float, lower: float) -> float:
    if not (np.isfinite(upper) and np.isfinite(lower)) or upper <= 0:
        return np.inf
    return max(0.0, (upper - lower) / abs(upper))


def unpack_integers(pm: PlanningModel, x: np.ndarray) -> dict[str, np.ndarray]:
    """Sites opened and replicas of a solution of ``pm`` (builder column order)."""
    out = {}
    for name in INTEGER_FAMILIES:
        fam = pm.builder.variables[name]
        out[name] = np.round(x[fam.offset:fam.offset + fam.size])
    return out


def pack_integers(pm: PlanningModel, sf: highs.StandardForm, choice: dict[str, np.ndarray]) -> np.ndarray:
    """Values of ``sf``'s integer columns from a choice of sites and replicas."""
    full = np.zeros(len(sf.c))
    for name, vals in choice.items():
        fam = pm.builder.variables[name]
        full[fam.offset:fam.offset + fam.size] = vals
    return full[sf.integer]


def _critical_hours(sf: highs.StandardForm, duals: np.ndarray, nt: int, count: int) -> np.ndarray:
    """The ``count`` time steps where capacity is worth most: summed |duals| of the
    ``replica_capacity`` and ``grid_limit`` rows (both laid out set-major, time inner)."""
    value = np.zeros(nt)
    for name, start, n in sf.row_names:
        if name in ("replica_capacity", "grid_limit") and n:
            value += np.abs(duals[start:start + n]).reshape(-1, nt).sum(axis=0)
    order = np.argsort(-value)
    return order[:count][value[order[:count]] > 0]
