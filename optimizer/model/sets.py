"""Sparse index sets of the planning model, built with numpy from the policy masks.

Only combinations that can carry a non-zero value become variables:

* ``fleet``   (site, gpu, llm, deployment): accelerator allowed at the site, the deployment serves the
  LLM on it (its throughput is known), and the site has a route to a market that demands the LLM;
* ``route``   (site, market, llm): latency-feasible, permitted, demanded, and servable from the site;
* ``unmet``   (market, llm): demanded and allowed to go unserved (a penalty is set);
* time-indexed families are these sets crossed with ``time`` (row-major: the set outer, time inner).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from optimizer.model import policy

MTOK = 1e6
"""Output tokens/s per unit of the production, delivery and unserved variables (million tokens/s)."""
FLOW_TOL_MTOK = 1e-9
"""Flows below this (million tokens/s, i.e. 0.001 token/s) are solver noise, reported as zero."""


@dataclass(frozen=True)
class IndexSets:
    """Integer positions into the inputs' coordinates for each sparse set."""

    n_site: int
    n_time: int
    fleet_site: np.ndarray
    fleet_gpu: np.ndarray
    fleet_llm: np.ndarray
    fleet_deployment: np.ndarray
    route_site: np.ndarray
    route_market: np.ndarray
    route_llm: np.ndarray
    unmet_market: np.ndarray
    unmet_llm: np.ndarray
    demanded: np.ndarray  # (market, llm) bool
    fleet_gpus_per_replica: np.ndarray  # GPUs in one replica, per fleet element
    fleet_busy_gpus_per_mtok: np.ndarray  # GPUs kept busy per million output tokens/s
    fleet_max_replicas: np.ndarray  # valid upper bound on replicas (power and demand)
    active_site: np.ndarray  # sites with any fleet element
    onsite_site: np.ndarray  # active sites that may build on-site supply or storage

    @property
    def n_fleet(self) -> int:
        return len(self.fleet_site)

    @property
    def n_route(self) -> int:
        return len(self.route_site)

    @property
    def n_unmet(self) -> int:
        return len(self.unmet_market)


