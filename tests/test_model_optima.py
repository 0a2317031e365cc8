"""Hand-computed optima on small instances."""

from __future__ import annotations

import math

import pytest

from optimizer import InfeasibleError, load_scenario, solve
from optimizer.scenario import scenario_from_dict

from .conftest import TINY


def crf(r: float, n: float) -> float:
    return r * (1 + r) ** n / ((1 + r) ** n - 1)


def test_tiny_buys_120_h100_in_texas():
    plan = solve(load_scenario(TINY))
    s = plan.summary
    assert s["status"] == "optimal"
    assert s["gpus"] == {"h100": 120}
    assert s["sites_opened"] == ["texas"]
    assert int(plan.dataset["replicas"].sum()) == 15  # 15 nodes of 8
    # by hand: busy GPUs = 1e5/1500 + 4e5/7500 = 120, all busy every hour
    it_mw = 120 * 1.2 / 1000
    site = 20e6 * crf(0.08, 15) + it_mw * 11.7e6 * crf(0.08, 15)
    gpus = 120 * 35000 * crf(0.08, 5)
    energy = 1.3 * it_mw * 24 * 365 * 60
    assert s["objective_usd_per_year"] == pytest.approx(site + gpus + energy, rel=1e-6)
    assert s["energy_cost_usd_per_year"] == pytest.approx(energy, rel=1e-9)
    tokens = 1e5 * 5 * 3600 * 8760
    assert s["tokens_per_year"] == pytest.approx(tokens, rel=1e-9)
    assert s["cost_per_mtok_usd"] == pytest.approx((site + gpus + energy) / tokens * 1e6, rel=1e-6)
    assert s["cost_per_output_mtok_usd"] == pytest.approx(5 * s["cost_per_mtok_usd"], rel=1e-9)
    assert s["co2_t_per_year"] == pytest.approx(1.3 * it_mw * 8760 * 380 / 1000, rel=1e-9)


def _two_sites(tiny: dict) -> dict:
    tiny["sites"]["oregon"] = dict(tiny["sites"]["texas"], energy_price_usd_per_mwh=20, build_cost_usd=1e6)
    tiny["latency_ms"]["oregon"] = {"us-east": 140}
    return tiny


def test_cheaper_site_out_of_latency_range_is_not_used(tiny):
    sc = scenario_from_dict(_two_sites(tiny))
    assert solve(sc).summary["sites_opened"] == ["texas"]
    # with a looser latency limit the cheaper site wins: proves the limit is what decided
    tiny["llms"]["llama-70b"]["max_rtt_ms"] = 150
    plan = solve(scenario_from_dict(tiny))
    assert plan.summary["sites_opened"] == ["oregon"]
    assert float(plan.dataset["delivered_tokens_per_s"].sel(site="texas").sum()) == 0


def test_available_in_forces_the_dearer_accelerator(tiny):
    tiny["gpus"]["b200"] = dict(tiny["gpus"]["h100"], capex_usd_per_gpu=30000, available_in=["AE"])
    tiny["llms"]["llama-70b"]["throughput"]["b200"] = {"output_tokens_per_s": 3000, "input_tokens_per_s": 15000}
    assert solve(scenario_from_dict(tiny)).summary["gpus"] == {"h100": 120}
    tiny["gpus"]["b200"]["available_in"] = ["US"]
    assert solve(scenario_from_dict(tiny)).summary["gpus"] == {"b200": 64}  # 60 busy -> 8 nodes


def test_integer_rounding_buys_whole_nodes(tiny):
    # 15.1 nodes' worth of busy GPUs: 120.8 GPUs -> 16 nodes
    tiny["markets"]["us-east"]["demand_output_tokens_per_s"]["llama-70b"] = 100000 * 120.8 / 120
    plan = solve(scenario_from_dict(tiny))
    assert plan.summary["gpus"] == {"h100": 128}
    assert float(plan.dataset["busy_gpus"].max()) == pytest.approx(120.8)


def test_multi_node_replicas_count_all_their_gpus(tiny):
    tiny["llms"]["llama-70b"]["throughput"]["h100"]["nodes_per_replica"] = 2
    plan = solve(scenario_from_dict(tiny))
    assert plan.summary["gpus"] == {"h100": 128}  # 120 busy -> 8 replicas of 16
    assert int(plan.dataset["replicas"].sum()) == 8


def test_unserved_penalty_lets_demand_go_unserved_when_cheaper(tiny):
    tiny["sites"]["texas"]["grid_limit_mw"] = 0.1
    tiny["unserved_penalty_usd_per_mtok"] = 5.0
    plan = solve(scenario_from_dict(tiny))
    s = plan.summary
    assert s["status"] == "optimal"
    assert s["unserved_tokens_per_year"] > 0
    # grid limit: 1.3 * (0.4 kW * gpus + 0.8 kW * busy) <= 100 kW; served share is what fits
    assert float(plan.dataset["facility_power_mw"].max()) <= 0.1 + 1e-9
    assert s["tokens_per_year"] + s["unserved_tokens_per_year"] == pytest.approx(1e5 * 5 * 3600 * 8760, rel=1e-6)


def test_crf_zero_rate_is_straight_line(tiny):
    tiny["finance"]["discount_rate"] = 0.0
    s = solve(scenario_from_dict(tiny)).summary
    assert s["accelerator_cost_usd_per_year"] == pytest.approx(120 * 35000 / 5)
    assert not math.isnan(s["cost_per_mtok_usd"])


def test_infeasible_when_policy_forbids_every_accelerator(tiny):
    tiny["gpus"]["h100"]["available_in"] = ["AE"]
    with pytest.raises(InfeasibleError) as err:
        solve(scenario_from_dict(tiny))
    assert "may install an accelerator that runs llama-70b (h100)" in str(err.value)


def test_infeasible_when_served_from_excludes_every_site(tiny):
    tiny["markets"]["us-east"]["served_from"] = ["CA"]
    with pytest.raises(InfeasibleError) as err:
        solve(scenario_from_dict(tiny))
    assert "market us-east, llm llama-70b" in str(err.value) and "served_from" in str(err.value)
