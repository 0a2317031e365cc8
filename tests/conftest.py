"""Shared fixtures: the tiny scenario as a dict that tests modify."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).parent
TINY = HERE / "scenarios" / "tiny.yaml"


@pytest.fixture
def tiny() -> dict:
    """A fresh copy of tests/scenarios/tiny.yaml (the issue's scenario) as a dict."""
    return copy.deepcopy(yaml.safe_load(TINY.read_text()))
