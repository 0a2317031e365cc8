"""The package finds its bundled data from any folder; what a wheel ships; unexpected errors in the CLI.

Building and installing a wheel is too slow for the suite: .ci/run does it (wheel into a second
venv, ``tokenomics solve`` and ``tokenomics catalog gpus`` from a temporary folder).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from optimizer import resources
from optimizer.catalogs import catalog
from optimizer.cli import main
from optimizer.errors import ScenarioError
from optimizer.scenario import DEFAULT_SCENARIO, scenario_path

REPO = Path(__file__).resolve().parents[1]


def test_resource_folders_hold_the_catalogs():
    data, models = resources.data_dir(), resources.models_dir()
    assert (data / "scenarios" / "default.yaml").is_file()
    assert DEFAULT_SCENARIO == data / "scenarios" / "default.yaml"
    for name in ("gpus.csv", "sites.csv", "markets.csv", "benchmarks.csv", "latency_overrides.csv",
                 "latency_reference.csv", "geo/ne_110m_countries.geojson", "policies/open.yaml"):
        assert (data / name).is_file(), name
    cards = sorted(p.stem for p in models.glob("*.yaml"))
    assert "deepseek-r1" in cards and len(cards) >= 10
    assert sorted(catalog.llm_cards()) == cards
    assert catalog.DATA == data and catalog.MODELS == models
    names = resources.bundled_scenarios()
    assert {"default", "china_token_export"} <= set(names) and "_world" not in names


@pytest.mark.skipif(not (REPO / "pyproject.toml").is_file(), reason="needs the source tree")
def test_the_wheel_ships_every_data_file():
    """Each file the package may read from data/ and models/ matches the package-data globs of its
    (mapped) package in pyproject.toml, so a wheel carries it."""
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs, globs, packages = cfg["package-dir"], cfg["package-data"], set(cfg["packages"])
    shipped = 0
    for pkg, folder in dirs.items():
        root = REPO / folder
        for f in root.rglob("*"):
            rel = f.relative_to(root)
            if not f.is_file() or rel.parts[0] == "cache" or f.suffix == ".py" or f.name.startswith("."):
                continue  # the profile cache (per user now), scripts, editor files
            sub = ".".join((pkg, *rel.parts[:-1]))
            assert sub in packages, f"{folder}/{rel}: add {sub!r} to [tool.setuptools] packages"
            assert any(fnmatch.fnmatch(f.name, g) for g in globs.get(sub, [])), \
                f"{folder}/{rel}: no [tool.setuptools.package-data] glob of {sub!r} matches it"
            shipped += 1
    assert shipped >= 30


def test_a_bare_name_picks_a_bundled_scenario(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert scenario_path("china_token_export") == resources.scenarios_dir() / "china_token_export.yaml"
    assert scenario_path(None) == DEFAULT_SCENARIO
    assert scenario_path("mine.yaml") == Path("mine.yaml")  # paths stay paths (file not found later)
    (tmp_path / "default").write_text("name: local\n")
    assert scenario_path("default") == Path("default")  # an existing file wins
    with pytest.raises(ScenarioError) as err:
        scenario_path("chna_token_export")
    (msg,) = err.value.messages
    assert "did you mean 'china_token_export'" in msg and "bundled: china_token_export, default" in msg
    with pytest.raises(ScenarioError):
        scenario_path("_world")  # a base for others, not a scenario of its own
    assert main(["validate", "nosuch"]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("error: nosuch: no such file")


def test_cache_folder_is_per_user_and_overridable(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENOMICS_CACHE_DIR", str(tmp_path / "mine"))
    assert resources.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("TOKENOMICS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resources.cache_dir() == tmp_path / "xdg" / "tokenomics"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resources.cache_dir() == tmp_path / "home" / ".cache" / "tokenomics"


def test_an_unwritable_cache_is_skipped_with_a_warning(tmp_path, caplog):
    from optimizer.catalogs.profiles import load_profiles

    from .test_profiles import _markets, _sites

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING, logger="optimizer.profiles"):
        ds = load_profiles(_sites().iloc[:1], _markets().iloc[:1], 2025, cache_dir=blocker / "cache")
    assert ds.sizes["time"] == 8760
    assert "cannot write the profile cache" in caplog.text


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("tokenomics")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "optimizer.cli"]


@pytest.mark.parametrize("args, expect", [(["catalog", "gpus"], " gpus; sources:"),
                                          (["validate"], "default.yaml: ok")])
def test_cli_runs_from_an_unrelated_folder(tmp_path, args, expect):
    r = subprocess.run([*_cli(), *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert expect in r.stdout
    assert "Traceback" not in r.stderr


def test_an_unexpected_error_prints_one_line_and_exits_1(monkeypatch, capsys):
    def boom(kind):
        raise RuntimeError(f"no table {kind}\nsecond line")

    monkeypatch.setattr(catalog, "table", boom)
    assert main(["catalog", "gpus"]) == 1
    captured = capsys.readouterr()
    assert captured.err == ("error: RuntimeError: no table gpus second line "
                            "(run with --debug for the traceback)\n")
    assert "Traceback" not in captured.out + captured.err
    with pytest.raises(RuntimeError, match="no table gpus"):
        main(["--debug", "catalog", "gpus"])


def test_llm_catalog_rows_carry_their_sources(capsys):
    assert main(["catalog", "llms", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(catalog.llm_cards())
    for row in rows:
        card = catalog.llm_cards()[row["id"]]
        for key in card["sources"]:
            assert isinstance(row.get(f"{key}_source"), str) and row[f"{key}_source"].strip(), (row["id"], key)
        for key in ("architecture_source", "weight_gb_source", "throughput_source"):
            assert row[key], (row["id"], key)
        assert "http" in row["architecture_source"]  # {title, url, date} flattened to one line
    assert main(["catalog", "llms"]) == 0
    assert "_source" not in capsys.readouterr().out  # the table hides them, as for the other catalogs
