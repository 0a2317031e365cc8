"""Time-aggregation relaxation: a model on few time steps whose optimum bounds the full one from below.

Each group of hours becomes one time step of a smaller model with the same sites, fleet and
routes (the same sparse sets, replica bounds included). In a group ``C`` with hours ``t`` of
weights ``w_t`` (total ``W``):

* demand and on-site capacity factors are the ``w``-weighted means over ``C`` (a factor that
  falls between 0 and ``CF_FLOOR`` is raised to ``CF_FLOOR``);
* the PUE is the minimum over ``C``; the grid cost per MWh (energy plus carbon price) and the
  carbon intensity are the minimum over ``C`` of (cost x PUE) / min PUE at grid-only sites and the
  minimum of the cost at on-site sites; export prices are the maximum;
* the weight is ``W``.

Averaging any plan of the full model over each group gives a plan of the small model with the same
investments at no higher cost (docs/math.md, "Time-aggregation relaxation"), so the small
model's optimum — or any proven lower bound on it — is a proven lower bound on the full optimum.
The argument needs every constraint that links hours to go through investments only, so the
relaxation is not offered with batteries, deferrable work or hourly matching
(:func:`unsupported`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr
from scipy.cluster.vq import kmeans2

from optimizer.model import PlanningModel, build_model
from optimizer.model.linear import LinearBuilder
from optimizer.model.objective import objective_unit_usd
from optimizer.model.power import CF_FLOOR, floored_cf
from optimizer.model.sets import MTOK, IndexSets
from optimizer.technologies import TECHNOLOGIES

PEAK_HOURS = 8
"""Hours of each (market, LLM) pair's and each LLM's highest demand kept as ``peak_cover`` rows."""


def has_storage(inputs: xr.Dataset, sets: IndexSets) -> bool:
    """Some active site may build a battery (which links its hours)."""
    o = sets.onsite_site
    return bool(len(o) and np.isfinite(inputs["battery_capex_usd_per_mwh"].values[o]).any())


def unsupported(inputs: xr.Dataset, sets: IndexSets) -> str | None:
    """Why the relaxation does not apply to this model (None when it does)."""
    if has_storage(inputs, sets):
        return "batteries carry energy between hours"
    demanded_llm = sets.demanded.any(axis=0)
    if (inputs["deferrable_share"].values[demanded_llm] > 0).any():
        return "deferrable work moves between hours"
    if float(inputs.attrs.get("hourly_matching", 0.0)) > 0:
        return "hourly matching ties each hour's grid use to its on-site supply"
    return None


def features(inputs: xr.Dataset) -> np.ndarray:
    """One row per time step: demand of each (market, llm), grid cost and PUE of each site and
    capacity factors, each column scaled to [0, 1] (for clustering)."""
    cols = [
        inputs["demand_output_tokens_per_s"].transpose("time", "market", "llm").values.reshape(inputs.sizes["time"], -1),
        _grid_cost(inputs).T,
        inputs["pue"].transpose("time", "site").values,
        *(inputs[t.capacity_factor].transpose("time", "site").values for t in TECHNOLOGIES),
    ]
    x = np.concatenate(cols, axis=1)
    lo, hi = x.min(axis=0), x.max(axis=0)
    keep = hi > lo
    return (x[:, keep] - lo[keep]) / (hi[keep] - lo[keep])


def _grid_cost(inputs: xr.Dataset) -> np.ndarray:
    """USD per MWh drawn from the grid, energy plus carbon price, (site, time)."""
    cp = float(inputs.attrs.get("carbon_price_usd_per_t", 0.0))
    return (inputs["energy_price_usd_per_mwh"].transpose("site", "time").values
            + cp * inputs["carbon_kg_per_mwh"].transpose("site", "time").values / 1000.0)


def cluster_steps(inputs: xr.Dataset, n_groups: int, singletons: np.ndarray | None = None,
                  seed: int = 0) -> np.ndarray:
    """Group label of every time step: ``singletons`` (step positions) get a group of their own,
    the other steps are split into about ``n_groups`` groups of similar hours (k-means on
    :func:`features`). Labels are 0..G-1."""
    nt = inputs.sizes["time"]
    alone = np.zeros(nt, bool)
    if singletons is not None:
        alone[np.asarray(singletons, int)] = True
    labels = np.full(nt, -1)
    labels[alone] = np.arange(alone.sum())
    rest = np.flatnonzero(~alone)
    k = min(max(1, n_groups - int(alone.sum())), len(rest))
    if len(rest):
        x = features(inputs)[rest]
        if k >= len(rest):
            sub = np.arange(len(rest))
        else:
            _, sub = kmeans2(x, k, minit="++", seed=seed)
        labels[rest] = alone.sum() + sub
    return np.unique(labels, return_inverse=True)[1]


HOURLY = {"pue", "carbon_kg_per_mwh", "energy_price_usd_per_mwh", *(t.capacity_factor for t in TECHNOLOGIES),
          "export_price_usd_per_mwh", "demand_output_tokens_per_s", "weight_h", "day"}
"""Every hourly input :func:`group_inputs` knows how to group (any other one is an error)."""


def group_inputs(inputs: xr.Dataset, labels: np.ndarray) -> xr.Dataset:
    """The inputs of the relaxation on the groups ``labels`` (see the module docstring)."""
    unknown = {str(k) for k, v in inputs.data_vars.items() if "time" in v.dims} - HOURLY
    if unknown:  # a new hourly input needs its own rule, or the bound may not hold
        raise NotImplementedError(f"time-aggregation relaxation: no rule for hourly inputs {sorted(unknown)}")
    labels = np.asarray(labels)
    n_group = int(labels.max()) + 1
    w = inputs["weight_h"].values
    total = np.bincount(labels, weights=w, minlength=n_group)

    def mean(a: np.ndarray) -> np.ndarray:  # time last
        out = np.zeros(a.shape[:-1] + (n_group,))
        np.add.at(out.T, labels, (a * w).T)
        return out / total

    def extreme(a: np.ndarray, ufunc: np.ufunc, fill: float) -> np.ndarray:
        out = np.full(a.shape[:-1] + (n_group,), fill)
        ufunc.at(out.T, labels, a.T)
        return out

    first = np.unique(labels, return_index=True)[1]
    out = inputs.isel(time=first).copy()
    out = out.assign_coords(time=inputs["time"].values[first])

    def put(name: str, values: np.ndarray, dims: tuple[str, ...]) -> None:
        out[name] = (dims, values, inputs[name].attrs)

    st = ("site", "time")
    pue = inputs["pue"].transpose(*st).values
    pue_min = extreme(pue, np.minimum, np.inf)
    cost = _grid_cost(inputs)
    carbon = inputs["carbon_kg_per_mwh"].transpose(*st).values
    onsite = inputs["has_onsite"].values[:, None]
    # grid-only sites pay for PUE x IT power; on-site sites for their grid import
    cost_g = np.where(onsite, extreme(cost, np.minimum, np.inf), extreme(cost * pue, np.minimum, np.inf) / pue_min)
    carbon_g = np.where(onsite, extreme(carbon, np.minimum, np.inf),
                        extreme(carbon * pue, np.minimum, np.inf) / pue_min)
    cp = float(inputs.attrs.get("carbon_price_usd_per_t", 0.0))
    put("pue", pue_min, st)
    put("carbon_kg_per_mwh", carbon_g, st)
    put("energy_price_usd_per_mwh", cost_g - cp * carbon_g / 1000.0, st)
    for t in TECHNOLOGIES:
        cf = mean(floored_cf(inputs[t.capacity_factor].transpose(*st).values))
        put(t.capacity_factor, np.where((cf > 0) & (cf < CF_FLOOR), CF_FLOOR, cf), st)
    export = inputs["export_price_usd_per_mwh"].transpose(*st).values
    put("export_price_usd_per_mwh", extreme(np.nan_to_num(export, nan=-np.inf), np.maximum, -np.inf), st)
    out["export_price_usd_per_mwh"] = out["export_price_usd_per_mwh"].where(
        np.isfinite(out["export_price_usd_per_mwh"]))
    mlt = ("market", "llm", "time")
    put("demand_output_tokens_per_s", mean(inputs["demand_output_tokens_per_s"].transpose(*mlt).values), mlt)
    put("weight_h", total, ("time",))
    put("day", np.arange(n_group), ("time",))
    out.attrs["storage_cyclic"] = "period"
    return out


def relaxed_sets(sets: IndexSets, n_group: int) -> IndexSets:
    """The full model's sparse sets on ``n_group`` time steps."""
    return dataclasses.replace(sets, n_time=n_group)


