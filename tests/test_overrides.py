"""Scenario composition: base files, overrides, variants, --set, and their conflicts."""

from __future__ import annotations

import pytest
import yaml

from optimizer import ScenarioError, load_scenario, solve
from optimizer.cli import main


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def test_overrides_variants_and_set(tmp_path, tiny):
    tiny["overrides"] = {"sites.texas.pue": 1.2}
    tiny["variants"] = {"cheap_power": {"sites.texas.energy_price_usd_per_mwh": 30},
                        "tight_grid": [{"sites.texas.grid_limit_mw": 1}]}
    p = write(tmp_path / "t.yaml", tiny)
    sc = load_scenario(p)
    assert sc.sites["texas"].pue == 1.2 and sc.sites["texas"].energy_price_usd_per_mwh == 60
    sc = load_scenario(p, "cheap_power")
    assert sc.name == "tiny+cheap_power" and sc.sites["texas"].energy_price_usd_per_mwh == 30
    assert load_scenario(p, "tight_grid").sites["texas"].grid_limit_mw == 1
    sc = load_scenario(p, sets=["gpus.h100.capex_usd_per_gpu=30000", "llms.llama-70b.max_rtt_ms=50"])
    assert sc.gpus["h100"].capex_usd_per_gpu == 30000 and sc.llms["llama-70b"].max_rtt_ms == 50
    cheap = solve(load_scenario(p, "cheap_power")).summary["energy_cost_usd_per_year"]
    base = solve(load_scenario(p)).summary["energy_cost_usd_per_year"]
    assert cheap == pytest.approx(base / 2)


def test_two_overrides_of_the_same_key_name_both(tmp_path, tiny):
    tiny["overrides"] = {"sites.texas.pue": 1.2}
    tiny["variants"] = {"v": {"sites.texas": {"pue": 1.4}}}
    p = write(tmp_path / "t.yaml", tiny)
    with pytest.raises(ScenarioError) as err:
        load_scenario(p, "v")
    assert err.value.messages == [
        "t.yaml: override conflict: sites.texas.pue (overrides) and sites.texas (variants.v) set the same key"]
    with pytest.raises(ScenarioError) as err:
        load_scenario(p, sets=["sites.texas.pue=1.5"])
    assert "sites.texas.pue (overrides) and sites.texas.pue (--set sites.texas.pue)" in err.value.messages[0]


def test_unknown_variant_and_bad_set(tmp_path, tiny):
    tiny["variants"] = {"cheap_power": {"sites.texas.energy_price_usd_per_mwh": 30}}
    p = write(tmp_path / "t.yaml", tiny)
    with pytest.raises(ScenarioError) as err:
        load_scenario(p, "cheap_pwr")
    assert "unknown variant (did you mean 'cheap_power'?)" in err.value.messages[0]
    with pytest.raises(ScenarioError) as err:
        load_scenario(p, sets=["sites.texas.pue"])
    assert "expected key=value" in err.value.messages[0]
    with pytest.raises(ScenarioError) as err:
        load_scenario(p, sets=["sites.texas.pue.x=1"])
    assert "sites.texas.pue is 1.3, not a mapping" in err.value.messages[0]


def test_base_file_is_merged_under_the_scenario(tmp_path, tiny):
    write(tmp_path / "world.yaml", tiny)
    p = write(tmp_path / "child.yaml", {"base": "world.yaml", "name": "child",
                                        "sites": {"texas": {"grid_limit_mw": 5}}})
    sc = load_scenario(p)
    assert sc.name == "child" and sc.sites["texas"].grid_limit_mw == 5 and sc.sites["texas"].pue == 1.3
    write(tmp_path / "loop.yaml", {"base": "loop.yaml"})
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path / "loop.yaml")
    assert "includes itself" in err.value.messages[0]


def test_cli_variant_and_set(tmp_path, tiny, capsys):
    tiny["variants"] = {"cheap_power": {"sites.texas.energy_price_usd_per_mwh": 30}}
    p = write(tmp_path / "t.yaml", tiny)
    assert main(["solve", str(p), "--variant", "cheap_power", "--set", "sites.texas.pue=1.1", "--quiet",
                 "--out", str(tmp_path / "o")]) == 0
    assert "tiny+cheap_power" in capsys.readouterr().out
    assert main(["validate", str(p), "--variant", "nope"]) == 2


def test_base_may_not_escape_the_scenario_folder(tmp_path, tiny):
    sub = tmp_path / "sub"
    sub.mkdir()
    write(tmp_path / "world.yaml", tiny)
    p = write(sub / "child.yaml", {"base": "../world.yaml", "name": "child"})
    with pytest.raises(ScenarioError) as err:
        load_scenario(p)
    assert "outside the scenario's folder" in err.value.messages[0]
    p = write(sub / "abs.yaml", {"base": str(tmp_path / "world.yaml"), "name": "abs"})
    assert load_scenario(p).name == "abs"
