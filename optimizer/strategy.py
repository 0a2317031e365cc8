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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import highspy
import numpy as np

from optimizer import highs
from optimizer.model import PlanningModel, build_model
from optimizer.model.objective import objective_unit_usd
from optimizer.relax import cluster_steps, peak_hour, relaxed_model, sites_only
from optimizer.site_search import SiteScorer, key_sites, local_search, site_key

log = logging.getLogger(__name__)

INTEGER_FAMILIES = ("open_site", "replicas")
FIRST_ROUND_NONZEROS = 300_000
"""Size of the first round's relaxed model, in nonzeros, for horizons with large hours."""
ROUND_SHARE = 0.3
"""Most of the remaining time one round's relaxed MILP may take (then its plan is priced)."""
PROGRESS_EVERY_S = 10.0
"""Seconds between progress lines while a MILP runs."""
POLISH_S = 30.0
"""Seconds of branch-and-bound on the replicas of each round's best new choice of sites (sites fixed)."""
STALL_S = 30.0
STALL_GAIN = 5e-4
"""A round's relaxed MILP stops once its bound rose by less than this share in ``STALL_S`` seconds."""
SITE_CHOICES = 3
"""Choices of sites priced on every hour after a round's relaxed MILP ends (more while it runs)."""


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
        def beat(stop: threading.Event) -> None:
            while not stop.wait(min(1.0, self.every)):
                if time.perf_counter() - self.last >= self.every:
                    self.report()

        with _alongside("fast-progress", beat):
            yield


def stop_when_stalled(h: highspy.Highs, unit_usd: float, stall_s: float = STALL_S,
                      on_bound: Callable[[float], None] | None = None) -> None:
    """Hand ``h``'s MIP dual bound, in USD (objective units times ``unit_usd``), to ``on_bound``
    as it rises, and stop ``h`` once it has an incumbent and its bound rose by less than
    ``STALL_GAIN`` over the last ``stall_s`` seconds (its own gap then closes by branching, slowly)."""
    history: list[tuple[float, float]] = []

    def tick(event: highspy.highs.HighsCallbackEvent) -> None:
        bound = float(event.data_out.mip_dual_bound)
        if not (np.isfinite(bound) and abs(bound) < 1e30):
            return
        if on_bound is not None:
            on_bound(bound * unit_usd)
        now = time.perf_counter()
        history.append((now, bound))
        while len(history) > 1 and history[1][0] <= now - stall_s:
            history.pop(0)
        has_plan = abs(float(event.data_out.objective_function_value)) < 1e30
        if has_plan and history[0][0] <= now - stall_s and bound - history[0][1] < STALL_GAIN * abs(bound):
            log.debug("relaxed MILP stalled: bound %.6g USD/yr, was %.6g %.0f s ago", bound * unit_usd,
                      history[0][1] * unit_usd, now - history[0][0])
            event.data_in.user_interrupt = True

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
    pricer = _Pricer(pm, sf, h, progress)
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
            rh = highs.to_highs(rsf, _options(base, target, min(deadline, round_end)))
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


def _options(base: dict[str, object], gap: float, deadline: float) -> dict[str, object]:
    return {**base, "mip_rel_gap": gap, "time_limit": max(1.0, deadline - time.perf_counter())}


