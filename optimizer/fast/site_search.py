"""Local search over choices of sites, scored on the time-aggregation relaxation with the sites fixed.

The relaxed MILP (:mod:`optimizer.fast.relax`) proves the bound, but its own heuristics find few
choices of sites, and not the best: on the 40-site year they returned 5 or 6 sites while 2 sites
cost 2.5% less on every hour. Fixing a choice of sites in the relaxed model and solving its LP
(replicas continuous) takes well under a second, and that value, the choice's *score*, is a lower
bound on the full model's optimum with those sites (the relaxation restricted to them). So:

* :class:`SiteScorer` scores choices (cached);
* :func:`local_search` moves from a start to a choice no single drop, add or swap of one site
  improves (best drop or add first, then the first improving swap);
* a choice whose score is not below the best plan's cost cannot give a better plan, so it is
  never priced on every hour.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator

import numpy as np

from optimizer import highs
from optimizer.model import PlanningModel

log = logging.getLogger(__name__)


def site_key(open_site: np.ndarray) -> bytes:
    """A choice of sites as a dictionary key (0.0/1.0 per site, float64 bytes)."""
    return np.abs(np.round(np.asarray(open_site, float))).tobytes()


def key_sites(key: bytes) -> np.ndarray:
    """The 0/1 vector of a :func:`site_key`."""
    return np.frombuffer(key).copy()


class SiteScorer:
    """Scores of choices of sites (USD/year): the LP of the relaxed model ``rpm`` (compiled
    ``rsf``, ``unit_usd`` USD per objective unit) with those sites fixed open and the others
    closed; ``inf`` where that LP is infeasible. Safe to share between threads (one at a time);
    ``threads()`` gives the HiGHS threads for a run from the calling thread."""

    def __init__(self, rpm: PlanningModel, rsf: highs.StandardForm, unit_usd: float,
                 threads: Callable[[], int] = lambda: 1) -> None:
        lp = dataclasses.replace(rsf, integer=np.zeros_like(rsf.integer))
        self.h = highs.to_highs(lp, {})
        self.threads = threads
        fam = rpm.builder.variables["open_site"]
        self.cols = np.arange(fam.offset, fam.offset + fam.size, dtype=np.int32)
        self.candidates = np.flatnonzero(rsf.col_upper[self.cols] > 0.5)  # sites that may open
        self.unit = unit_usd
        self.cache: dict[bytes, float] = {}
        self.lock = threading.Lock()

    def __call__(self, key: bytes) -> float:
        with self.lock:
            if key not in self.cache:
                v = key_sites(key)
                self.h.changeColsBounds(len(self.cols), self.cols, v, v)
                highs.fresh_run(self.h, self.threads())
                out = highs.run(self.h, False)
                if out.status not in ("optimal", "infeasible"):
                    raise RuntimeError(f"site search: HiGHS ended with {out.highs_status!r} scoring a choice of sites")
                self.cache[key] = out.objective * self.unit if out.status == "optimal" else np.inf
            return self.cache[key]


def neighbours(key: bytes, candidates: np.ndarray, swaps: bool) -> Iterator[bytes]:
    """Choices one drop or one add away from ``key`` (``swaps``: one drop and one add instead)."""
    v = key_sites(key)
    opened = candidates[v[candidates] > 0.5]
    closed = candidates[v[candidates] < 0.5]
    if not swaps:
        for s in np.concatenate([opened, closed]):
            w = v.copy()
            w[s] = 1.0 - w[s]
            yield w.tobytes()
        return
    for out in opened:
        for into in closed:
            w = v.copy()
            w[out], w[into] = 0.0, 1.0
            yield w.tobytes()


def _improving(score: SiteScorer, keys: Iterator[bytes], than: float, stop: Callable[[], bool],
               first: bool) -> tuple[bytes | None, float]:
    """The best of ``keys`` scoring below ``than`` (``first``: the first such), and its score."""
    step, step_score = None, than
    for k in keys:
        if stop():
            break
        s = score(k)
        if s < step_score * (1 - 1e-9):
            step, step_score = k, s
            if first:
                break
    return step, step_score


def local_search(score: SiteScorer, start: bytes, stop: Callable[[], bool] = lambda: False,
                 ) -> tuple[bytes, float]:
    """A choice of sites no single drop, add or swap improves, reached from ``start``, and its
    score. Each step takes the best drop or add; when none improves, the first improving swap.
    Returns early, with the best choice so far, once ``stop()`` is true."""
    best, best_score = start, score(start)
    while not stop():
        step, step_score = _improving(score, neighbours(best, score.candidates, False), best_score, stop, False)
        if step is None:
            step, step_score = _improving(score, neighbours(best, score.candidates, True), best_score, stop, True)
        if step is None:
            break
        log.debug("site search: %s scores %.6g USD/yr", np.flatnonzero(key_sites(step)).tolist(), step_score)
        best, best_score = step, step_score
    return best, best_score
