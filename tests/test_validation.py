"""Bad input: one clear line per problem naming file, field and value; exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from optimizer import ScenarioError, load_scenario
from optimizer.cli import main


def write(tmp_path: Path, data: object, name: str = "bad.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    return err.value.messages


def test_negative_value_names_file_path_and_value(tmp_path, tiny):
    tiny["sites"]["texas"]["grid_limit_mw"] = -5
    assert errors_of(write(tmp_path, tiny, "tiny.yaml")) == ["tiny.yaml: sites.texas.grid_limit_mw: must be >= 0, got -5"]


def test_all_problems_reported_together(tmp_path, tiny):
    tiny["sites"]["texas"]["pue"] = 0.9
    tiny["gpus"]["h100"]["gpus_per_node"] = "eight"
    tiny["markets"]["us-east"]["demand_output_tokens_per_s"]["llama-70b"] = [1.0] * 5
    msgs = errors_of(write(tmp_path, tiny))
    assert any("sites.texas.pue: must be >= 1, got 0.9" in m for m in msgs)
    assert any("gpus.h100.gpus_per_node: must be a whole number, got 'eight'" in m for m in msgs)
    assert len(msgs) == 2  # the series length is checked once the types are right


def test_series_of_wrong_length(tmp_path, tiny):
    tiny["markets"]["us-east"]["demand_output_tokens_per_s"]["llama-70b"] = [1.0] * 5
    assert errors_of(write(tmp_path, tiny)) == [
        "bad.yaml: markets.us-east.demand_output_tokens_per_s.llama-70b: series has 5 values, time.steps is 24"]


def test_missing_section(tmp_path, tiny):
    del tiny["gpus"]
    assert errors_of(write(tmp_path, tiny)) == ["bad.yaml: gpus: required field is missing"]


def test_unknown_key_suggests_the_close_match(tmp_path, tiny):
    tiny["sites"]["texas"]["grid_limit_mv"] = tiny["sites"]["texas"].pop("grid_limit_mw")
    msgs = errors_of(write(tmp_path, tiny))
    assert "bad.yaml: sites.texas.grid_limit_mv: unknown key (did you mean 'grid_limit_mw'?)" in msgs


def test_typo_in_an_id_lists_close_matches(tmp_path, tiny):
    tiny["latency_ms"] = {"texsa": {"us-east": 45}}
    assert errors_of(write(tmp_path, tiny)) == ["bad.yaml: latency_ms.texsa: unknown site id (did you mean 'texas'?)"]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_numbers(tmp_path, tiny, value):
    tiny["sites"]["texas"]["build_cost_usd"] = value
    msgs = errors_of(write(tmp_path, tiny))
    assert len(msgs) == 1 and "sites.texas.build_cost_usd: must be a finite number" in msgs[0]


def test_malformed_yaml_and_empty_and_missing_files(tmp_path):
    assert "malformed YAML" in errors_of(write(tmp_path, "sites: [unclosed\n"))[0]
    assert errors_of(write(tmp_path, "")) == ["bad.yaml: the scenario is empty"]
    assert "file not found" in errors_of(tmp_path / "nope.yaml")[0]


def test_cli_exit_code_2_and_no_traceback(tmp_path, tiny, capsys):
    tiny["sites"]["texas"]["grid_limit_mw"] = -5
    p = write(tmp_path, tiny, "tiny.yaml")
    assert main(["validate", str(p)]) == 2
    assert main(["solve", str(p), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "error: tiny.yaml: sites.texas.grid_limit_mw: must be >= 0, got -5" in err
    assert "Traceback" not in err


def test_console_script_reports_without_traceback(tmp_path, tiny):
    tiny["gpus"]["h100"]["capex_usd_per_gpu"] = -1
    p = write(tmp_path, tiny)
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "validate", str(p)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: bad.yaml: gpus.h100.capex_usd_per_gpu: must be >= 0, got -1"


def test_absurd_magnitudes_are_input_errors_not_solver_crashes(tmp_path, tiny):
    tiny["sites"]["texas"]["grid_limit_mw"] = 1e300
    p = write(tmp_path, tiny, "huge.yaml")
    assert main(["solve", str(p), "--out", str(tmp_path / "o"), "--quiet"]) == 2