def fleet_coefficients(inputs: xr.Dataset, fg: np.ndarray, fl: np.ndarray, fd: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """GPUs per replica and busy GPUs per million output tokens/s of (gpu, llm, deployment) elements:
    disaggregated, a decode GPU-second per output token plus a prefill GPU-second per uncached input
    token (pools sized to the load); aggregated, the output rate already includes the prefill."""
    dims = ("llm", "gpu", "deployment")
    out = inputs["output_tokens_per_s_per_gpu"].transpose(*dims).values[fl, fg, fd]
    inp = inputs["input_tokens_per_s_per_gpu"].transpose(*dims).values[fl, fg, fd]
    agg = inputs["aggregated"].transpose(*dims).values[fl, fg, fd]
    uncached = inputs["input_per_output"].values[fl] * (1.0 - inputs["cache_hit_share"].values[fl])
    gpus_per_replica = inputs["gpus_per_replica"].transpose(*dims).values[fl, fg, fd]
    busy_per_mtok = MTOK * (1.0 / out + np.where(agg, 0.0, uncached / inp))
    return gpus_per_replica, busy_per_mtok


def _max_replicas(
    inputs: xr.Dataset, routes: np.ndarray, demand: np.ndarray,
    fs: np.ndarray, fg: np.ndarray, fl: np.ndarray, k: np.ndarray, busy: np.ndarray,
) -> np.ndarray:
    """Upper bound on replicas of each fleet element: the fewest of (a) what the grid limit can
    power at idle and (b) what the peak reachable demand could keep busy."""
    # deferrable demand may pile into one hour of its day: bound by firm demand plus the day's total
    share = inputs["deferrable_share"].values[None, :, None]
    day = inputs["day"].values
    daily = np.zeros(demand.shape[:2] + (int(day.max()) + 1,))
    np.add.at(daily, (slice(None), slice(None), day), demand)
    peak_demand = (1 - share) * demand + share * daily[:, :, day]
    reach = np.einsum("sml,mlt->slt", routes.astype(float), peak_demand).max(axis=2)  # (site, llm) tok/s
    by_demand = np.ceil(reach[fs, fl] / MTOK * busy / k - 1e-9)
    return np.minimum(by_demand, replicas_within_grid(inputs, fs, fg, k))


def replicas_within_grid(inputs: xr.Dataset, site: np.ndarray, gpu: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Most replicas of ``k`` accelerators of type ``gpu`` whose idle draw, at the site's lowest PUE,
    fits its grid limit (broadcast over the index arrays); inf where on-site supply adds power or the
    accelerator draws nothing at idle."""
    idle = inputs["idle_power_kw_per_gpu"].values[gpu]
    pue_min = inputs["pue"].transpose("site", "time").values.min(axis=1)[site]
    grid_kw = inputs["grid_limit_mw"].values[site] * 1000.0
    with np.errstate(divide="ignore"):
        by_power = np.where(idle > 0, np.floor(grid_kw / (pue_min * idle * k) + 1e-9), np.inf)
    return np.where(inputs["has_onsite"].values[site], np.inf, by_power)  # on-site supply adds power


def build_sets(inputs: xr.Dataset) -> IndexSets:
    """Sparse sets for ``inputs`` (see module docstring)."""
    demand = inputs["demand_output_tokens_per_s"].transpose("market", "llm", "time").values
    demanded = demand.max(axis=2) > 0  # (market, llm)
    allowed = policy.gpu_allowed(inputs)  # (site, gpu)
    deployable = policy.deployable(inputs)  # (llm, gpu, deployment)
    runs = deployable.any(axis=2)  # (llm, gpu)
    can_serve = (allowed[:, None, :] & runs[None, :, :]).any(axis=2)  # (site, llm)
    routes = policy.route_ok(inputs) & demanded[None, :, :] & can_serve[:, None, :]  # (s, m, l)
    fleet = (allowed[:, None, :] & routes.any(axis=1)[:, :, None])[:, :, :, None] & deployable[None]  # (s, l, g, d)
    fs, fl, fg, fd = np.nonzero(fleet)
    order = np.lexsort((fd, fl, fg, fs))  # site, gpu, llm, deployment order
    fs, fg, fl, fd = fs[order], fg[order], fl[order], fd[order]
    k, busy = fleet_coefficients(inputs, fg, fl, fd)
    ub = _max_replicas(inputs, routes, demand, fs, fg, fl, k, busy)
    keep = ub > 0
    fs, fg, fl, fd, k, busy, ub = fs[keep], fg[keep], fl[keep], fd[keep], k[keep], busy[keep], ub[keep]
    has_fleet = np.zeros(can_serve.shape, bool)
    has_fleet[fs, fl] = True
    routes &= has_fleet[:, None, :]
    rs, rm, rl = np.nonzero(routes)
    penalty = inputs["unserved_penalty_usd_per_mtok"].values
    um, ul = np.nonzero(demanded & np.isfinite(penalty)[:, None])
    return IndexSets(
        n_site=inputs.sizes["site"],
        n_time=inputs.sizes["time"],
        fleet_site=fs,
        fleet_gpu=fg,
        fleet_llm=fl,
        fleet_deployment=fd,
        route_site=rs,
        route_market=rm,
        route_llm=rl,
        unmet_market=um,
        unmet_llm=ul,
        demanded=demanded,
        fleet_gpus_per_replica=k,
        fleet_busy_gpus_per_mtok=busy,
        fleet_max_replicas=ub,
        active_site=np.unique(fs),
        onsite_site=np.intersect1d(np.unique(fs), np.flatnonzero(inputs["has_onsite"].values)),
    )
