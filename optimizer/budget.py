"""What a solve may spend: memory (refuse, or reduce, a model too big for it) and time (the time
limit bounds the whole run, the build included; a long build reports its stages).

The memory check runs on :func:`optimizer.model.size.estimate`, made from the sparse index sets
before any Pyomo component exists, so a model too big for the machine is refused in the seconds
it takes to read the scenario.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

from optimizer.errors import ScenarioError
from optimizer.inputs import build_inputs
from optimizer.model.sets import IndexSets, build_sets
from optimizer.model.size import BASE_BYTES, ModelSize, estimate
from optimizer.scenario import Scenario
from optimizer.threads import alongside

log = logging.getLogger(__name__)

PROGRESS_AFTER_S = 3.0
"""A build running longer than this logs a line as each of its stages ends."""
HEARTBEAT_S = 10.0
"""While a long build runs, a line at least this often naming the stage it is in."""


# --- memory -------------------------------------------------------------------------------------

def _meminfo_kb(key: str, path: str = "/proc/meminfo") -> float | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _rss_bytes() -> float:
    """This process's resident memory now (Linux; 0 where unknown)."""
    try:
        return float(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def _cgroup_room_bytes() -> float | None:
    """Room left under this process's cgroup (v2) memory limit, None without one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return float(limit) - float(Path("/sys/fs/cgroup/memory.current").read_text().strip())
    except (OSError, ValueError):
        return None


def _address_space_limit_bytes() -> float | None:
    """The soft address-space limit (``ulimit -v``), None when unlimited or unknown."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    return None if soft in (resource.RLIM_INFINITY, -1) else float(soft)


def available_memory_bytes() -> float | None:
    """Memory this process may grow to: what it holds now plus the system's ``MemAvailable``, no
    more than its cgroup's limit allows nor its address-space limit (``ulimit -v``); None where
    that cannot be read (then nothing is checked)."""
    avail_kb = _meminfo_kb("MemAvailable")
    if avail_kb is None:
        return None
    room = avail_kb * 1024.0
    cg = _cgroup_room_bytes()
    if cg is not None:
        room = min(room, cg)
    out = _rss_bytes() + max(0.0, room)
    cap = _address_space_limit_bytes()
    return out if cap is None else min(out, cap)


def memory_limit_bytes(memory_limit_gb: float | None) -> float | None:
    """The limit a model's estimated peak is held to: ``memory_limit_gb`` if given, else the
    memory available (:func:`available_memory_bytes`); None means no check."""
    return memory_limit_gb * 1e9 if memory_limit_gb is not None else available_memory_bytes()


def _label(sc: Scenario) -> str:
    return Path(sc.source_file).name if sc.source_file else sc.name


def _whole_days(sc: Scenario) -> bool:
    return sc.time.steps % 24 == 0 and sc.time.index()[0].hour == 0


def _days_that_fit(size: ModelSize, n_time: int, limit: float) -> int:
    """Modelled days whose model fits ``limit`` (its size is about proportional to the hours)."""
    per_day = (size.peak_memory_bytes - BASE_BYTES) / max(1, n_time) * 24
    return int((limit - BASE_BYTES) // per_day) if per_day > 0 else 0


def too_big_message(sc: Scenario, size: ModelSize, limit: float, n_time: int) -> str:
    """One line: how big the model would be and what to do about it."""
    head = (f"{_label(sc)}: the model would have {_fmt(size.variables)} variables, {_fmt(size.nonzeros)} nonzeros "
            f"and need about {size.peak_memory_gb:.3g} GB of memory (limit {limit / 1e9:.3g} GB)")
    fit = _days_that_fit(size, n_time, limit)
    if fit < 1:
        return f"{head}: even one modelled day would not fit; use fewer sites, accelerators, markets or LLMs"
    # representative days add up to N + 1 peak days of their own: suggest an N whose 2N + 1 days fit
    n = max(1, (fit - 1) // 2)
    if sc.time.day_weights is not None:
        return f"{head}: use fewer representative days (e.g. --representative-days {n}) or fewer sites"
    if _whole_days(sc) and n < sc.time.steps // 24:
        return (f"{head}: use --representative-days N (e.g. {n}), fewer hours (time.days) or fewer sites, "
                "or --auto-reduce")
    return f"{head}: use fewer hours (time.steps, about {fit * 24} fit) or fewer sites"


def _fmt(n: int) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


def reduce_to_fit(sc: Scenario, size: ModelSize, limit: float,
                  ) -> tuple[Scenario, xr.Dataset, IndexSets, ModelSize, dict]:
    """The scenario on the most representative days (tsam, :mod:`optimizer.catalogs.days`) whose model
    fits ``limit``, with its inputs, sets, size and what was done; ScenarioError when none does
    (the scenario is not whole days, is already on representative days, or one day is too big)."""
    from optimizer.catalogs.days import representative_days

    n_in = sc.time.steps // 24
    message = too_big_message(sc, size, limit, sc.time.steps)
    if sc.time.day_weights is not None or not _whole_days(sc) or n_in < 2:
        raise ScenarioError(message + " (--auto-reduce needs whole days, not yet representative ones)")
    fit = _days_that_fit(size, sc.time.steps, limit)
    n = min(n_in - 1, fit)
    while n >= 1:
        small, info = representative_days(sc, n)
        inputs = build_inputs(small)
        sets = build_sets(inputs)
        got = estimate(inputs, sets)
        days_out = small.time.steps // 24
        if got.peak_memory_bytes <= limit:
            log.warning("auto-reduce: %d days would need ~%.3g GB (limit %.3g GB): planning on %d representative "
                        "days (%d modelled days with the peak days), %s", n_in, size.peak_memory_gb, limit / 1e9,
                        n, days_out, got.describe())
            return small, inputs, sets, got, {"days_in": n_in, "representative_days": n, "days_modelled": days_out,
                                              "estimate_gb_before": size.peak_memory_gb}
        log.info("auto-reduce: %d representative days (%d modelled) still need ~%.3g GB", n, days_out,
                 got.peak_memory_gb)
        n -= max(1, days_out - max(1, _days_that_fit(got, small.time.steps, limit)))
    raise ScenarioError(message)


# --- time ---------------------------------------------------------------------------------------

class BuildTimeLimit(Exception):
    """The time limit ran out while the model was being built (raised at a stage boundary)."""

    def __init__(self, stage: str, seconds: float, limit: float):
        self.stage, self.seconds, self.limit = stage, seconds, limit
        super().__init__(f"time limit of {limit:g} s reached while building the model "
                         f"({seconds:.1f} s, after {stage}): allow more time or plan a smaller model")


class BuildClock:
    """Seconds since a solve started, against its time limit (None: none). :meth:`stage` marks
    the end of a build stage: logged once the build has run ``PROGRESS_AFTER_S`` (minor stages,
    such as single model families, at most once a second), and past the limit it raises
    :class:`BuildTimeLimit`. :meth:`heartbeat` logs the current stage every ``HEARTBEAT_S``
    while a block runs."""

    def __init__(self, time_limit_s: float | None) -> None:
        self.t0 = time.perf_counter()
        self.limit = time_limit_s
        self.current = "reading inputs"
        self.logged = 0.0  # when the last stage line was logged
        self.size: ModelSize | None = None  # the model's estimated size, once known

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float | None:
        """Seconds left of the time limit (None without one)."""
        return None if self.limit is None else self.limit - self.elapsed()

    def stage(self, done: str, next_stage: str | None = None, major: bool = False) -> None:
        seconds = self.elapsed()
        if seconds >= PROGRESS_AFTER_S and (major or seconds - self.logged >= 1.0):
            self.logged = seconds
            log.info("build: %s done after %.1f s", done, seconds)
        if self.limit is not None and seconds >= self.limit:
            raise BuildTimeLimit(done, seconds, self.limit)
        self.current = next_stage or f"building the model ({done} done)"

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """A log line every ``HEARTBEAT_S`` naming the stage, once the build has run
        ``PROGRESS_AFTER_S``."""
        last = [0.0]

        def beat(stop: threading.Event) -> None:
            while not stop.wait(min(1.0, HEARTBEAT_S)):
                seconds = self.elapsed()
                if seconds >= PROGRESS_AFTER_S and seconds - last[0] >= HEARTBEAT_S:
                    last[0] = seconds
                    log.info("build: %s, %.0f s so far", self.current, seconds)

        with alongside("build-heartbeat", beat):
            yield
