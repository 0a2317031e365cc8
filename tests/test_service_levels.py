"""Throughput in scenarios: stated values win, the estimator fills the rest, service tiers cost."""

from __future__ import annotations

import json

import pytest

from optimizer import ScenarioError, solve
from optimizer.cli import main
from optimizer.scenario import scenario_from_dict


def world(**llm_override: object) -> dict:
    return {
        "name": "tiers", "time": {"start": "2025-07-01", "days": 1},
        "sites": {"include": ["us-ercot"]}, "gpus": {"include": ["h100", "b200", "b300"]},
        "llms": {"include": ["llama-3.1-70b"], "llama-3.1-70b": dict(llm_override)},
        "markets": {"include": ["us-east"], "defaults": {"demand_share": {"llama-3.1-70b": 0.002}}},
    }


def test_card_values_kept_and_estimator_fills_missing_pairs():
    sc = scenario_from_dict(world())
    tp = sc.llms["llama-3.1-70b"].throughput
    assert all(d.output_tokens_per_s > 0 for d in tp["h100"])  # the card's deployments
    assert [d.name for d in tp["b300"]] == ["node"]  # no card entry for b300: the candidate deployments
    b300 = tp["b300"][0]
    assert b300.source.startswith("estimated:") and b300.output_tokens_per_s > 0 and b300.gpus_per_replica == 8


def test_inline_throughput_always_wins_even_with_a_tier():
    sc = scenario_from_dict(world(service_tier="fast", throughput={
        "h100": {"output_tokens_per_s": 123, "input_tokens_per_s": 4567}}))
    tp = sc.llms["llama-3.1-70b"].throughput
    assert [d.output_tokens_per_s for d in tp["h100"]] == [123]
    assert all("estimated:" in d.source for d in tp["b200"])  # card rates were for 20 tokens/s/user
    assert sc.llms["llama-3.1-70b"].tokens_per_s_per_user == 100


def test_faster_service_costs_more_per_token():
    costs = {tier: solve(scenario_from_dict(world(service_tier=tier))).summary["cost_per_mtok_usd"]
             for tier in ("batch", "chat", "fast")}
    assert costs["batch"] <= costs["chat"] <= costs["fast"]
    assert costs["fast"] > costs["batch"]


def test_unknown_tier_and_conflicting_speed_are_errors():
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(world(service_tier="turbo"), "t.yaml")
    assert "llms.llama-3.1-70b.service_tier: must be one of batch, chat, fast, got 'turbo'" in err.value.messages[0]
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(world(service_tier="fast", tokens_per_s_per_user=30), "t.yaml")
    assert "service_tier 'fast' means 100 tokens/s per user" in err.value.messages[0]


def test_throughput_cli_json(capsys):
    assert main(["throughput", "--gpu", "h100", "--llm", "deepseek-r1", "--precision", "fp8",
                 "--tokens-per-s-per-user", "20", "--input-len", "4096", "--output-len", "1024", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("output_tokens_per_s_per_gpu", "input_tokens_per_s_per_gpu", "total_tokens_per_s_per_gpu",
                "gpus_per_replica", "kw_per_gpu", "joules_per_output_token"):
        assert key in d
    out, inp = d["output_tokens_per_s_per_gpu"], d["input_tokens_per_s_per_gpu"]
    h = d["cache_hit_share"]  # the card's (DeepSeek day 6: 0.563): hits need no prefill compute
    assert h == pytest.approx(0.563)
    assert d["total_tokens_per_s_per_gpu"] == pytest.approx((4096 + 1024) / (4096 * (1 - h) / inp + 1024 / out), rel=1e-6)
    assert main(["throughput", "--gpu", "h1000", "--llm", "deepseek-r1"]) == 2
