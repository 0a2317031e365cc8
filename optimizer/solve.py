"""Solving a scenario: build the model, check it, hand it to HiGHS, run the solver method (plain
branch-and-bound or :mod:`optimizer.fast`), and turn the solution into a :class:`~optimizer.plan.Plan`.

This is the core below :mod:`optimizer.diagnose` and :mod:`optimizer.verify`, which solve through it;
it explains an infeasible model only through the ``explain`` it is given. The public
:func:`optimizer.solve` (:mod:`optimizer.api`) passes :func:`optimizer.diagnose.explain_infeasible`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyomo.environ as pyo
import xarray as xr

from optimizer import budget, checks, highs
from optimizer.errors import InfeasibleError, NoSolutionError, ScenarioError, TokenomicsError
from optimizer.fast import pack_integers, solve_fast, unsupported
from optimizer.inputs import build_inputs
from optimizer.model import PlanningModel, build_model
from optimizer.model.objective import objective_unit_usd
from optimizer.model.sets import build_sets
from optimizer.model.size import estimate
from optimizer.plan import Plan, SolveOptions, Summary, investments
from optimizer.results import build_results, summarize
from optimizer.scenario import Scenario
from optimizer.unservable import unservable_demand

log = logging.getLogger(__name__)

FAST_ABOVE_NONZEROS = 300_000
"""``method='auto'`` uses the fast method for models with more nonzeros than this."""
NOT_EXPLAINED = ("HiGHS proved that no plan meets every limit (tokenomics diagnose, or "
                 "optimizer.diagnose.explain_infeasible, says which)")
"""The explanation of an infeasible model solved without an ``explain``."""

Explain = Callable[[Scenario, PlanningModel], list[str]]
"""Explains an infeasible model in the user's terms (:func:`optimizer.diagnose.explain_infeasible`)."""


def solve_model(scenario: Scenario, options: SolveOptions | None = None, *, raise_on_failure: bool = True,
                fix: dict[str, np.ndarray] | None = None, explain: Explain | None = None) -> Plan:
    """Build the MILP for ``scenario``, solve it with HiGHS, and return the :class:`Plan`, with
    variable families optionally fixed (``fix``: name -> values, NaN = free).

    The model's size is estimated from its sparse sets first; a model whose estimated peak memory
    exceeds ``options.memory_limit_gb`` (default: the memory available) is refused with a
    :class:`ScenarioError`, or with ``options.auto_reduce`` planned on representative days. The
    time limit counts from here: HiGHS gets what the build left, and a build that uses it all
    ends with status ``no_solution``. Demand with no route at all is reported before solving
    (:func:`optimizer.unservable.unservable_demand`); a model HiGHS proves infeasible is explained
    by ``explain`` (else :data:`NOT_EXPLAINED`). Raises :class:`InfeasibleError` or
    :class:`NoSolutionError` unless ``raise_on_failure`` is False."""
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
        plan = Plan(scenario, cast(Summary, summary), None, pm, opts)
        if raise_on_failure:
            raise InfeasibleError(problems)
        return plan
    method = opts.method if opts.method != "auto" else (
        "fast" if sf.num_nonzeros > FAST_ABOVE_NONZEROS else "mip")
    if method == "fast" and sf.integer.any():
        reason = unsupported(inputs, pm.sets) if len(sf.columns) == pm.builder.n_cols else "added variables"
        if reason is None:
            out, rounds = solve_fast(pm, sf, h, opts.mip_gap, run_opts.time_limit_s, run_opts.highs_options())
            summary["fast_rounds"] = [dataclasses.asdict(r) for r in rounds]
        else:
            log.info("fast: no time-aggregation bound (%s); bound from the LP relaxation", reason)
            start = None if fix else _typical_day_start(scenario, pm, sf, run_opts)
            out = highs.run_fast(h, sf, clock.left(), start)
    else:
        method = "mip"
        out = highs.run(h, bool(sf.integer.any()))
    # the summary key keeps the method's former name, "strategy" (summary.json is a contract)
    summary.update(status=out.status, highs_status=out.highs_status, solve_seconds=out.solve_seconds,
                   mip_gap=out.mip_gap, strategy=method,
                   lower_bound_usd_per_year=out.lower_bound * unit if np.isfinite(out.lower_bound) else None)
    if out.x is None or out.status in ("infeasible", "unbounded"):
        summary.update(objective_usd_per_year=None)
        if out.status == "infeasible":
            summary["explanation"] = explain(scenario, pm) if explain is not None else [NOT_EXPLAINED]
        plan = Plan(scenario, cast(Summary, summary), None, pm, opts)
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
    return Plan(scenario, cast(Summary, summary), ds, pm, opts)


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
    checks.check_magnitudes(sf, ranges, Path(scenario.source_file).name if scenario.source_file else scenario.name,
                            pm.builder.row_fields())
    for name, (lo, hi) in ranges.items():
        log.debug("coefficients of %s: [%.3g, %.3g]", name, lo, hi)
    for warning in checks.scaling_warnings(ranges):
        log.warning("%s", warning)
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
    return Plan(scenario, cast(Summary, summary), None, None, opts)


def _typical_day_start(scenario: Scenario, pm: PlanningModel, sf: highs.StandardForm,
                       opts: SolveOptions) -> np.ndarray | None:
    """Integer values (sites opened, replicas) of a plan made on a few typical days (tsam), for the
    fast method's first incumbent. None when the horizon is short or the small plan fails."""
    days = scenario.time.steps // 24
    if scenario.time.steps % 24 or days < 4 or scenario.time.representative_days is not None:
        return None
    from optimizer.catalogs.days import representative_days

    try:
        small, _ = representative_days(scenario, max(1, days // 4))
        seconds = 60.0 if opts.time_limit_s is None else max(5.0, opts.time_limit_s / 5)
        plan = solve_model(small, SolveOptions(time_limit_s=seconds, mip_gap=1e-2, threads=opts.threads, method="mip"),
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
