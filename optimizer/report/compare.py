"""Compare scenarios (national strategies, variants, what-ifs) side by side: one Dataset with a
``scenario`` dim, a table, a trade matrix.

Each item is a scenario file (``path.yaml`` or ``path.yaml#variant``), a finished run directory
(holding ``results.nc``, ``summary.json`` and ``run.json``) or a :class:`~optimizer.plan.Plan`.
Scenario files are solved into ``OUT/<scenario name>/``; a run whose ``run.json`` records the same
scenario hash (and is optimal, or was solved with the same options) is reused, so an interrupted
comparison started again redoes only what is missing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from optimizer.api import solve
from optimizer.plan import Plan, SolveOptions, result_options, scenario_hash
from optimizer.resources import atomic_write
from optimizer.results import COST_TERMS
from optimizer.scenario import load_scenario

log = logging.getLogger(__name__)

TABLE_COLUMNS = (
    "status", "cost_per_mtok_usd", "cost_per_output_mtok_usd", "tokens_per_kwh", "co2_g_per_mtok",
    "cost_usd_per_year", "site_cost_usd_per_year", "accelerator_cost_usd_per_year", "energy_cost_usd_per_year",
    "unserved_penalty_usd_per_year", "tokens_per_year", "output_tokens_per_year", "unserved_tokens_per_year",
    "energy_mwh_per_year", "co2_t_per_year", "peak_facility_power_mw", "mip_gap",
)
COST_COMPONENTS = tuple(c for c, _, _, _ in COST_TERMS)


@dataclass
class Run:
    """One compared scenario: its summary and results (None when no plan was found)."""

    label: str
    summary: dict
    dataset: xr.Dataset | None


@dataclass
class Comparison:
    """The comparison: Dataset with a ``scenario`` dim, table (one row per scenario), trade matrix."""

    dataset: xr.Dataset
    table: pd.DataFrame
    trade: pd.DataFrame
    runs: list[Run]


def trade_matrix(ds: xr.Dataset) -> xr.DataArray:
    """Tokens per year (input + output) served from sites in country A to markets in country B."""
    weight = ds["weight_h"] if "weight_h" in ds else float(ds.attrs["time_weight_h"])  # per hour; older runs: mean
    per_route = ((ds["delivered_tokens_per_s"] * weight).sum("time") * (1 + ds["input_per_output"])).sum("llm") * 3600
    df = per_route.to_dataframe(name="tokens").reset_index()
    df["from_country"] = ds["site_country"].sel(site=df["site"].values).values
    df["to_country"] = ds["market_country"].sel(market=df["market"].values).values
    m = df.groupby(["from_country", "to_country"])["tokens"].sum()
    out = xr.DataArray.from_series(m).fillna(0.0)
    out = out.assign_coords({d: np.asarray(out[d].values, dtype=str) for d in out.dims})  # plain str for NetCDF
    out.attrs.update(units="token/year", description="tokens (input + output) served from sites in a country "
                                                      "to markets in a country")
    return out


def _solve_item(item: str, out: Path, options: SolveOptions) -> Run:
    path, _, variant = item.partition("#")
    sc = load_scenario(path, variant or None)
    run_dir = out / sc.name
    run_json = run_dir / "run.json"
    digest = scenario_hash(sc)
    if run_json.exists():
        rec = json.loads(run_json.read_text())
        same_options = result_options(rec.get("options")) == result_options(dataclasses.asdict(options))
        if rec.get("scenario_sha256") == digest and (rec.get("status") == "optimal" or same_options):
            log.info("reusing %s (same scenario hash)", run_dir)
            return _read_run(run_dir, sc.name)
    plan = solve(sc, options, raise_on_failure=False)
    plan.write(run_dir)
    return Run(sc.name, plan.summary, plan.dataset)


def _read_run(run_dir: Path, label: str | None = None) -> Run:
    summary = json.loads((run_dir / "summary.json").read_text())
    nc = run_dir / "results.nc"
    ds = xr.load_dataset(nc, engine="h5netcdf") if nc.exists() else None
    return Run(label or summary.get("scenario", run_dir.name), summary, ds)


def _as_run(item: str | Path | Plan, out: Path, options: SolveOptions) -> Run:
    if isinstance(item, Plan):
        return Run(item.scenario.name, item.summary, item.dataset)
    p = Path(str(item).partition("#")[0])
    if p.is_dir():
        return _read_run(p)
    return _solve_item(str(item), out, options)


def _solve_to_folder(item: str, out: str, options: SolveOptions) -> str:
    """On a dask worker: solve (or reuse) a scenario file item into ``out/<name>/``; its label."""
    return _solve_item(item, Path(out), options).label


def compare(items: list[str | Path | Plan], out_dir: str | Path | None = None,
            options: SolveOptions | None = None, workers: int | None = None,
            scheduler: str | None = None) -> Comparison:
    """Solve (or read) each item and put the results side by side; write them to ``out_dir``.

    With ``workers`` (a local dask cluster of that many processes) or ``scheduler`` (an existing
    dask scheduler's address) the scenario files are solved on dask workers by the sweep runner
    (:func:`optimizer.sweeps.runner.run_tasks`), one HiGHS thread each unless ``options`` say
    otherwise; without either, one after another in this process. Outputs and reuse are the same."""
    out = Path(out_dir) if out_dir is not None else Path("results") / "compare"
    out.mkdir(parents=True, exist_ok=True)
    opts = options or SolveOptions()
    if workers or scheduler:
        runs = _compare_on_dask(items, out, opts, workers, scheduler)
    else:
        runs = [_as_run(i, out, opts) for i in items]
    labels = [r.label for r in runs]
    if len(set(labels)) != len(labels):
        dup = sorted({x for x in labels if labels.count(x) > 1})
        raise ValueError(f"two compared items have the same scenario name: {', '.join(dup)}")
    comp = _assemble(runs)
    atomic_write(out / "comparison.nc", lambda p: comp.dataset.to_netcdf(p, engine="h5netcdf"))
    atomic_write(out / "comparison.csv", lambda p: comp.table.to_csv(p))
    atomic_write(out / "trade_matrix.csv", lambda p: comp.trade.to_csv(p, index=False))
    return comp


def _compare_on_dask(items: list[str | Path | Plan], out: Path, opts: SolveOptions, workers: int | None,
                     scheduler: str | None) -> list[Run]:
    from optimizer.sweeps.runner import run_tasks

    todo = [i for i, item in enumerate(items)
            if not isinstance(item, Plan) and not Path(str(item).partition("#")[0]).is_dir()]
    if opts.threads is None:
        opts = dataclasses.replace(opts, threads=1)
    labels = dict(run_tasks(_solve_to_folder, [str(items[i]) for i in todo], workers=workers, scheduler=scheduler,
                            out=str(out.resolve()), options=opts))
    solved = {todo[k]: _read_run(out / label, label) for k, label in labels.items()}
    return [solved[i] if i in solved else _as_run(item, out, opts) for i, item in enumerate(items)]


def _assemble(runs: list[Run]) -> Comparison:
    rows = []
    for r in runs:
        row = {"scenario": r.label, **{k: r.summary.get(k) for k in TABLE_COLUMNS}}
        row["sites_opened"] = " ".join(r.summary.get("sites_opened") or [])
        for g, n in (r.summary.get("gpus") or {}).items():
            row[f"gpus_{g}"] = n
        rows.append(row)
    table = pd.DataFrame(rows).set_index("scenario")
    gpu_cols = sorted(c for c in table.columns if c.startswith("gpus_"))
    table[gpu_cols] = table[gpu_cols].fillna(0).astype(int)
    table = table[[c for c in table.columns if c not in gpu_cols] + gpu_cols]

    labels = [r.label for r in runs]
    ds = xr.Dataset(coords={"scenario": np.asarray(labels, dtype=str)})
    for col in TABLE_COLUMNS[1:]:
        ds[col] = ("scenario", pd.to_numeric(table[col], errors="coerce").astype(float).values)
    ds["status"] = ("scenario", np.asarray(table["status"].astype(str).to_numpy(), dtype=str))
    ds["cost_usd_per_year_by_component"] = (
        ("scenario", "component"),
        np.array([[sign * float(r.summary[key]) if r.summary.get(key) is not None else np.nan
                   for _, key, _, sign in COST_TERMS] for r in runs]))
    ds = ds.assign_coords(component=list(COST_COMPONENTS))
    gpu_ids = [c.removeprefix("gpus_") for c in gpu_cols]
    ds["gpus"] = (("scenario", "gpu"), table[gpu_cols].to_numpy(float).reshape(len(runs), len(gpu_ids)))
    ds = ds.assign_coords(gpu=np.asarray(gpu_ids, dtype=str))

    trades, sites = [], []
    for r in runs:
        if r.dataset is None:
            continue
        t = trade_matrix(r.dataset).expand_dims(scenario=[r.label])
        trades.append(t)
        sites.append(r.dataset[["installed_it_mw", "open"]].reset_coords(["site_country", "site_lat", "site_lon"],
                                                                         drop=True).expand_dims(scenario=[r.label]))
    if trades:
        tm = xr.concat(trades, dim="scenario", join="outer", fill_value=0.0)
        ds["trade_tokens_per_year"] = tm.reindex(scenario=labels, fill_value=0.0)
        per_site = xr.concat(sites, dim="scenario", join="outer")
        ds["installed_it_mw"] = per_site["installed_it_mw"].reindex(scenario=labels).fillna(0.0)
        ds["open"] = per_site["open"].reindex(scenario=labels).fillna(0).astype(bool)
        attrs: dict[str, dict[str, object]] = {}
        for r in runs:
            if r.dataset is not None:
                for c in ("site_country", "site_lat", "site_lon"):
                    attrs.setdefault(c, {}).update(zip(r.dataset["site"].values.tolist(),
                                                       r.dataset[c].values.tolist(), strict=True))
        site_ids = ds["site"].values.tolist()
        ds = ds.assign_coords({c: ("site", np.asarray([attrs[c][x] for x in site_ids],
                                                      dtype=str if c == "site_country" else float)) for c in attrs})
    for v, units in (("cost_per_mtok_usd", "USD/Mtok"), ("tokens_per_kwh", "token/kWh"), ("gpus", "GPU"),
                     ("cost_usd_per_year_by_component", "USD/year"), ("co2_g_per_mtok", "g CO2/Mtok")):
        ds[v].attrs["units"] = units
    trade = (ds["trade_tokens_per_year"].to_dataframe().reset_index() if "trade_tokens_per_year" in ds
             else pd.DataFrame(columns=["scenario", "from_country", "to_country", "trade_tokens_per_year"]))
    trade = trade[trade["trade_tokens_per_year"] > 0].rename(columns={"trade_tokens_per_year": "tokens_per_year"})
    return Comparison(ds, table, trade.reset_index(drop=True), runs)
