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
    text = why(tiny)
    assert ("market us-east, llm llama-70b: demand cannot be served: no site is within "
            "llms.llama-70b.max_rtt_ms=20 ms of us-east: nearest texas (US) 45 ms") in text
    assert "served_from" not in text and "accelerator" not in text


def test_accelerator_forbidden_by_available_in(tiny):
    tiny["gpus"]["h100"]["available_in"] = ["DE"]
    text = why(tiny)
    assert ("no site within reach (texas) may install an accelerator that runs llama-70b (h100): "
            "gpus.h100.available_in is [DE]: texas (US)") in text
    assert "policy" not in text


def test_accelerator_forbidden_by_a_policy_rule_set(tiny):
    tiny["sites"]["texas"]["country"] = "CN"
    del tiny["gpus"]["h100"]["available_in"]
    tiny["policy"] = "us-2025-12"
    text = why(tiny)
    assert ("may install an accelerator that runs llama-70b (h100): policy rule set us-2025-12 "
            "(US export controls as of 2025-12-09) denies h100 in CN: texas (CN)") in text
    assert "available_in" not in text


def test_accelerator_forbidden_by_a_state_funded_rule(tiny):
    tiny["sites"]["texas"].update(country="CN", state_funded=True)
    tiny["gpus"]["h100"].update(available_in=None, made_in="US")
    tiny["policy"] = ["cn-2025-11"]
    assert "policy rule set cn-2025-11 (China domestic-chip rule for state-funded data centres (2025-11)) " \
           "denies h100 (made in US, not CN) in CN at state-funded sites: texas (CN)" in why(tiny)


def test_data_sovereignty(tiny):
    tiny["markets"]["us-east"]["served_from"] = ["DE"]
    text = why(tiny)
    assert ("markets.us-east.served_from allows only [DE]; the sites within llms.llama-70b.max_rtt_ms=100 ms "
            "of us-east are in other countries: texas (US) 45 ms; no site with a latency entry is in [DE]") in text
    assert "no site is within" not in text


def test_data_sovereignty_and_latency_together(tiny):
    """The allowed country's site is too far, the near site is in another country: both named."""
    tiny["sites"]["frankfurt"] = {**tiny["sites"]["texas"], "country": "DE"}
    tiny["latency_ms"]["frankfurt"] = {"us-east": 120}
    tiny["gpus"]["h100"]["available_in"] = ["US", "DE"]
    tiny["markets"]["us-east"]["served_from"] = ["DE"]
    assert ("markets.us-east.served_from allows only [DE]; the sites within llms.llama-70b.max_rtt_ms=100 ms "
            "of us-east are in other countries: texas (US) 45 ms; the sites in [DE] are beyond max_rtt_ms: "
            "frankfurt (DE) 120 ms") in why(tiny)


def test_grid_too_small_for_one_replica(tiny):
    tiny["sites"]["texas"]["grid_limit_mw"] = 0.001
    assert ("the grid_limit_mw of the sites within reach (texas 0.001 MW) cannot power even one idle replica "
            "of an accelerator that runs llama-70b (the smallest needs 0.00416 MW with PUE)") in why(tiny)


def test_total_carbon_cap(tiny):
    tiny["carbon"] = {"cap_t_per_year": 100}
    text = why(tiny)
    assert text.startswith("market us-east, llm llama-70b: 86.7% of demand cannot be served in 24 of 24 hours")
    assert ("carbon.cap_t_per_year is 100 t/year, and any plan that serves all demand emits at least "
            "623.1 t/year; without the carbon limits all of it can be served") in text
    assert "sites in reach" not in text and "grid" not in text
    tiny["carbon"] = {"cap_t_per_year": 624}  # the bound is tight: just above it a plan exists
    assert solve(scenario_from_dict(tiny)).status == "optimal"


def test_carbon_cap_by_country(tiny):
    tiny["carbon"] = {"cap_t_per_year_by_country": {"US": 100}}
    text = why(tiny)
    assert ("market us-east, llm llama-70b: 86.7% of demand cannot be served in 24 of 24 hours "
            "(first: 2025-01-01 00:00); carbon.cap_t_per_year_by_country.US is 100 t/year, and any plan that "
            "serves all demand emits at least 623.1 t/year at sites in US (texas)") in text
    assert "sites in reach" not in text and "grid" not in text


