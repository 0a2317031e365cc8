"""Properties any correct plan must have (monotonicity, integrality, forbidden routes)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from optimizer import solve
from optimizer.scenario import scenario_from_dict


@pytest.fixture
def world(tiny: dict) -> dict:
    """Two sites, two accelerators, two LLMs, two markets, a daily price and demand cycle."""
    hours = np.arange(24)
    cycle = (1 + 0.5 * np.sin((hours - 9) / 24 * 2 * np.pi)).round(4).tolist()
    tiny["sites"]["texas"]["energy_price_usd_per_mwh"] = [60 * c for c in cycle]
    tiny["sites"]["oregon"] = dict(tiny["sites"]["texas"], energy_price_usd_per_mwh=35, grid_limit_mw=1.0)
    tiny["gpus"]["b200"] = {"gpus_per_node": 8, "capex_usd_per_gpu": 50000, "lifetime_years": 5,
                            "power_kw_per_gpu": 1.8, "idle_power_kw_per_gpu": 0.5}
    tiny["llms"]["llama-70b"]["throughput"]["b200"] = {"output_tokens_per_s": 3600, "input_tokens_per_s": 20000}
    tiny["llms"]["small"] = {"input_per_output": 2, "max_rtt_ms": 200, "throughput": {
        "h100": {"output_tokens_per_s": 6000, "input_tokens_per_s": 30000},
        "b200": {"output_tokens_per_s": 13000, "input_tokens_per_s": 70000}}}
    tiny["markets"]["us-east"]["demand_output_tokens_per_s"] = {"llama-70b": [1e5 * c for c in cycle], "small": 2e5}
    tiny["markets"]["us-west"] = {"country": "US", "demand_output_tokens_per_s": {"llama-70b": 5e4, "small": 1e5}}
    tiny["latency_ms"] = {"texas": {"us-east": 45, "us-west": 60}, "oregon": {"us-east": 75, "us-west": 20}}
    return tiny


def cost(d: dict) -> float:
    return solve(scenario_from_dict(d)).summary["objective_usd_per_year"]


def test_more_demand_never_lowers_cost(world):
    base = cost(world)
    for factor in (1.05, 1.5, 3.0):
        more = copy.deepcopy(world)
        for m in more["markets"].values():
            m["demand_output_tokens_per_s"] = {
                k: [x * factor for x in v] if isinstance(v, list) else v * factor
                for k, v in m["demand_output_tokens_per_s"].items()}
        assert cost(more) >= base * (1 - 1e-6)


@pytest.mark.parametrize("gpu", ["h100", "b200"])
def test_removing_an_accelerator_never_lowers_cost(world, gpu):
    base = cost(world)
    fewer = copy.deepcopy(world)
    del fewer["gpus"][gpu]
    for llm in fewer["llms"].values():
        llm["throughput"].pop(gpu, None)
    assert cost(fewer) >= base * (1 - 1e-6)


def test_lowering_max_rtt_never_lowers_cost(world):
    costs = []
    for rtt in (200, 80, 65, 50):
        d = copy.deepcopy(world)
        for llm in d["llms"].values():
            llm["max_rtt_ms"] = rtt
        costs.append(cost(d))
    assert all(b >= a * (1 - 1e-6) for a, b in zip(costs, costs[1:], strict=False))
    assert costs[-1] > costs[0]  # the limit does bind somewhere on this ladder


def test_replicas_are_integral_and_gpus_whole_nodes(world):
    ds = solve(scenario_from_dict(world)).dataset
    r = ds["replicas"].values
    assert np.allclose(r, np.round(r))
    assert np.allclose(ds["gpus"].values % 8, 0)
    # capacity: busy GPUs never exceed installed GPUs of that (site, gpu, llm)
    installed = ds["replicas"] * 8
    assert bool((ds["busy_gpus"] <= installed + 1e-6).all())


def test_no_flow_on_forbidden_routes(world):
    world["markets"]["us-west"]["served_from"] = ["CA"]  # no Canadian site: must go unserved
    world["unserved_penalty_usd_per_mtok"] = 50
    world["latency_ms"]["oregon"].pop("us-east")
    ds = solve(scenario_from_dict(world)).dataset
    assert float(ds["delivered_tokens_per_s"].sel(market="us-west").sum()) == 0
    assert float(ds["delivered_tokens_per_s"].sel(site="oregon", market="us-east").sum()) == 0
    assert float(ds["unserved_tokens_per_s"].sel(market="us-west").sum()) > 0


def test_demand_is_met_exactly_every_hour(world):
    plan = solve(scenario_from_dict(world))
    ds = plan.dataset
    delivered = ds["delivered_tokens_per_s"].sum("site")
    demand = plan.model.inputs["demand_output_tokens_per_s"]
    np.testing.assert_allclose(delivered.values, demand.transpose(*delivered.dims).values, rtol=1e-6)
    # production equals delivery per site and llm
    np.testing.assert_allclose(ds["production_tokens_per_s"].sum("gpu").values,
                               ds["delivered_tokens_per_s"].sum("market").values, rtol=1e-6, atol=1e-3)
    # facility power within the grid limit
    limit = plan.model.inputs["grid_limit_mw"]
    assert bool((ds["facility_power_mw"] <= limit + 1e-6).all())
