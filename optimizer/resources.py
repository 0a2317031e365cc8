"""Where the bundled data live, in a source checkout and in an installed package alike.

The repository keeps the catalogs at its top, in ``data/`` and ``models/``. A wheel (``pip install
.``) ships the same folders inside the package, as ``optimizer/data`` and ``optimizer/models``
(``[tool.setuptools.package-dir]`` in pyproject.toml). :func:`data_dir` and :func:`models_dir`
return whichever exists: the package's own copy (found with :mod:`importlib.resources`) first, else
the checkout's folder next to the package (a source tree or an editable install, ``pip install -e
.``). Nothing here depends on the working directory.

The profile cache is written at run time, so it lives outside the package: :func:`cache_dir`.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]
"""The repository root when the package runs from a source tree (or an editable install)."""

CACHE_ENV = "TOKENOMICS_CACHE_DIR"
"""Environment variable that overrides :func:`cache_dir`."""


def _bundled(name: str) -> Path:
    """The package's own ``name`` folder if it has one, else the checkout's. Never raises (callers
    run at import time): a broken install fails later, naming the missing file."""
    installed = files("optimizer") / name
    if installed.is_dir():  # a wheel install: site-packages/optimizer/data, .../optimizer/models
        return Path(str(installed))
    return _CHECKOUT / name  # a source tree or an editable install: <repo>/data, <repo>/models


def data_dir() -> Path:
    """The bundled ``data/`` folder (catalog CSVs, ``scenarios/``, ``policies/``, ``geo/``)."""
    return _bundled("data")


def models_dir() -> Path:
    """The bundled ``models/`` folder (LLM model cards, ``<id>.yaml``)."""
    return _bundled("models")


def scenarios_dir() -> Path:
    """The bundled scenario files, ``data/scenarios``."""
    return data_dir() / "scenarios"


def bundled_scenarios() -> list[str]:
    """Names of the bundled scenarios that ``tokenomics solve NAME`` accepts (files starting with
    ``_``, such as ``_world.yaml``, are bases for others and not listed)."""
    return sorted(p.stem for p in scenarios_dir().glob("*.yaml") if not p.name.startswith("_"))


def cache_dir() -> Path:
    """Folder for files computed at run time (hourly profiles): ``$TOKENOMICS_CACHE_DIR`` if set,
    else ``$XDG_CACHE_HOME/tokenomics``, else ``~/.cache/tokenomics``. Outside the package, which
    may not be writable once installed."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or "").expanduser()
    base = xdg if xdg.is_absolute() else Path.home() / ".cache"  # the XDG spec ignores relative paths
    return base / "tokenomics"
