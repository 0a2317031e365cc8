"""The notebooks run as tests (nbmake, `addopts` in pyproject.toml). Each takes more than about
5 s (01 ~7 s, 02 ~40 s, 03 ~30 s on 2 shared cores), so all are marked slow, as such tests are:
`pytest -m "not slow"` leaves them out, the plain `pytest` runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent == HERE and item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
