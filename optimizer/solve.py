"""The Python API: ``plan = solve(load_scenario(path))``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import xarray as xr

from optimizer import budget, highs, relax
from optimizer.diagnose import explain_infeasible, unservable_demand
from optimizer.errors import InfeasibleError, NoSolutionError, ScenarioError, TokenomicsError
from optimizer.inputs import build_inputs
from optimizer.model import PlanningModel, build_model
from optimizer.model.objective import objective_unit_usd
from optimizer.model.sets import build_sets
from optimizer.model.size import estimate
from optimizer.results import build_results, summarize
from optimizer.scenario import Scenario
from optimizer.strategy import pack_integers, run_aggregation

log = logging.getLogger(__name__)

FAST_ABOVE_NONZEROS = 300_000
"""``strategy='auto'`` uses the fast strategy for models with more nonzeros than this."""
COEF_RANGE = (1e-3, 1e7)
"""Constraint coefficients outside this range get a warning naming the family."""


@dataclass
class SolveOptions:
    """Solver settings: seconds (the whole run, build included), relative MIP gap, threads,
    console log, strategy; the memory a model may need (GB, default: the memory available) and
    whether a model too big for it is reduced to representative days instead of refused."""

    time_limit_s: float | None = None
    mip_gap: float = 1e-4
    threads: int | None = None
    log_to_console: bool = False
    strategy: str = "auto"  # mip | fast | auto (fast above FAST_ABOVE_NONZEROS)
    memory_limit_gb: float | None = None
    auto_reduce: bool = False

    def highs_options(self) -> dict[str, object]:
        opts: dict[str, object] = {"mip_rel_gap": float(self.mip_gap)}
        if self.time_limit_s is not None:
            opts["time_limit"] = float(self.time_limit_s)
        if self.threads is not None:
            opts["threads"] = int(self.threads)
        if self.log_to_console:
            opts["output_flag"] = True
            opts["log_to_console"] = True
        return opts


@dataclass
class Plan:
    """A solved (or attempted) plan: status, summary dict, results Dataset, and the Pyomo model."""

    scenario: Scenario
    summary: dict[str, Any]
    dataset: xr.Dataset | None
    model: PlanningModel | None = field(repr=False)  # None when the time limit ran out during the build
    options: SolveOptions | None = None

    @property
    def status(self) -> str:
        return str(self.summary["status"])

    def to_netcdf(self, path: str | Path) -> None:
        """Write the results Dataset atomically (temp file in the same folder, then rename)."""
        if self.dataset is None:
            raise NoSolutionError(f"no plan to write ({self.status})")
        atomic_write(Path(path), lambda p: self.dataset.to_netcdf(p, engine="h5netcdf"))

    def write(self, out_dir: str | Path) -> None:
        """``results.nc`` (when a plan exists), ``summary.json`` and ``run.json`` into ``out_dir``,
        each atomically; ``run.json`` is written last, so its presence marks a finished run."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(".*.tmp"):  # left by a run killed while writing
            stale.unlink(missing_ok=True)
        (out / "run.json").unlink(missing_ok=True)  # this folder is not a finished run until rewritten
        if self.dataset is not None:
            self.to_netcdf(out / "results.nc")
        text = json.dumps(_jsonable(self.summary), indent=2)
        atomic_write(out / "summary.json", lambda p: p.write_text(text + "\n", encoding="utf-8"))
        run = json.dumps(_jsonable(self.run_record()), indent=2)
        atomic_write(out / "run.json", lambda p: p.write_text(run + "\n", encoding="utf-8"))

    def run_record(self) -> dict[str, Any]:
        """What traces this result to its inputs: scenario hash, versions, options, timings, status."""
        import platform

        import highspy
        import pyomo

        from optimizer import __version__

        return {
            "scenario": self.scenario.name,
            "scenario_sha256": scenario_hash(self.scenario),
            "source_file": self.scenario.source_file,
            "status": self.status,
            "options": dataclasses.asdict(self.options) if self.options else None,
            "build_seconds": self.summary.get("build_seconds"),
            "solve_seconds": self.summary.get("solve_seconds"),
            "versions": {"optimizer": __version__, "pyomo": pyomo.__version__,
                         "highspy": _dist_version("highspy"), "highs": highspy.Highs().version(),
                         "python": platform.python_version()},
        }


