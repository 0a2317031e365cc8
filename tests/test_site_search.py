"""The site search: scores bound each choice's full optimum from below, searches end where no single
move improves, and the pricer turns relaxed-MILP incumbents into searched, priced plans."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from optimizer import SolveOptions, highs, solve
from optimizer.fast.pricer import Pricer as _Pricer
from optimizer.fast.pricer import unpack_integers
from optimizer.fast.progress import Progress
from optimizer.fast.relax import cluster_steps, relaxed_model
from optimizer.fast.site_search import SiteScorer, key_sites, local_search, neighbours, site_key
from optimizer.inputs import build_inputs
from optimizer.model import build_model
from optimizer.model.objective import objective_unit_usd
from optimizer.model.sets import build_sets


def _scorer(sc, groups: int):
    inputs = build_inputs(sc)
    sets = build_sets(inputs)
    rpm, unit = relaxed_model(inputs, sets, cluster_steps(inputs, groups))
    return inputs, sets, SiteScorer(rpm, highs.compile_model(rpm.pyomo), unit)


def _exact_with_sites(sc, inputs, sets, open_site: np.ndarray) -> float:
    """Full-model optimum (USD/yr) with exactly these sites open (MILP to optimality)."""
    pm = build_model(inputs)
    sf = highs.compile_model(pm.pyomo)
    fam = pm.builder.variables["open_site"]
    cols = slice(fam.offset, fam.offset + fam.size)
    sf.col_lower[cols] = open_site
    sf.col_upper[cols] = np.minimum(sf.col_upper[cols], open_site)
    if (sf.col_upper[cols] < open_site).any():  # a site that cannot open
        return np.inf
    out = highs.run(highs.to_highs(sf, {"mip_rel_gap": 1e-9}), True)
    return out.objective * objective_unit_usd(inputs) if out.status == "optimal" else np.inf


@pytest.mark.parametrize("seed", [pytest.param(1, marks=pytest.mark.slow), 2])
def test_a_score_never_exceeds_the_full_optimum_with_those_sites(seed, synthetic_scenario):
    sc = synthetic_scenario(5, 4, 2, 48, seed=seed)
    inputs, sets, score = _scorer(sc, 6)
    rng = np.random.default_rng(seed)
    choices = [np.zeros(sets.n_site)] + [(rng.random(sets.n_site) < 0.5).astype(float) for _ in range(3)]
    choices[1][score.candidates[:1]] = 1.0
    choices = [np.where(np.isin(np.arange(sets.n_site), score.candidates), v, 0.0) for v in choices]
    for v in choices:
        exact = _exact_with_sites(sc, inputs, sets, v)
        s = score(site_key(v))
        assert np.isfinite(s)
        assert s <= exact * (1 + 1e-7), np.flatnonzero(v)
    assert len(score.cache) == len({site_key(v) for v in choices})  # cached, one LP per choice


def test_neighbours_are_every_single_drop_add_and_swap():
    cand = np.array([0, 1, 3])
    key = np.array([1.0, 0.0, 0.0, 0.0]).tobytes()
    flips = {tuple(np.flatnonzero(key_sites(k))) for k in neighbours(key, cand, swaps=False)}
    assert flips == {(), (0, 1), (0, 3)}
    swaps = {tuple(np.flatnonzero(key_sites(k))) for k in neighbours(key, cand, swaps=True)}
    assert swaps == {(1,), (3,)}


def test_a_search_ends_where_no_single_drop_add_or_swap_improves_and_never_worsens_its_start(synthetic_scenario):
    sc = synthetic_scenario(6, 5, 2, 48, seed=3)
    _, sets, score = _scorer(sc, 6)
    start = site_key(np.zeros(sets.n_site))
    end, end_score = local_search(score, start)
    assert end_score == score(end) <= score(start)
    for swaps in (False, True):
        assert all(score(k) >= end_score * (1 - 1e-9) for k in neighbours(end, score.candidates, swaps))
    # on 6 sites every choice can be scored: the search's end is no worse than most of them
    everything = sorted(score(np.array(c, float).tobytes()) for c in itertools.product([0, 1], repeat=sets.n_site))
    assert end_score <= everything[len(everything) // 4]


def test_a_search_stops_when_asked(synthetic_scenario):
    sc = synthetic_scenario(6, 5, 2, 48, seed=3)
    _, sets, score = _scorer(sc, 6)
    stop = threading.Event()
    stop.set()
    start = site_key(np.zeros(sets.n_site))
    assert local_search(score, start, stop.is_set) == (start, score(start))
    assert len(score.cache) == 1


def _round_one(synthetic_scenario, threads: int):
    """A world's exact optimum (USD/yr), sets, full model, a pricer with its first round started,
    and that round's relaxed model and HiGHS instance (both on ``threads`` threads)."""
    sc = synthetic_scenario(10, 8, 3, 72, seed=4)
    exact = solve(sc, SolveOptions(strategy="mip", mip_gap=1e-9)).summary["objective_usd_per_year"]
    inputs = build_inputs(sc)
    sets = build_sets(inputs)
    pm = build_model(inputs)
    sf = highs.compile_model(pm.pyomo)
    pricer = _Pricer(pm, sf, highs.to_highs(sf, {"threads": threads}), Progress())
    rpm, r_unit = relaxed_model(inputs, sets, cluster_steps(inputs, 6))
    rsf = highs.compile_model(rpm.pyomo)
    rh = highs.to_highs(rsf, {"threads": threads, "mip_rel_gap": 1e-9})
    pricer.new_round(rh, rpm, rsf, r_unit)
    return exact, inputs, sets, sf, pricer, rpm, rh