def peak_hour(inputs: xr.Dataset) -> int:
    """Position of the time step with the most total demand."""
    return int(inputs["demand_output_tokens_per_s"].sum(["market", "llm"]).values.argmax())


def relaxed_model(inputs: xr.Dataset, sets: IndexSets, labels: np.ndarray,
                  peak_hours: int = PEAK_HOURS) -> tuple[PlanningModel, float]:
    """The relaxation on the groups ``labels`` as a built model, and USD per objective unit of it.
    ``peak_hours`` > 0 adds :func:`add_peak_cover` rows for that many peak hours per series."""
    grouped = group_inputs(inputs, labels)

    def extra(b: LinearBuilder) -> None:
        add_peak_cover(b, inputs, sets, labels, peak_hours)

    return (build_model(grouped, sets=relaxed_sets(sets, int(labels.max()) + 1), extra=extra if peak_hours else None),
            objective_unit_usd(grouped))


def add_peak_cover(b: LinearBuilder, inputs: xr.Dataset, sets: IndexSets, labels: np.ndarray,
                   per_series: int) -> None:
    """Valid rows that keep single hours' capacity needs in a model on groups of hours.

    For the ``per_series`` hours ``t`` of highest demand of each (market m, LLM l) pair, and of each
    LLM's total over markets, ``peak_cover``: the replicas of l at sites with a route to the
    market(s), at their full output, plus the hour's unserved demand ``peak_unserved`` (Mtoken/s)
    cover the hour's demand; ``peak_site_cover``: so do the opened sites reaching them, each
    worth at most min(its replicas' full output, the demand). ``peak_unserved_link``: in each group g, the weighted sum of those
    hours' unserved demand is at most the group's ``unserved`` times its weight. Every plan of the
    full model satisfies both with its own hourly unserved demand, so the relaxation stays one.
    """
    demand = inputs["demand_output_tokens_per_s"].transpose("market", "llm", "time").values / MTOK
    w = inputs["weight_h"].values
    labels = np.asarray(labels)
    n_group = int(labels.max()) + 1
    group_w = np.bincount(labels, weights=w, minlength=n_group)
    n_market, n_llm, nt = demand.shape
    k = min(per_series, nt)
    reach = np.zeros((sets.n_site, n_market, n_llm), bool)
    reach[sets.route_site, sets.route_market, sets.route_llm] = True
    fcap = sets.fleet_gpus_per_replica / sets.fleet_busy_gpus_per_mtok  # Mtoken/s per replica
    unmet_id = np.full((n_market, n_llm), -1)
    unmet_id[sets.unmet_market, sets.unmet_llm] = np.arange(sets.n_unmet)

    # rows: one per (series, hour); a series is one demanded (m, l) pair or one LLM (all markets)
    dm, dl = np.nonzero(sets.demanded)
    if not len(dm):
        return
    llms = np.unique(dl)
    series_d = np.concatenate([demand[dm, dl], demand[:, llms].sum(axis=0)])  # (series, time)
    top = np.argsort(-series_d, axis=1, kind="stable")[:, :k]
    n_pair = len(dm)
    s_id = np.repeat(np.arange(len(series_d)), k)
    hour = top.ravel()
    rhs = series_d[s_id, hour]
    s_llm = np.concatenate([dl, llms])[s_id]
    is_pair = s_id < n_pair
    # fleet members of each row: the LLM's replicas, at sites reaching the market (pair rows)
    member = sets.fleet_llm[None, :] == s_llm[:, None]
    pm_ = dm[np.minimum(s_id, n_pair - 1)]
    member &= np.where(is_pair[:, None], reach[sets.fleet_site[None, :], pm_[:, None], s_llm[:, None]], True)
    rows, f = np.nonzero(member)
    n_rows = len(s_id)
    # unserved (market, LLM) pairs of each series, as unmet ids per market (-1 where none):
    # its own pair, or every market of its LLM
    series_unmet = np.full((len(series_d), n_market), -1)
    series_unmet[np.arange(n_pair), dm] = unmet_id[dm, dl]
    series_unmet[n_pair:] = unmet_id[:, llms].T
    u_rows = np.flatnonzero((series_unmet[s_id] >= 0).any(axis=1))
    u = b.add_var("peak_unserved", len(u_rows), "Mtoken/s", "unserved demand in one peak hour per series")
    b.add_rows(
        "peak_cover", n_rows,
        [(rows, b.variables["replicas"].cols(f), fcap[f]), (u_rows, u.cols(), 1.0)],
        lb=rhs, ub=None, description="replicas reaching a series cover its demand in its peak hours",
    )
    # peak_site_cover: a site adds at most min(its capacity for l, the demand) -- sum_s of it times open_site
    site_cap = np.zeros((sets.n_site, n_llm))
    np.add.at(site_cap, (sets.fleet_site, sets.fleet_llm), fcap * sets.fleet_max_replicas)
    srow, ssite = np.nonzero(np.where(is_pair[:, None], reach[:, pm_, s_llm].T, True) & (site_cap[:, s_llm].T > 0))
    b.add_rows(
        "peak_site_cover", n_rows,
        [(srow, b.variables["open_site"].cols(ssite), np.minimum(site_cap[ssite, s_llm[srow]], rhs[srow])),
         (u_rows, u.cols(), 1.0)],
        lb=rhs, ub=None, description="opened sites reaching a series can cover its demand in its peak hours",
    )
    if not len(u_rows):
        return
    # peak_unserved_link[series, g]: sum_{t in g} w_t peak_unserved - W_g * sum unserved[m, l, g] <= 0
    key = s_id[u_rows] * n_group + labels[hour[u_rows]]
    links, link_row = np.unique(key, return_inverse=True)
    link_series, link_group = links // n_group, links % n_group
    j, mkt = np.nonzero(series_unmet[link_series] >= 0)
    ids = series_unmet[link_series[j], mkt]
    terms = [(link_row, u.cols(), w[hour[u_rows]]),
             (j, b.variables["unserved"].cols(ids * n_group + link_group[j]), -group_w[link_group[j]])]
    b.add_rows("peak_unserved_link", len(links), terms, lb=None, ub=0.0,
               description="peak hours' unserved demand within their group's")


def sites_only(sets: IndexSets, open_site: np.ndarray) -> IndexSets:
    """``sets`` cut down to the sites where ``open_site`` (per site, 0/1) is set."""
    keep = np.asarray(open_site, float) > 0.5
    f = keep[sets.fleet_site]
    r = keep[sets.route_site]
    return dataclasses.replace(
        sets, fleet_site=sets.fleet_site[f], fleet_gpu=sets.fleet_gpu[f], fleet_llm=sets.fleet_llm[f],
        fleet_deployment=sets.fleet_deployment[f], fleet_gpus_per_replica=sets.fleet_gpus_per_replica[f],
        fleet_busy_gpus_per_mtok=sets.fleet_busy_gpus_per_mtok[f], fleet_max_replicas=sets.fleet_max_replicas[f],
        route_site=sets.route_site[r], route_market=sets.route_market[r], route_llm=sets.route_llm[r],
        active_site=sets.active_site[keep[sets.active_site]], onsite_site=sets.onsite_site[keep[sets.onsite_site]])
