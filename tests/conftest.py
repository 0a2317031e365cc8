"""Shared fixtures: the tiny scenario as a dict that tests modify; ``synthetic_scenario`` from
benchmarks/synthetic.py; a session profile cache."""

from __future__ import annotations

import copy
import functools
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import yaml

HERE = Path(__file__).parent
TINY = HERE / "scenarios" / "tiny.yaml"
BENCHMARKS = HERE.parent / "benchmarks"


def pytest_configure(config: pytest.Config) -> None:
    """Hourly profiles are cached in a folder of this test session (deleted at its end), not in the
    user's cache; set TOKENOMICS_CACHE_DIR to keep them between runs. CLI subprocesses and notebook
    kernels inherit the variable."""
    if not os.environ.get("TOKENOMICS_CACHE_DIR"):
        folder = tempfile.mkdtemp(prefix="tokenomics-test-cache-")
        os.environ["TOKENOMICS_CACHE_DIR"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.fixture
def tiny() -> dict:
    """A fresh copy of tests/scenarios/tiny.yaml (the issue's scenario) as a dict."""
    return copy.deepcopy(yaml.safe_load(TINY.read_text()))


@functools.cache
def benchmark_module(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported from its file (benchmarks/ is a folder of scripts, not a
    package, and stays off ``sys.path``), registered as ``sys.modules["benchmarks_<name>"]``; once
    per process."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would: dataclasses and pickle look classes up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def synthetic_scenario() -> Callable:
    """``benchmarks/synthetic.py``'s ``synthetic_scenario(n_site, n_market, n_llm, n_hour, seed=0,
    variation=0.15)``: a random but plausible world of that size, deterministic for a seed."""
    return benchmark_module("synthetic").synthetic_scenario
