"""tokenomics planner: site AI data centers, size accelerator fleets, route LLM workloads.

>>> from optimizer import load_scenario, solve
>>> plan = solve(load_scenario())          # the bundled default scenario
>>> plan.summary["cost_per_mtok_usd"], plan.dataset

Also here: :func:`verify` (a representative-day plan dispatched on every day), :func:`compare`
(plans side by side), :func:`diagnose` (why a scenario has no plan), :func:`scenario_from_dict`
(a scenario from a mapping instead of a file), :class:`Summary` (the keys and types of
``plan.summary``). The layers below are described in docs/architecture.md.
"""

from optimizer.api import solve
from optimizer.diagnose import diagnose
from optimizer.errors import InfeasibleError, NoSolutionError, ScenarioError, TokenomicsError
from optimizer.inputs import build_inputs
from optimizer.plan import Plan, SolveOptions, Summary
from optimizer.report import compare
from optimizer.scenario import Scenario, load_scenario, scenario_from_dict
from optimizer.sweeps.runner import sweep
from optimizer.verify import verify

__all__ = [
    "InfeasibleError",
    "NoSolutionError",
    "Plan",
    "Scenario",
    "ScenarioError",
    "SolveOptions",
    "Summary",
    "TokenomicsError",
    "build_inputs",
    "compare",
    "diagnose",
    "load_scenario",
    "scenario_from_dict",
    "solve",
    "sweep",
    "verify",
]
__version__ = "0.1.0"
"""The package's version, in this one place (pyproject.toml reads it: ``dynamic = ["version"]``)."""
