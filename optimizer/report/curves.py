"""Throughput per GPU against tokens/s per user for each candidate deployment (the chart users know
from InferenceX): the trade-off between interactivity and throughput, one line per deployment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from optimizer.resources import atomic_write

SPEEDS = tuple(float(x) for x in np.geomspace(5.0, 400.0, 25))
"""Per-user speeds (output tokens/s) at which the curve is estimated."""


def throughput_curve(gpu: str, llm: str, precision: str | None = None, input_len: int = 4096,
                     output_len: int = 1024, cache_hit_share: float | None = None,
                     speeds: tuple[float, ...] = SPEEDS) -> Figure:
    """Total tokens/s per GPU against output tokens/s per user, one line per candidate deployment of
    :func:`optimizer.catalogs.catalog.deployment_estimates` (infeasible speeds left out)."""
    from optimizer.catalogs.catalog import deployment_estimates

    curves: dict[str, list[tuple[float, float]]] = {}
    for v in speeds:
        for d, e in deployment_estimates(gpu, llm, precision, v, input_len, output_len, cache_hit_share):
            if e.feasible:
                curves.setdefault(d.name, []).append((e.tokens_per_s_per_user, e.total_tokens_per_s_per_gpu))
    fig = Figure(figsize=(8.0, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, pts in curves.items():
        x, y = zip(*sorted(pts), strict=True)
        planner = not name.startswith(("agg-", "disagg-"))
        ax.plot(x, y, marker="o" if planner else None, ms=3, lw=2.0 if planner else 0.9,
                ls="-" if planner or name.startswith("disagg-") else "--", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("output tokens/s per user")
    ax.set_ylabel("total tokens/s per GPU (input + output)")
    ax.set_title(f"{llm} on {gpu}, {input_len} in / {output_len} out")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def write_throughput_curve(gpu: str, llm: str, precision: str | None, tokens_per_s_per_user: float,
                           input_len: int, output_len: int, path: str | Path,
                           cache_hit_share: float | None = None) -> Path:
    """Write :func:`throughput_curve` as a PNG at ``path`` (atomically); ``tokens_per_s_per_user`` is
    marked on the chart."""
    fig = throughput_curve(gpu, llm, precision, input_len, output_len, cache_hit_share)
    fig.axes[0].axvline(tokens_per_s_per_user, color="grey", lw=0.8, ls=":")
    out = Path(path)
    atomic_write(out, lambda p: fig.savefig(p, format="png", dpi=120))
    return out