def scenario_hash(sc: Scenario) -> str:
    """SHA-256 of the validated scenario (its canonical YAML): equal inputs, equal hash."""
    return hashlib.sha256(sc.to_yaml().encode("utf-8")).hexdigest()


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def atomic_write(path: Path, writer: Any) -> None:
    """Call ``writer(tmp_path)`` then rename onto ``path``, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float | np.floating):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


FAMILY_FIELDS = {
    "demand_balance": "markets.*.demand_output_tokens_per_s",
    "production_balance": "llms.*.input_per_output",
    "replica_capacity": "llms.*.throughput, gpus.*.gpus_per_node",
    "facility_power_balance": "sites.*.pue, gpus.*.power_kw_per_gpu, idle_power_kw_per_gpu",
    "grid_limit": "sites.*.grid_limit_mw",
    "site_open_link": "sites.*.grid_limit_mw, markets.*.demand_output_tokens_per_s",
    "supply_cap": "supply_caps.*.max_gpus",
}
MAX_MAGNITUDE = 1e12
"""Coefficients, right-hand sides, costs and finite bounds beyond this are treated as input errors."""


def _check_magnitudes(sf: highs.StandardForm, ranges: dict[str, tuple[float, float]], file: str) -> None:
    """Refuse numbers the solver cannot work with, naming the constraint family and its inputs."""
    problems = []
    for name, (_, hi) in ranges.items():
        if hi > MAX_MAGNITUDE:
            problems.append(f"{file}: values too large for the solver: {name} has coefficients up to {hi:.3g} "
                            f"(check {FAMILY_FIELDS.get(name, 'the scenario values')})")
    for name, start, count in sf.row_names:
        rhs = np.concatenate([sf.row_lower[start:start + count], sf.row_upper[start:start + count]])
        big = np.abs(rhs[np.isfinite(rhs)]).max(initial=0.0)
        if big > MAX_MAGNITUDE:
            problems.append(f"{file}: values too large for the solver: {name} has a right-hand side of {big:.3g} "
                            f"(check {FAMILY_FIELDS.get(name, 'the scenario values')})")
    cost = np.abs(sf.c).max(initial=0.0)
    if cost > MAX_MAGNITUDE or not np.isfinite(cost):
        problems.append(f"{file}: values too large for the solver: a cost coefficient of {cost:.3g} objective units "
                        "(check build_cost_usd, capex_usd_per_gpu, energy_price_usd_per_mwh, lifetime_years)")
    ub = sf.col_upper[np.isfinite(sf.col_upper)]
    if ub.size and np.abs(ub).max() > MAX_MAGNITUDE:
        problems.append(f"{file}: values too large for the solver: a variable bound of {np.abs(ub).max():.3g} "
                        "(check grid_limit_mw and demand)")
    if problems:
        raise ScenarioError(problems)


def _check_scaling(ranges: dict[str, tuple[float, float]]) -> None:
    for name, (lo, hi) in ranges.items():
        log.debug("coefficients of %s: [%.3g, %.3g]", name, lo, hi)
        if lo < COEF_RANGE[0] or hi > COEF_RANGE[1]:
            log.warning(
                "constraint family %s has coefficients in [%.3g, %.3g], outside %.0e..%.0e: "
                "rescale the scenario's units", name, lo, hi, *COEF_RANGE,
            )


def solve(scenario: Scenario, options: SolveOptions | None = None, *, raise_on_failure: bool = True) -> Plan:
    """Build the MILP for ``scenario``, solve it with HiGHS, and return the :class:`Plan`.

    Raises :class:`InfeasibleError` (no plan meets demand) or :class:`NoSolutionError` (the solver
    stopped without a plan) unless ``raise_on_failure`` is False, in which case the plan's
    ``summary['status']`` says what happened and ``dataset`` is None. Raises :class:`ScenarioError`,
    before building anything, when the model's estimated peak memory exceeds
    ``options.memory_limit_gb`` (default: the memory available) and ``options.auto_reduce`` is off.
    """
    return solve_model(scenario, options, raise_on_failure=raise_on_failure)


def solve_model(scenario: Scenario, options: SolveOptions | None = None, *, raise_on_failure: bool = True,
                fix: dict[str, np.ndarray] | None = None) -> Plan:
    """:func:`solve`, with variable families optionally fixed (``fix``: name -> values, NaN = free).

    The model's size is estimated from its sparse sets first; a model whose estimated peak memory
    exceeds ``options.memory_limit_gb`` (default: the memory available) is refused with a
    :class:`ScenarioError`, or with ``options.auto_reduce`` planned on representative days. The
    time limit counts from here: HiGHS gets what the build left, and a build that uses it all
    ends with status ``no_solution``."""
    opts = options or SolveOptions()
    clock = budget.BuildClock(opts.time_limit_s)
    try:
        with clock.heartbeat():
            built = _build(scenario, opts, fix, clock)
    except budget.BuildTimeLimit as exc:
        return _out_of_time(scenario, opts, exc, clock, raise_on_failure)
    scenario, inputs, pm, sf, h, size, reduced = built
    build_s = clock.elapsed()
    problems = unservable_demand(pm, scenario)
    unit = objective_unit_usd(inputs)
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "num_time_steps": int(inputs.sizes["time"]),
        "num_variables": len(sf.c),
        "num_integer_variables": int(sf.integer.sum()),
        "num_constraints": len(sf.row_lower),
        "num_nonzeros": sf.num_nonzeros,
        "build_seconds": build_s,
        "estimated_peak_memory_gb": size.peak_memory_gb,
    }
    if reduced:
        summary["auto_reduce"] = reduced
    run_opts = dataclasses.replace(opts, time_limit_s=clock.left())  # what the build left
    if run_opts.time_limit_s is not None:
        h.setOptionValue("time_limit", max(0.0, run_opts.time_limit_s))
    log.info("built %s: %d variables (%d integer), %d constraints, %d nonzeros in %.2f s",
             scenario.name, summary["num_variables"], summary["num_integer_variables"],
             summary["num_constraints"], summary["num_nonzeros"], build_s)
    if problems:
        summary.update(status="infeasible", solve_seconds=0.0, mip_gap=None, objective_usd_per_year=None,
                       explanation=problems)
        plan = Plan(scenario, summary, None, pm, opts)
        if raise_on_failure:
            raise InfeasibleError(problems)
        return plan
    strategy = opts.strategy if opts.strategy != "auto" else (
        "fast" if sf.num_nonzeros > FAST_ABOVE_NONZEROS else "mip")
    if strategy == "fast" and sf.integer.any():
        reason = relax.unsupported(inputs, pm.sets) if len(sf.columns) == pm.builder.n_cols else "added variables"
        if reason is None:
            out, rounds = run_aggregation(pm, sf, h, opts.mip_gap, run_opts.time_limit_s, run_opts.highs_options())
            summary["fast_rounds"] = [dataclasses.asdict(r) for r in rounds]
        else:
            log.info("fast: no time-aggregation bound (%s); bound from the LP relaxation", reason)
            start = None if fix else _typical_day_start(scenario, pm, sf, run_opts)
            out = highs.run_fast(h, sf, clock.left(), start)
    else:
        strategy = "mip"
        out = highs.run(h, bool(sf.integer.any()))
    summary.update(status=out.status, highs_status=out.highs_status, solve_seconds=out.solve_seconds,
                   mip_gap=out.mip_gap, strategy=strategy,
                   lower_bound_usd_per_year=out.lower_bound * unit if np.isfinite(out.lower_bound) else None)
    if out.x is None or out.status in ("infeasible", "unbounded"):
        summary.update(objective_usd_per_year=None)
        if out.status == "infeasible":
            summary["explanation"] = explain_infeasible(scenario, pm)
        plan = Plan(scenario, summary, None, pm, opts)
        if raise_on_failure:
            if out.status == "infeasible":
                raise InfeasibleError(summary["explanation"])
            raise NoSolutionError(f"{scenario.name}: no plan found ({out.highs_status})")
        return plan
    _load_values(pm.pyomo, sf, out.x)
    ds = build_results(pm, out.x if len(sf.columns) == pm.builder.n_cols else _by_family(pm, sf, out.x))
    ds.attrs.update(scenario=scenario.name, scenario_yaml=scenario.to_yaml(), status=out.status)
    summary.update(summarize(ds, inputs, out.objective))
    summary["objective_usd_per_year"] = out.objective * unit
    summary.update(_carbon_shadow_prices(h, sf, out.x, inputs))
    return Plan(scenario, summary, ds, pm, opts)


def _build(scenario: Scenario, opts: SolveOptions, fix: dict[str, np.ndarray] | None, clock: budget.BuildClock,
           ) -> tuple[Scenario, xr.Dataset, PlanningModel, highs.StandardForm, Any, Any, dict | None]:
    """Inputs, size estimate (refused or reduced when too big), model, standard form, HiGHS."""
    inputs = build_inputs(scenario)
    clock.current = "index sets"  # the estimate is made before any stop, so a stopped run still reports it
    sets = build_sets(inputs)
    size = estimate(inputs, sets)
    log.info("estimate: %s", size.describe())
    clock.size = size
    limit = budget.memory_limit_bytes(opts.memory_limit_gb)
    reduced = None
    if limit is not None and size.peak_memory_bytes > limit:
        if not opts.auto_reduce or fix:  # fixed values belong to the full horizon's sets
            raise ScenarioError(budget.too_big_message(scenario, size, limit, int(inputs.sizes["time"])))
        scenario, inputs, sets, size, reduced = budget.reduce_to_fit(scenario, size, limit)
        clock.size = size
    clock.stage("size estimate", "building the model", major=True)
    pm = build_model(inputs, fix, sets=sets, on_stage=clock.stage)
    clock.stage("Pyomo model", "compiling the standard form", major=True)
    sf = highs.compile_model(pm.pyomo)
    ranges = highs.coefficient_ranges(sf)
    _check_magnitudes(sf, ranges, Path(scenario.source_file).name if scenario.source_file else scenario.name)
    _check_scaling(ranges)
    clock.stage("standard form", "handing the model to HiGHS", major=True)
    h = highs.to_highs(sf, opts.highs_options())
    clock.stage("hand-off to HiGHS", "solving", major=True)
    return scenario, inputs, pm, sf, h, size, reduced


def _out_of_time(scenario: Scenario, opts: SolveOptions, exc: budget.BuildTimeLimit, clock: budget.BuildClock,
                 raise_on_failure: bool) -> Plan:
    """The plan of a run whose time limit ran out during the build: status ``no_solution``, the
    model's sizes as estimated (0 when the limit ran out before the estimate)."""
    log.warning("%s", exc)
    size = clock.size
    summary: dict[str, Any] = {
        "scenario": scenario.name, "status": "no_solution", "highs_status": "not run: time limit during the build",
        "num_time_steps": scenario.time.steps, "num_variables": size.variables if size else 0,
        "num_integer_variables": size.integer_variables if size else 0,
        "num_constraints": size.rows if size else 0, "num_nonzeros": size.nonzeros if size else 0,
        "build_seconds": exc.seconds, "solve_seconds": 0.0, "mip_gap": None, "objective_usd_per_year": None,
        "explanation": [str(exc)],
    }
    if size is not None:
        summary["estimated_peak_memory_gb"] = size.peak_memory_gb
    if raise_on_failure:
        raise NoSolutionError(f"{scenario.name}: no plan found ({exc})")
    return Plan(scenario, summary, None, None, opts)


