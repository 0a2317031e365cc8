"""tokenomics planner: site AI data centers, size accelerator fleets, route LLM workloads.

>>> from optimizer import load_scenario, solve
>>> plan = solve(load_scenario())          # the bundled default scenario
>>> plan.summary["cost_per_mtok_usd"], plan.dataset
"""

from optimizer.errors import InfeasibleError, NoSolutionError, ScenarioError, TokenomicsError
from optimizer.inputs import build_inputs
from optimizer.scenario import Scenario, load_scenario
from optimizer.solve import Plan, SolveOptions, solve

__all__ = [
    "InfeasibleError",
    "NoSolutionError",
    "Plan",
    "Scenario",
    "ScenarioError",
    "SolveOptions",
    "TokenomicsError",
    "build_inputs",
    "load_scenario",
    "solve",
]
__version__ = "0.1.0"
