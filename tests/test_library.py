"""The bundled strategy library: every scenario loads, solves and raises no scaling warning; lifting
the policy rules from a strategy (same sites, same demand) never makes it dearer."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from optimizer import load_scenario, solve

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
LIBRARY = ["china_token_export", "us_ai_factories", "gulf_sovereign", "eu_sovereign", "open_market"]
ALL_CARD_GPUS = "[h100, h200, h20, h800, b200, gb200, gb300, mi300x, mi325x, mi355x, ascend-910b, ascend-910c]"


def test_every_bundled_scenario_validates():
    files = [p for p in SCENARIOS.glob("*.yaml") if not p.name.startswith("_")]  # _world.yaml is a base file
    assert {p.stem for p in files} >= {*LIBRARY, "default"}
    for p in files:
        load_scenario(p)


def test_library_shares_one_demand_world():
    for name in LIBRARY:
        raw = yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text())
        assert raw["base"] == "_world.yaml", name
        assert "demand_share" not in (raw["markets"].get("defaults") or {}), f"{name} changes the shared demand"
        assert all("demand_share" not in v for v in raw["markets"].values() if isinstance(v, dict))


@pytest.fixture(scope="module")
def solved() -> dict:
    return {}


@pytest.mark.slow
@pytest.mark.parametrize("name", LIBRARY)
def test_library_scenario_solves_without_scaling_warnings(name, solved, caplog):
    with caplog.at_level(logging.WARNING, logger="optimizer"):
        plan = solve(load_scenario(SCENARIOS / f"{name}.yaml"))
    assert plan.status == "optimal"
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    solved[name] = plan


@pytest.mark.slow
@pytest.mark.parametrize("name", ["china_token_export", "us_ai_factories", "gulf_sovereign", "eu_sovereign"])
def test_lifting_the_rules_never_raises_cost(name, solved):
    path = SCENARIOS / f"{name}.yaml"
    restricted = solved.get(name) or solve(load_scenario(path))
    raw = yaml.safe_load(path.read_text())
    free = [f"markets.{m}.served_from=null" for m, v in raw["markets"].items()
            if isinstance(v, dict) and "served_from" in v]  # per market, or for all in markets.defaults
    lifted = solve(load_scenario(path, sets=["policy=open", f"gpus.include={ALL_CARD_GPUS}", *free]))
    assert lifted.summary["objective_usd_per_year"] <= restricted.summary["objective_usd_per_year"] * (1 + 1e-4)
