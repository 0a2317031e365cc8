"""Pricing choices of sites for the fast method: a choice is fixed in the full model and priced on
every hour (LP, replicas rounded up, dispatch LP of that fleet); :class:`Pricer` finds choices
(relaxed-MILP incumbents, then the site search of :mod:`optimizer.fast.site_search`), prices them
and keeps the best plan. Integer choices (sites opened, replicas) go to and from a model's columns
with :func:`pack_integers` and :func:`unpack_integers`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import highspy
import numpy as np

from optimizer import highs
from optimizer.fast.progress import Progress
from optimizer.fast.relax import sites_only
from optimizer.fast.site_search import SiteScorer, key_sites, local_search, site_key
from optimizer.model import FAMILIES, PlanningModel, build_model
from optimizer.model.objective import objective_unit_usd
from optimizer.threads import alongside

log = logging.getLogger(__name__)

INTEGER_FAMILIES = tuple(name for name, f in FAMILIES.items() if f.integer)
"""The integer families (sites opened, replicas), from the model's registry."""
SITE_CHOICES = 3
"""Choices of sites priced on every hour after a round's relaxed MILP ends (more while it runs)."""


def milp_options(base: dict[str, object], gap: float, deadline: float) -> dict[str, object]:
    """``base`` HiGHS options with this MIP gap and the time left until ``deadline`` (at least 1 s)."""
    return {**base, "mip_rel_gap": gap, "time_limit": max(1.0, deadline - time.perf_counter())}


class Pricer:
    """Finds choices of sites, prices them on every hour (:func:`_price_sites`), keeps the best plan.

    Every distinct choice of sites among a round's relaxed-MILP incumbents is collected (HiGHS
    improving-solution callback) as a start of the site search (:mod:`optimizer.fast.site_search`,
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

        with alongside("fast-pricing", work):
            yield


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
    sh = highs.to_highs(ssf, milp_options(quiet, 1e-3, time.perf_counter() + seconds))
    start = {"open_site": choice["open_site"], "replicas": choice["replicas"][open_fleet]}
    highs.warm_start(sh, ssf, pack_integers(spm, ssf, start))
    progress.stage = "sizing replicas at the chosen sites"
    out = highs.run(sh, True)
    if out.x is None:
        return None
    reps = np.zeros(sets.n_fleet)
    reps[open_fleet] = unpack_integers(spm, out.x)["replicas"]
    return {"open_site": choice["open_site"], "replicas": reps}


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