class _Pricer:
    """Finds choices of sites, prices them on every hour (:func:`_price_sites`), keeps the best plan.

    Every distinct choice of sites among a round's relaxed-MILP incumbents is collected (HiGHS
    improving-solution callback) as a start of the site search (:mod:`optimizer.site_search`,
    scored on the first round's relaxed model), and so is the empty choice; the choices that search
    ends at are priced, lowest score first, but only while their score (a lower bound on what they
    can cost) is below the best plan. While a round's MILP runs, a worker thread does this work:
    HiGHS releases the GIL, and branch-and-bound leaves the second core mostly idle."""

    def __init__(self, pm: PlanningModel, sf: highs.StandardForm, h: highspy.Highs, progress: Progress) -> None:
        self.pm, self.sf, self.h, self.progress = pm, sf, h, progress
        self.home, self.home_threads = threading.get_ident(), int(highs.option_value(h, "threads"))
        self.unit = objective_unit_usd(pm.inputs)
        self.lock = threading.Lock()
        self.best: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None = None  # x, duals, choice
        self.score: SiteScorer | None = None
        self.searched: set[bytes] = set()  # starts searched from
        self.ends: dict[bytes, float] = {}  # choices searches ended at: score (USD/yr)
        self.tried: set[bytes] = set()  # choices priced
        self.found: dict[bytes, float] = {}  # this round's choices: relaxed objective (its units)
        self.plans: list[tuple[float, dict[str, np.ndarray]]] = []  # this round's priced plans (USD/yr)

    def threads_here(self) -> int:
        """HiGHS threads for a run from the calling thread. HiGHS's scheduler is set up for the
        solving thread's count: a run asking another count there, or more than one thread from a
        second thread (the worker), returns at once without a solution."""
        return self.home_threads if threading.get_ident() == self.home else 1

    @property
    def scored(self) -> int:
        """Choices of sites the site search has scored so far."""
        return 0 if self.score is None else len(self.score.cache)

    def new_round(self, rh: highspy.Highs, rpm: PlanningModel, rsf: highs.StandardForm, r_unit: float) -> None:
        """Start collecting the choices of sites of the relaxed MILP ``rh`` (model ``rpm``, compiled
        ``rsf``, ``r_unit`` USD per objective unit); the first round's model scores choices."""
        self.found, self.plans = {}, []
        if self.score is None:
            self.score = SiteScorer(rpm, rsf, r_unit, self.threads_here)
        fam = rpm.builder.variables["open_site"]

        def seen(event: highspy.highs.HighsCallbackEvent) -> None:
            x = np.asarray(event.data_out.mip_solution)
            if len(x) >= fam.offset + fam.size:
                self.collect(x[fam.offset:fam.offset + fam.size], float(event.data_out.objective_function_value))

        rh.cbMipImprovingSolution.subscribe(seen)

    def collect(self, open_site: np.ndarray, objective: float) -> None:
        """Keep a relaxed-MILP solution's choice of sites with its objective (relaxed units)."""
        key = site_key(open_site)
        with self.lock:
            self.found[key] = min(self.found.get(key, np.inf), objective)

    def next_choice(self) -> bytes | None:
        """The search end with the lowest score not priced yet, if that score is below the best plan."""
        with self.lock:
            fresh = [k for k, v in self.ends.items() if k not in self.tried and v < self.progress.best_usd]
            if not fresh:
                return None
            key = min(fresh, key=self.ends.__getitem__)
            self.tried.add(key)
            return key

    def next_start(self) -> bytes | None:
        """The best collected choice not searched from yet; then the empty choice."""
        with self.lock:
            fresh = [k for k in self.found if k not in self.searched]
            if fresh:
                key = min(fresh, key=self.found.__getitem__)
            else:
                key = site_key(np.zeros(self.pm.sets.n_site))
                if key in self.searched:
                    return None
            self.searched.add(key)
            return key

    def step(self, stop: Callable[[], bool], search: bool = True) -> bool:
        """Price the next choice, or else (if ``search``) search from the next start until
        ``stop()``; False when there is nothing left to do."""
        key = self.next_choice()
        if key is not None:
            self.progress.stage = "pricing a choice of sites on every hour"
            priced = _price_sites(self.pm, self.sf, self.h, key_sites(key), self.threads_here())
            if priced is not None:
                self._offer(*priced)
            return True
        start = self.next_start() if search else None
        if start is None or self.score is None:
            return False
        self.progress.stage = "searching choices of sites"
        end, score = local_search(self.score, start, stop)
        with self.lock:
            self.ends[end] = score
        return True

    def add_end(self, open_site: np.ndarray) -> None:
        """Offer a choice of sites for pricing as if a search had ended there (scored now)."""
        if self.score is None:
            return
        key = site_key(open_site)
        score = self.score(key)
        with self.lock:
            self.ends[key] = score

    def price_fleet(self, choice: dict[str, np.ndarray]) -> None:
        """Price a whole integer choice (sites and replicas) on every hour as it is."""
        highs.fresh_run(self.h, self.threads_here())
        fixed = highs.fixed_integer_lp(self.h, self.sf, pack_integers(self.pm, self.sf, choice))
        if fixed is not None:
            self._offer(fixed[0], fixed[1], choice)

    def polish(self, choice: dict[str, np.ndarray], seconds: float, options: dict[str, object]) -> None:
        """Re-size the replicas of ``choice`` (:func:`_polish`) and price the result."""
        better = _polish(self.pm, choice, seconds, options, self.progress)
        if better is not None:
            self.price_fleet(better)

    def _offer(self, x: np.ndarray, duals: np.ndarray, choice: dict[str, np.ndarray]) -> None:
        usd = float(self.sf.c @ x + self.sf.c0) * self.unit
        with self.lock:
            self.plans.append((usd, choice))
            if self.progress.offer_plan(usd):
                self.best = x, duals, choice

    @contextmanager
    def pricing_alongside(self) -> Iterator[None]:
        """Search and price in a worker thread until the block ends (a search stops early, a
        pricing in hand is finished first); an error in the worker is raised here."""
        def work(stop: threading.Event) -> None:
            while not stop.is_set():
                if not self.step(stop.is_set):
                    stop.wait(0.5)

        with _alongside("fast-pricing", work):
            yield


@contextmanager
def _alongside(name: str, work: Callable[[threading.Event], None]) -> Iterator[None]:
    """Run ``work(stop)`` in a daemon thread while the block runs, then set ``stop``, wait for it
    and raise here whatever it raised."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work(stop)
        except BaseException as e:  # noqa: BLE001 -- re-raised in the calling thread
            errors.append(e)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    if errors:
        raise errors[0]


def _price_sites(pm: PlanningModel, sf: highs.StandardForm, h: highspy.Highs, open_site: np.ndarray,
                 threads: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None:
    """A plan of the full model with these sites open: the LP with replicas continuous, every
    replica count rounded up, and the dispatch LP of that fleet (HiGHS on ``threads`` threads).
    Its column values, row duals and integer choice; None when the sites cannot carry a plan."""
    sites = pm.builder.variables["open_site"]
    site_cols = np.arange(sites.offset, sites.offset + sites.size, dtype=np.int32)
    h.changeColsBounds(len(site_cols), site_cols, open_site, open_site)
    h.setOptionValue("time_limit", highspy.kHighsInf)
    highs.fresh_run(h, threads)
    try:
        t0 = time.perf_counter()
        relaxed = highs.relaxation_rounded_up(h, sf)
        t1 = time.perf_counter()
        fixed = None if relaxed is None else highs.fixed_integer_lp(h, sf, relaxed[1])
        log.debug("priced sites %s: LP %.1f s, rounded-up dispatch LP %.1f s%s", np.flatnonzero(open_site).tolist(),
                  t1 - t0, time.perf_counter() - t1, "" if fixed is not None else ": no plan")
    finally:
        h.changeColsBounds(len(site_cols), site_cols, sf.col_lower[site_cols], sf.col_upper[site_cols])
    if fixed is None:
        return None
    return fixed[0], fixed[1], unpack_integers(pm, fixed[0])


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
