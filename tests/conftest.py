"""Shared fixtures: the tiny scenario as a dict that tests modify; a session profile cache."""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).parent
TINY = HERE / "scenarios" / "tiny.yaml"


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
