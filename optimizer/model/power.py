"""Power: facility draw from IT load and PUE, the grid connection limit, and energy cost."""

from __future__ import annotations

import numpy as np
import xarray as xr

from optimizer.model.linear import LinearBuilder
from optimizer.model.objective import MUSD
from optimizer.model.sets import IndexSets


def declare(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``facility_power[s,t]`` (MW) at sites that can host a fleet."""
    b.add_var("facility_power", len(sets.active_site) * sets.n_time, "MW", "facility draw from the grid")


def constrain(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets) -> None:
    """``facility_power_balance`` and ``grid_limit``; energy cost in the objective.

    facility_power[s,t] = pue[s,t] / 1000 * (sum idle_kw * gpus_per_replica * replicas
                                             + sum (full_kw - idle_kw) * busy_gpus_per_mtok * production)
    facility_power[s,t] <= grid_limit_mw[s] * open_site[s]
    """
    nt = sets.n_time
    t = np.arange(nt)
    power, replicas, production = b.variables["facility_power"], b.variables["replicas"], b.variables["production"]
    open_site = b.variables["open_site"]
    act = sets.active_site
    pos = np.full(sets.n_site, -1, np.int64)
    pos[act] = np.arange(len(act))
    pue = inputs["pue"].transpose("site", "time").values
    g, s = sets.fleet_gpu, sets.fleet_site
    idle = inputs["idle_power_kw_per_gpu"].values[g]
    dyn = inputs["power_kw_per_gpu"].values[g] - idle
    rows = (pos[s][:, None] * nt + t).ravel()  # fleet x time -> (site, time) row
    pue_ft = pue[s].ravel()
    f = np.repeat(np.arange(sets.n_fleet), nt)
    n_rows = len(act) * nt
    b.add_rows(
        "facility_power_balance", n_rows,
        [
            (np.arange(n_rows), power.cols(), 1.0),
            (rows, replicas.cols(f), -pue_ft * np.repeat(idle * sets.fleet_gpus_per_replica, nt) / 1000.0),
            (rows, production.cols(), -pue_ft * np.repeat(dyn * sets.fleet_busy_gpus_per_mtok, nt) / 1000.0),
        ],
        lb=0.0, ub=0.0, description="facility power is PUE times IT power",
    )
    b.add_rows(
        "grid_limit", n_rows,
        [
            (np.arange(n_rows), power.cols(), 1.0),
            (np.arange(n_rows), open_site.cols(np.repeat(act, nt)), -np.repeat(inputs["grid_limit_mw"].values[act], nt)),
        ],
        lb=None, ub=0.0, description="grid draw within the connection limit, zero if not opened",
    )
    price = inputs["energy_price_usd_per_mwh"].transpose("site", "time").values[act].ravel()
    b.add_cost(power.cols(), inputs.attrs["time_weight_h"] * price / MUSD)
