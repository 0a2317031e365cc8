"""Routing: production at sites, delivery to markets over latency-feasible routes, unserved demand."""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.model.linear import LinearBuilder
from optimizer.model.objective import objective_unit_usd
from optimizer.model.sets import MTOK, IndexSets


def declare(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """Hourly flows in million output tokens/s (input tokens ride along)."""
    nt = sets.n_time
    b.add_var("production", sets.n_fleet * nt, "Mtoken/s", "output tokens produced per (site, gpu, llm, time)")
    b.add_var("delivery", sets.n_route * nt, "Mtoken/s", "output tokens delivered per (site, market, llm, time)")
    b.add_var("unserved", sets.n_unmet * nt, "Mtoken/s", "output-token demand not served per (market, llm, time)")
    fm, fl = _flexible_pairs(inputs, sets)
    b.add_var("flexible_delivery", len(fm) * nt, "Mtoken/s",
              "deferrable demand served per (market, llm, time), any hour of its day")


def _flexible_pairs(inputs: xr.Dataset, sets: IndexSets) -> tuple[np.ndarray, np.ndarray]:
    """Demanded (market, llm) pairs of LLMs with a deferrable share."""
    dm, dl = np.nonzero(sets.demanded)
    keep = inputs["deferrable_share"].values[dl] > 0
    return dm[keep], dl[keep]


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
    share = inputs["deferrable_share"].values[dl]
    rhs = ((1.0 - share)[:, None] * demand[dm, dl]).ravel() / MTOK
    fm, fl = _flexible_pairs(inputs, sets)
    flexible = b.variables["flexible_delivery"]
    flex_rows = (ml[fm, fl][:, None] * nt + t).ravel()
    b.add_rows(
        "demand_balance", len(dm) * nt,
        [(route_rows, delivery.cols(), 1.0), (unmet_rows, unserved.cols(), 1.0), (flex_rows, flexible.cols(), -1.0)],
        lb=rhs, ub=rhs, description="deliveries plus unserved equal firm demand plus deferrable demand served",
    )
    if len(fm):
        # flexible_daily_balance[m,l,day]: sum_{t in day} flexible_delivery = share * sum_{t in day} demand
        day = inputs["day"].values
        n_day = int(day.max()) + 1
        rows = (np.arange(len(fm))[:, None] * n_day + day[None, :]).ravel()
        daily = np.zeros((len(fm), n_day))
        np.add.at(daily, (slice(None), day), demand[fm, fl])
        rhs_day = (inputs["deferrable_share"].values[fl][:, None] * daily).ravel() / MTOK
        b.add_rows(
            "flexible_daily_balance", len(fm) * n_day, [(rows, flexible.cols(), 1.0)],
            lb=rhs_day, ub=rhs_day, description="deferrable demand served within its day",
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
        weight = inputs["weight_h"].values
        # 1 Mtoken/s for one hour = 3,600 million output tokens, plus input tokens at ipo
        per_step = (3600.0 * (1.0 + ipo) * pen / objective_unit_usd(inputs))[:, None] * weight[None, :]
        b.add_cost(unserved.cols(), per_step.ravel())
