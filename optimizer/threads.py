"""Work on a thread beside the calling one (progress lines, pricing beside a HiGHS run)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def alongside(name: str, work: Callable[[threading.Event], None]) -> Iterator[None]:
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
