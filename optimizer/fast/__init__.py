"""The fast solver method (``SolveOptions(method="fast")``, ``--method fast``): a proven lower
bound from a model on few groups of hours, plans priced on every hour, refined until the gap
closes. Its modules, each importing only those before it:

* :mod:`~optimizer.fast.relax` — the time-aggregation relaxation: hours grouped, inputs grouped
  (:func:`~optimizer.fast.relax.group_inputs`), the relaxed model and its peak-hour rows;
* :mod:`~optimizer.fast.site_search` — choices of sites scored on the relaxation, local search;
* :mod:`~optimizer.fast.progress` — best plan and bound so far, progress lines, the stall rule;
* :mod:`~optimizer.fast.pricer` — choices of sites priced on every hour, the best plan kept;
* :mod:`~optimizer.fast.loop` — :func:`~optimizer.fast.loop.solve_fast`, the rounds.
"""

from optimizer.fast.loop import FIRST_ROUND_NONZEROS, Round, solve_fast
from optimizer.fast.pricer import pack_integers, unpack_integers
from optimizer.fast.progress import Progress, stop_when_stalled
from optimizer.fast.relax import unsupported

__all__ = [
    "FIRST_ROUND_NONZEROS",
    "Progress",
    "Round",
    "pack_integers",
    "solve_fast",
    "stop_when_stalled",
    "unpack_integers",
    "unsupported",
]