def _typical_day_start(scenario: Scenario, pm: PlanningModel, sf: highs.StandardForm,
                       opts: SolveOptions) -> np.ndarray | None:
    """Integer values (sites opened, replicas) of a plan made on a few typical days (tsam), for the
    fast strategy's first incumbent. None when the horizon is short or the small plan fails."""
    days = scenario.time.steps // 24
    if scenario.time.steps % 24 or days < 4 or scenario.time.representative_days is not None:
        return None
    from optimizer.catalogs.days import representative_days
    from optimizer.verify import investments

    try:
        small, _ = representative_days(scenario, max(1, days // 4))
        seconds = 60.0 if opts.time_limit_s is None else max(5.0, opts.time_limit_s / 5)
        plan = solve_model(small, SolveOptions(time_limit_s=seconds, mip_gap=1e-2, threads=opts.threads, strategy="mip"),
                           raise_on_failure=False)
    except TokenomicsError as exc:
        log.info("fast: no typical-day start (%s)", exc)
        return None
    if plan.dataset is None:
        return None
    return pack_integers(pm, sf, investments(plan, pm.inputs, pm.sets))


def _carbon_shadow_prices(h: Any, sf: highs.StandardForm, x: np.ndarray, inputs: xr.Dataset) -> dict[str, Any]:
    """USD per tonne of the carbon caps (duals of the LP with integers fixed at the plan)."""
    cap_rows = {name: (start, count) for name, start, count in sf.row_names
                if name in ("carbon_cap", "carbon_cap_country")}
    if not cap_rows:
        return {}
    unit = objective_unit_usd(inputs)
    duals = highs.duals_with_integers_fixed(h, sf, x)
    if duals is None:
        return {"carbon_shadow_price_usd_per_t": None}
    out: dict[str, Any] = {}
    if "carbon_cap" in cap_rows:
        start, _ = cap_rows["carbon_cap"]
        out["carbon_shadow_price_usd_per_t"] = max(0.0, -float(duals[start]) * unit)
    if "carbon_cap_country" in cap_rows:
        start, count = cap_rows["carbon_cap_country"]
        out["carbon_shadow_price_usd_per_t_by_country"] = {
            str(c): max(0.0, -float(d) * unit)
            for c, d in zip(inputs["cap_country_carbon"].values, duals[start:start + count], strict=True)}
    return out


def _load_values(m: pyo.ConcreteModel, sf: highs.StandardForm, x: np.ndarray) -> None:
    """Put the solution into the Pyomo variables, so ``plan.model.pyomo`` can be inspected."""
    for v, val in zip(sf.columns, x.tolist(), strict=True):
        v.set_value(val, skip_validation=True)


def _by_family(pm: PlanningModel, sf: highs.StandardForm, x: np.ndarray) -> np.ndarray:
    """Solution ordered as the builder's columns (when a user added variables to the model)."""
    pos = {id(v): j for j, v in enumerate(sf.columns)}
    return np.array([x[pos[id(v)]] for v in pm.pyomo._columns])
