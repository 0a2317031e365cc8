"""The fast strategy for large plans: its plan is optimal within its reported gap, and its lower
bound never exceeds the true optimum."""

from __future__ import annotations

import pytest

from optimizer import SolveOptions, solve


@pytest.mark.parametrize("size, seed", [((6, 5, 2, 24), 0), pytest.param((8, 6, 3, 24), 1, marks=pytest.mark.slow),
                                        pytest.param((10, 8, 2, 48), 2, marks=pytest.mark.slow)])
def test_fast_plan_within_its_gap_and_bound_below_the_optimum(size, seed, synthetic_scenario):
    sc = synthetic_scenario(*size, seed=seed)
    exact = solve(sc, SolveOptions(strategy="mip", mip_gap=1e-9))
    fast = solve(sc, SolveOptions(strategy="fast", mip_gap=1e-3))
    opt = exact.summary["objective_usd_per_year"]
    assert exact.status == "optimal" and fast.summary["strategy"] == "fast"
    assert fast.summary["lower_bound_usd_per_year"] <= opt * (1 + 1e-9)
    assert fast.summary["objective_usd_per_year"] >= opt * (1 - 1e-9)
    gap = fast.summary["mip_gap"]
    assert fast.summary["objective_usd_per_year"] <= opt * (1 + gap + 1e-9)
    assert gap <= 1e-3 + 1e-9


def test_auto_picks_fast_only_for_large_models(synthetic_scenario):
    small = solve(synthetic_scenario(5, 4, 2, 24))
    assert small.summary["strategy"] == "mip"


def test_solves_in_one_process_may_ask_for_different_thread_counts(synthetic_scenario):
    """HiGHS's thread scheduler is set up by its first run; without a reset, a later solve asking
    for another count got no solution."""
    sc = synthetic_scenario(5, 4, 2, 24, seed=1)
    objectives = []
    for threads in (None, 2, 1, 2, None):
        plan = solve(sc, SolveOptions(strategy="mip", threads=threads, mip_gap=1e-9), raise_on_failure=False)
        assert plan.status == "optimal", threads
        objectives.append(plan.summary["objective_usd_per_year"])
    assert objectives == pytest.approx([objectives[0]] * len(objectives), rel=1e-9)
