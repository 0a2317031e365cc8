"""Policy and physics masks: which accelerators may stand where, which routes may carry which LLM.

Everything here is a boolean mask over the inputs Dataset; the sparse index sets are built from
these masks so that forbidden combinations never become variables.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def gpu_allowed(inputs: xr.Dataset) -> np.ndarray:
    """(site, gpu): the accelerator may be installed at the site (``available_in``, rule sets)."""
    return inputs["gpu_allowed"].transpose("site", "gpu").values.astype(bool)


def deployable(inputs: xr.Dataset) -> np.ndarray:
    """(llm, gpu, deployment): the deployment's throughput is known, so it can serve the LLM."""
    dims = ("llm", "gpu", "deployment")
    out = inputs["output_tokens_per_s_per_gpu"].transpose(*dims).values
    inp = inputs["input_tokens_per_s_per_gpu"].transpose(*dims).values
    return np.isfinite(out) & np.isfinite(inp)


def runs_on(inputs: xr.Dataset) -> np.ndarray:
    """(llm, gpu): some deployment's throughput is known, so the LLM can be served on the accelerator."""
    return deployable(inputs).any(axis=2)


def route_ok(inputs: xr.Dataset) -> np.ndarray:
    """(site, market, llm): a latency entry exists, is within the LLM's ``max_rtt_ms``, and the
    market accepts service from the site's country (``served_from``)."""
    lat = inputs["latency_ms"].transpose("site", "market").values
    rtt = inputs["max_rtt_ms"].values
    listed = np.isfinite(lat)
    within = np.where(np.isfinite(rtt)[None, None, :], np.nan_to_num(lat, nan=np.inf)[:, :, None] <= rtt, True)
    allowed = inputs["route_allowed"].transpose("site", "market").values.astype(bool)
    return (listed & allowed)[:, :, None] & within