def test_hourly_matching_without_onsite_supply(tiny):
    tiny["carbon"] = {"hourly_matching": 0.5}
    text = why(tiny)
    assert ("market us-east, llm llama-70b: 100.0% of demand cannot be served in 24 of 24 hours "
            "(first: 2025-01-01 00:00); carbon.hourly_matching is 0.5 (50% of each hour's facility load from "
            "on-site solar, wind or battery); texas has no on-site supply (sites.texas.solar, wind and battery "
            "are unset), so it may draw no power") in text
    assert "sites in reach" not in text and "grid" not in text


def test_hourly_matching_with_solar_only(tiny):
    day = [0.0] * 6 + [0.2, 0.4, 0.6, 0.7, 0.8, 0.8, 0.8, 0.8, 0.7, 0.6, 0.4, 0.2] + [0.0] * 6
    tiny["sites"]["texas"]["solar"] = {"capex_usd_per_mw": 800000, "capacity_factor": day}
    tiny["carbon"] = {"hourly_matching": 0.5}
    assert ("on-site supply at texas: solar only, no output in 12 of the unserved hours and no battery") in why(tiny)


def test_grid_limit_with_a_tight_carbon_cap_names_both(tiny):
    tiny["sites"]["texas"]["grid_limit_mw"] = 0.1
    tiny["carbon"] = {"cap_t_per_year": 100}
    text = why(tiny)
    assert "carbon.cap_t_per_year is 100 t/year (the elastic plan emits 83.09 t/year under it)" in text
    assert "binding: grid_limit_mw of texas (0.1 MW) leaves no room for another replica" in text
    assert "without the carbon limits 46.7% would still go unserved" in text


def test_grid_limit_with_a_loose_carbon_cap_names_the_grid(tiny):
    tiny["sites"]["texas"]["grid_limit_mw"] = 0.1
    tiny["carbon"] = {"cap_t_per_year": 10000}
    text = why(tiny)
    assert "grid_limit_mw of texas (0.1 MW) leaves no room for another replica" in text
    assert "carbon" not in text


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


def test_diagnose_command_says_when_it_cannot_decide(tmp_path, tiny, capsys, monkeypatch):
    from optimizer import highs

    monkeypatch.setattr(highs, "run", lambda h, is_mip: highs.SolveOutcome(
        "no_solution", float("nan"), float("nan"), None, 120.0, "Time limit reached"))
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(tiny))
    assert main(["diagnose", str(p)]) == 4
    out = capsys.readouterr().out
    assert "undecided: HiGHS found no plan and did not prove that none exists within 120 s" in out
    assert "a plan exists" not in out


def test_diagnose_command_on_a_no_route_scenario(tmp_path, tiny, capsys):
    tiny["llms"]["llama-70b"]["max_rtt_ms"] = 20
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(tiny))
    assert main(["diagnose", str(p)]) == 3
    out = capsys.readouterr().out
    assert "market us-east, llm llama-70b: demand cannot be served: no site is within" in out
    assert ("    site texas: 45 ms (above llms.llama-70b.max_rtt_ms=20 ms); in US (allowed by "
            "markets.us-east.served_from); accelerators allowed for llama-70b: h100; grid limit 50 MW\n") in out


def test_diagnose_command_on_a_carbon_cap(tmp_path, tiny, capsys):
    tiny["carbon"] = {"cap_t_per_year": 100}
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(tiny))
    assert main(["diagnose", str(p)]) == 3
    out = capsys.readouterr().out
    assert "    hours unserved: 2025-01-01 00:00–23:00" in out
    assert ("    carbon.cap_t_per_year: 100 t/year; the elastic plan emits 83.09 t/year; without the carbon limits "
            "it emits 623.2 t/year; any plan serving all demand emits at least 623.1 t/year "
            "(least-emissions solve, optimal)") in out
