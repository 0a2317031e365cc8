"""What a solve takes and gives: :class:`SolveOptions`, :class:`Plan` (with its files), the
:class:`Summary` keys, and a plan's investments laid out as a model's variable families.

Below every solver module: :mod:`optimizer.solve` fills a plan, :mod:`optimizer.verify` and
:mod:`optimizer.report` read one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import xarray as xr
import yaml

from optimizer.errors import NoSolutionError
from optimizer.model import PlanningModel
from optimizer.model.sets import IndexSets
from optimizer.resources import atomic_write
from optimizer.results import investment_values
from optimizer.scenario import Scenario


@dataclass
class SolveOptions:
    """Solver settings: seconds (the whole run, build included), relative MIP gap, threads,
    console log, solver method (``mip``: plain branch-and-bound; ``fast``: bound on groups of hours,
    plans priced on every hour, :mod:`optimizer.fast`; ``auto``: fast above
    ``solve.FAST_ABOVE_NONZEROS`` nonzeros); the memory a model may need (GB, default: the
    memory available) and whether a model too big for it is reduced to representative days
    instead of refused. ``strategy=`` is the method's former name, still accepted."""

    time_limit_s: float | None = None
    mip_gap: float = 1e-4
    threads: int | None = None
    log_to_console: bool = False
    method: str = "auto"  # mip | fast | auto (fast above solve.FAST_ABOVE_NONZEROS)
    memory_limit_gb: float | None = None
    auto_reduce: bool = False
    strategy: InitVar[str | None] = None

    def __post_init__(self, strategy: str | None) -> None:
        if strategy is not None:
            if self.method not in ("auto", strategy):
                raise ValueError(f"SolveOptions: method={self.method!r} and strategy={strategy!r} disagree "
                                 "(strategy is the former name of method)")
            self.method = strategy

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


class Summary(TypedDict, total=False):
    """The keys of ``plan.summary`` (a plain dict, written as ``summary.json``) and their types;
    README, "Summary keys", says what each means. Keys appear only where they apply: the cost
    figures when a plan exists, ``explanation`` when there is none, ``fast_rounds`` after the
    fast method's bounding rounds, ``verification`` after ``--verify``."""

    scenario: str
    status: str  # optimal | time_limit_feasible | infeasible | unbounded | no_solution
    highs_status: str
    num_time_steps: int
    num_variables: int
    num_integer_variables: int
    num_constraints: int
    num_nonzeros: int
    build_seconds: float
    solve_seconds: float
    estimated_peak_memory_gb: float
    auto_reduce: dict[str, Any]
    mip_gap: float | None
    strategy: str  # the solver method used: mip | fast (the key keeps the method's former name)
    lower_bound_usd_per_year: float | None
    fast_rounds: list[dict[str, Any]]
    explanation: list[str]
    objective_usd_per_year: float | None
    cost_usd_per_year: float
    site_cost_usd_per_year: float
    accelerator_cost_usd_per_year: float
    energy_cost_usd_per_year: float
    onsite_supply_cost_usd_per_year: float
    carbon_cost_usd_per_year: float
    export_revenue_usd_per_year: float
    unserved_penalty_usd_per_year: float
    cost_per_mtok_usd: float
    cost_per_output_mtok_usd: float
    tokens_per_year: float
    output_tokens_per_year: float
    unserved_tokens_per_year: float
    energy_mwh_per_year: float
    grid_energy_mwh_per_year: float
    tokens_per_kwh: float
    co2_t_per_year: float
    co2_g_per_mtok: float
    gpus: dict[str, int]
    sites_opened: list[str]
    peak_facility_power_mw: float
    carbon_shadow_price_usd_per_t: float | None
    carbon_shadow_price_usd_per_t_by_country: dict[str, float]
    verification: dict[str, Any]


@dataclass
class Plan:
    """A solved (or attempted) plan: status, summary dict, results Dataset, and the Pyomo model."""

    scenario: Scenario
    summary: Summary
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

        from optimizer import __version__  # the package's one version (pyproject reads it too)

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


def result_options(opts: dict | None) -> dict | None:
    """The solve options (as a dict, e.g. a ``run.json``'s) that can change a result: not the console
    log or the memory limit. Reading a run written before the solver method was named ``method``."""
    if opts is None:
        return None
    out = {k: v for k, v in opts.items() if k not in ("log_to_console", "memory_limit_gb")}
    if "strategy" in out:
        out["method"] = out.pop("strategy")
    return out


def scenario_hash(sc: Scenario) -> str:
    """SHA-256 of the validated scenario (its canonical YAML) without its ``uncertainty:`` block, which
    only sweeps read: equal inputs, equal hash."""
    text = yaml.safe_dump(sc.model_dump(mode="json", exclude={"source_file", "uncertainty"}), sort_keys=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


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


def investments(plan: Plan, inputs: xr.Dataset, sets: IndexSets) -> dict[str, np.ndarray]:
    """The plan's investment decisions laid out as the variable families of the model of
    ``inputs`` (whose sparse sets are ``sets``): every family without an hourly index, read from
    its results variable (:func:`optimizer.results.investment_values`, the model's registry)."""
    ds = plan.dataset
    if ds is None:
        raise ValueError("the plan has no solution to verify")
    return investment_values(ds, inputs, sets)
