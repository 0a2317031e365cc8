"""Routing: production at sites, delivery to markets over latency-feasible routes, unserved demand."""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.model.linear import LinearBuilder
from optimizer.model.objective import MUSD
from optimizer.model.sets import MTOK, IndexSets


def declare(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """Hourly flows in million output tokens/s (input tokens ride along)."""
    nt = sets.n_time
    b.add_var("production", sets.n_fleet * nt, "Mtoken/s", "output tokens produced per (site, gpu, llm, time)")
    b.add_var("delivery", sets.n_route * nt, "Mtoken/s", "output tokens delivered per (site, market, llm, time)")
    b.add_var("unserved", sets.n_unmet * nt, "Mtoken/s", "output-token demand not served per (market, llm, time)")


def _pair_ids(a: np.ndarray, b_: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Dense lookup from (a, b) pairs to their row block number; -1 where absent."""
    ids = np.full(shape, -1, np.int64)
    ids[a, b_] = np.arange(len(a))
    return ids


def constrain(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``demand_balance`` and ``production_balance``; unserved penalty in the objective."""
    nt = sets.n_time
    t = np.arange(nt)
    production, delivery, unserved = b.variables["production"], b.variables["delivery"], b.variables["unserved"]
    demand = inputs["demand_output_tokens_per_s"].transpose("market", "llm", "time").values

    # demand_balance[m,l,t]: sum_s delivery[s,m,l,t] + unserved[m,l,t] = demand[m,l,t]
    dm, dl = np.nonzero(sets.demanded)
    ml = _pair_ids(dm, dl, sets.demanded.shape)
    route_rows = (ml[sets.route_market, sets.route_llm][:, None] * nt + t).ravel()
    unmet_rows = (ml[sets.unmet_market, sets.unmet_llm][:, None] * nt + t).ravel()
    rhs = demand[dm, dl].ravel() / MTOK
    b.add_rows(
        "demand_balance", len(dm) * nt,
        [(route_rows, delivery.cols(), 1.0), (unmet_rows, unserved.cols(), 1.0)],
        lb=rhs, ub=rhs, description="deliveries plus unserved equal demand",
    )

    # production_balance[s,l,t]: sum_g production[s,g,l,t] = sum_m delivery[s,m,l,t]
    ps, pl = np.unique(np.stack([sets.fleet_site, sets.fleet_llm]), axis=1)
    sl = _pair_ids(ps, pl, (sets.n_site, inputs.sizes["llm"]))
    fleet_rows = (sl[sets.fleet_site, sets.fleet_llm][:, None] * nt + t).ravel()
    route_rows = (sl[sets.route_site, sets.route_llm][:, None] * nt + t).ravel()
    b.add_rows(
        "production_balance", len(ps) * nt,
        [(fleet_rows, production.cols(), 1.0), (route_rows, delivery.cols(), -1.0)],
        lb=0.0, ub=0.0, description="what a site produces for an LLM is what it delivers",
    )

    if sets.n_unmet:
        ipo = inputs["input_per_output"].values[sets.unmet_llm]
        pen = inputs["unserved_penalty_usd_per_mtok"].values[sets.unmet_market]
        weight = inputs.attrs["time_weight_h"]
        # 1 Mtoken/s for one hour = 3,600 million output tokens, plus input tokens at ipo
        per_step = weight * 3600.0 * (1.0 + ipo) * pen / MUSD
        b.add_cost(unserved.cols(), np.repeat(per_step, nt))
