"""The top of the solver stack: :func:`solve`, the solve a user calls, which explains an infeasible
scenario in the user's terms (:func:`optimizer.diagnose.explain_infeasible`).

:func:`optimizer.solve.solve_model` does the work and sits below :mod:`optimizer.diagnose` (whose
re-solves go through it); this function joins the two, so no module imports one above it.
"""

from __future__ import annotations

from optimizer.diagnose import explain_infeasible
from optimizer.plan import Plan, SolveOptions
from optimizer.scenario import Scenario
from optimizer.solve import solve_model


def solve(scenario: Scenario, options: SolveOptions | None = None, *, raise_on_failure: bool = True) -> Plan:
    """Build the MILP for ``scenario``, solve it with HiGHS, and return the :class:`Plan`.

    Raises :class:`InfeasibleError` (no plan meets demand; its messages say which demand and which
    limit) or :class:`NoSolutionError` (the solver stopped without a plan) unless
    ``raise_on_failure`` is False, in which case the plan's ``summary['status']`` says what
    happened, ``summary['explanation']`` why, and ``dataset`` is None. Raises
    :class:`ScenarioError`, before building anything, when the model's estimated peak memory
    exceeds ``options.memory_limit_gb`` (default: the memory available) and
    ``options.auto_reduce`` is off.
    """
    return solve_model(scenario, options, raise_on_failure=raise_on_failure, explain=explain_infeasible)
