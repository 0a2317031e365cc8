"""Where the bundled data live, in a source checkout and in an installed package alike.

The repository keeps the catalogs at its top, in ``data/`` and ``models/``. A wheel (``pip install
.``) ships the same folders inside the package, as ``optimizer/data`` and ``optimizer/models``
(``[tool.setuptools.package-dir]`` in pyproject.toml). :func:`data_dir` and :func:`models_dir`
return whichever exists: the package's own copy (found with :mod:`importlib.resources`) first, else
the checkout's folder next to the package (a source tree or an editable install, ``pip install -e
.``). Nothing here depends on the working directory.

The profile cache is written at run time, so it lives outside the package: :func:`cache_dir`.
:func:`atomic_write` replaces a file in one step (used to rewrite the bundled calibration).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

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


def atomic_write(path: Path, writer: Callable[[Path], Any]) -> None:
    """Call ``writer(tmp_path)`` then rename onto ``path``, so readers never see half a file (the
    temporary file is in ``path``'s folder, so the rename stays on one file system). The file keeps
    the permissions of the one it replaces (a new one gets 0o644, not mkstemp's 0o600)."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
