"""Infeasible plans are explained in the user's terms: which demand, which limit."""

from __future__ import annotations

import pytest
import yaml

from optimizer import InfeasibleError, solve
from optimizer.cli import main
from optimizer.scenario import scenario_from_dict


def why(d: dict) -> str:
    with pytest.raises(InfeasibleError) as err:
        solve(scenario_from_dict(d))
    return str(err.value)


def test_latency_limit(tiny):
    tiny["llms"]["llama-70b"]["max_rtt_ms"] = 20
    assert "no site is within max_rtt_ms=20 ms of us-east" in why(tiny)


def test_accelerator_forbidden_by_policy(tiny):
    tiny["gpus"]["h100"]["available_in"] = ["DE"]
    assert "available_in or the policy forbids them there" in why(tiny)


def test_data_sovereignty(tiny):
    tiny["markets"]["us-east"]["served_from"] = ["DE"]
    assert "allowed by its served_from" in why(tiny)


def test_grid_limit(tiny):
    tiny["sites"]["texas"]["grid_limit_mw"] = 0.1
    text = why(tiny)
    assert "market us-east, llm llama-70b: 46.7% of demand cannot be served in 24 of 24 hours" in text
    assert "grid_limit_mw of texas (0.1 MW) leaves no room for another replica" in text


def test_supply_cap(tiny):
    tiny["supply_caps"] = [{"gpus": ["h100"], "country": "US", "max_gpus": 64}]
    assert "supply cap of 64 h100 in US is used up" in why(tiny)


def test_no_throughput_for_the_llm(tiny):
    tiny["llms"]["llama-70b"]["throughput"] = {}
    assert "no accelerator has a throughput for llama-70b" in why(tiny)


def test_diagnose_command(tmp_path, tiny, capsys):
    tiny["sites"]["texas"]["grid_limit_mw"] = 0.1
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(tiny))
    assert main(["diagnose", str(p)]) == 3
    out = capsys.readouterr().out
    assert "site texas: 45 ms, accelerators allowed for llama-70b: h100; grid limit 0.1 MW" in out
    tiny["sites"]["texas"]["grid_limit_mw"] = 50
    p.write_text(yaml.safe_dump(tiny))
    assert main(["diagnose", str(p)]) == 0
