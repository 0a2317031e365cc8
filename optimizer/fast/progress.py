"""Progress of the fast method: best plan and proven bound so far, logged as they improve and at
least every ``PROGRESS_EVERY_S`` seconds; the stall rule that ends a relaxed MILP whose bound has
stopped rising; work in a thread beside HiGHS (which releases the GIL while it solves)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import highspy
import numpy as np

from optimizer.threads import alongside

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 10.0
"""Seconds between progress lines while a MILP runs."""
STALL_S = 30.0
STALL_GAIN = 5e-4
"""A round's relaxed MILP stops once its bound rose by less than this share in ``STALL_S`` seconds."""


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
        return relative_gap(self.best_usd, self.lower_usd)

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

        with alongside("fast-progress", beat):
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


def relative_gap(upper: float, lower: float) -> float:
    """Relative gap of a plan costing ``upper`` to a bound ``lower`` (inf without both)."""
    if not (np.isfinite(upper) and np.isfinite(lower)) or upper <= 0:
        return np.inf
    return max(0.0, (upper - lower) / abs(upper))