@pytest.mark.slow
def test_the_pricer_searches_from_every_incumbent_and_prices_plans_of_the_full_model(synthetic_scenario):
    exact, inputs, sets, sf, pricer, rpm, rh = _round_one(synthetic_scenario, 1)
    out = highs.run(rh, True)
    assert out.status == "optimal" and pricer.found
    final = site_key(unpack_integers(rpm, out.x)["open_site"])
    assert pricer.found[final] == pytest.approx(out.objective, rel=1e-9) == min(pricer.found.values())
    assert not pricer.step(lambda: False, search=False)  # nothing searched yet: nothing to price
    assert not pricer.searched and not pricer.plans
    assert pricer.next_start() == final  # the best incumbent is searched from first, then never again
    pricer.searched.discard(final)
    while pricer.step(lambda: False):
        pass
    assert pricer.searched == set(pricer.found) | {site_key(np.zeros(sets.n_site))}
    assert pricer.plans and pricer.best is not None
    for usd, choice in pricer.plans:
        assert usd >= exact * (1 - 1e-9)  # plans of the full model: never below its optimum
        assert usd >= pricer.ends[site_key(choice["open_site"])] * (1 - 1e-9)  # nor below their score
    assert float(sf.c @ pricer.best[0] + sf.c0) * objective_unit_usd(inputs) == min(u for u, _ in pricer.plans)
    # every search end left unpriced scores no better than the best plan
    assert all(v >= pricer.progress.best_usd for k, v in pricer.ends.items() if k not in pricer.tried)


@pytest.mark.slow
def test_the_worker_searches_and_prices_while_a_milp_runs_on_two_threads(synthetic_scenario):
    """HiGHS refuses a run from a second thread asking for its own thread count while a MILP runs;
    the worker must still price plans (it runs on one thread)."""
    exact, _, _, _, pricer, _, rh = _round_one(synthetic_scenario, 2)
    held = []

    def hold(event) -> None:  # keep the MILP running until the worker has priced a plan
        if not held:
            held.append(True)
            for _ in range(1200):
                if pricer.plans:
                    break
                time.sleep(0.1)

    rh.cbMipInterrupt.subscribe(hold)
    with pricer.pricing_alongside():
        out = highs.run(rh, True)
    assert out.status == "optimal" and held
    assert pricer.plans, "nothing priced while the MILP ran"
    assert all(usd >= exact * (1 - 1e-9) for usd, _ in pricer.plans)
    assert pricer.scored > 1
