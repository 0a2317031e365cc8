"""Routing: production at sites, delivery to markets over latency-feasible routes, unserved demand."""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.model.linear import Family, LinearBuilder, Result
from optimizer.model.objective import objective_unit_usd
from optimizer.model.sets import FLOW_TOL_MTOK, MTOK, IndexSets

PRODUCTION = Family("production", "Mtoken/s", "output tokens produced per (site, gpu, llm, deployment, time)",
                    dims=("site", "gpu", "llm"), timed=True,  # results sum the deployments
                    result=Result("production_tokens_per_s", "token/s", "output tokens produced",
                                  scale=MTOK, noise=FLOW_TOL_MTOK))
DELIVERY = Family("delivery", "Mtoken/s", "output tokens delivered per (site, market, llm, time)",
                  dims=("site", "market", "llm"), timed=True,
                  result=Result("delivered_tokens_per_s", "token/s", "output tokens delivered from site to market",
                                scale=MTOK, noise=FLOW_TOL_MTOK))
UNSERVED = Family("unserved", "Mtoken/s", "output-token demand not served per (market, llm, time)",
                  dims=("market", "llm"), timed=True,
                  result=Result("unserved_tokens_per_s", "token/s", "output-token demand not served",
                                scale=MTOK, noise=FLOW_TOL_MTOK))
FLEXIBLE_DELIVERY = Family("flexible_delivery", "Mtoken/s",
                           "deferrable demand served per (market, llm, time), any hour of its day",
                           dims=("market", "llm"), timed=True)  # its flows are in delivered_tokens_per_s
FAMILIES = (PRODUCTION, DELIVERY, UNSERVED, FLEXIBLE_DELIVERY)


def declare(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """Hourly flows in million output tokens/s (input tokens ride along)."""
    nt = sets.n_time
    b.add_var(PRODUCTION, sets.n_fleet * nt, index=(sets.fleet_site, sets.fleet_gpu, sets.fleet_llm))
    b.add_var(DELIVERY, sets.n_route * nt, index=(sets.route_site, sets.route_market, sets.route_llm))
    b.add_var(UNSERVED, sets.n_unmet * nt, index=(sets.unmet_market, sets.unmet_llm))
    fm, fl = _flexible_pairs(inputs, sets)
    b.add_var(FLEXIBLE_DELIVERY, len(fm) * nt, index=(fm, fl))


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
    """``demand_balance``, ``flexible_daily_balance``, ``production_balance``; the unserved
    penalty in the objective."""
    demand = inputs["demand_output_tokens_per_s"].transpose("market", "llm", "time").values
    demand_balance(b, inputs, sets, demand)
    flexible_daily_balance(b, inputs, sets, demand)
    production_balance(b, inputs, sets)
    if sets.n_unmet:
        ipo = inputs["input_per_output"].values[sets.unmet_llm]
        pen = inputs["unserved_penalty_usd_per_mtok"].values[sets.unmet_market]
        weight = inputs["weight_h"].values
        # 1 Mtoken/s for one hour = 3,600 million output tokens, plus input tokens at ipo
        per_step = (3600.0 * (1.0 + ipo) * pen / objective_unit_usd(inputs))[:, None] * weight[None, :]
        b.add_cost(b.variables["unserved"].cols(), per_step.ravel(), "unserved")


def demand_balance(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets, demand: np.ndarray) -> None:
    """``demand_balance``, for every demanded (m,l) and t: deliveries plus unserved demand equal
    firm demand plus the deferrable demand served in the hour,

    sum_s delivery[s,m,l,t] + unserved[m,l,t] - flexible_delivery[m,l,t] = (1 - share_l) demand[m,l,t] / 1e6

    (``unserved`` only where a penalty is set, ``flexible_delivery`` only for deferrable LLMs).
    """
    nt = sets.n_time
    t = np.arange(nt)
    delivery, unserved, flexible = b.variables["delivery"], b.variables["unserved"], b.variables["flexible_delivery"]
    dm, dl = np.nonzero(sets.demanded)
    ml = _pair_ids(dm, dl, sets.demanded.shape)
    route_rows = (ml[sets.route_market, sets.route_llm][:, None] * nt + t).ravel()
    unmet_rows = (ml[sets.unmet_market, sets.unmet_llm][:, None] * nt + t).ravel()
    share = inputs["deferrable_share"].values[dl]
    rhs = ((1.0 - share)[:, None] * demand[dm, dl]).ravel() / MTOK
    fm, fl = _flexible_pairs(inputs, sets)
    flex_rows = (ml[fm, fl][:, None] * nt + t).ravel()
    b.add_rows(
        "demand_balance", len(dm) * nt,
        [(route_rows, delivery.cols(), 1.0), (unmet_rows, unserved.cols(), 1.0), (flex_rows, flexible.cols(), -1.0)],
        lb=rhs, ub=rhs, description="deliveries plus unserved equal firm demand plus deferrable demand served",
        fields="markets.*.demand_output_tokens_per_s",
    )


def flexible_daily_balance(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets, demand: np.ndarray) -> None:
    """``flexible_daily_balance``, for every deferrable (m,l) and day D: the deferrable share of
    the day's demand is served at any hour of that day,

    sum_{t in D} flexible_delivery[m,l,t] = share_l * sum_{t in D} demand[m,l,t] / 1e6
    """
    fm, fl = _flexible_pairs(inputs, sets)
    if not len(fm):
        return
    day = inputs["day"].values
    n_day = int(day.max()) + 1
    rows = (np.arange(len(fm))[:, None] * n_day + day[None, :]).ravel()
    daily = np.zeros((len(fm), n_day))
    np.add.at(daily, (slice(None), day), demand[fm, fl])
    rhs_day = (inputs["deferrable_share"].values[fl][:, None] * daily).ravel() / MTOK
    b.add_rows(
        "flexible_daily_balance", len(fm) * n_day, [(rows, b.variables["flexible_delivery"].cols(), 1.0)],
        lb=rhs_day, ub=rhs_day, description="deferrable demand served within its day",
    )


def production_balance(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``production_balance``, for every (s,l) with a fleet and t: what a site produces for an LLM
    is what it delivers,

    sum_{g,d} production[s,g,l,d,t] = sum_m delivery[s,m,l,t]
    """
    nt = sets.n_time
    t = np.arange(nt)
    ps, pl = np.unique(np.stack([sets.fleet_site, sets.fleet_llm]), axis=1)
    sl = _pair_ids(ps, pl, (sets.n_site, inputs.sizes["llm"]))
    fleet_rows = (sl[sets.fleet_site, sets.fleet_llm][:, None] * nt + t).ravel()
    route_rows = (sl[sets.route_site, sets.route_llm][:, None] * nt + t).ravel()
    b.add_rows(
        "production_balance", len(ps) * nt,
        [(fleet_rows, b.variables["production"].cols(), 1.0), (route_rows, b.variables["delivery"].cols(), -1.0)],
        lb=0.0, ub=0.0, description="what a site produces for an LLM is what it delivers",
        fields="llms.*.input_per_output",
    )
