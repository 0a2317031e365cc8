"""Loading a scenario: read the file, compose it (:mod:`~optimizer.scenario.compose`), resolve its
references (:mod:`~optimizer.scenario.references`), validate it (:mod:`~optimizer.scenario.schema`),
then put it on representative days when ``time.representative_days`` asks (:mod:`optimizer.catalogs.days`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from optimizer.catalogs import days
from optimizer.errors import ScenarioError, did_you_mean
from optimizer.resources import bundled_scenarios, scenarios_dir
from optimizer.scenario.compose import compose
from optimizer.scenario.references import check_references, resolve
from optimizer.scenario.scales import apply_scales
from optimizer.scenario.schema import Scenario, read_yaml, validation_messages

DEFAULT_SCENARIO = scenarios_dir() / "default.yaml"


def scenario_from_dict(
    data: Any, file: str = "<scenario>", base_dir: Path | None = None,
    variant: str | None = None, sets: list[str] | None = None, representative_days: bool = True,
    scales: dict[str, float] | None = None,
) -> Scenario:
    """Validate a parsed scenario mapping; raise :class:`ScenarioError` listing every problem.

    ``base``, ``overrides``, the named ``variant`` and ``sets`` (``key=value``) are applied first
    (:mod:`optimizer.scenario.compose`), then catalog references (``include``), ``demand_share`` and
    series files are expanded (:mod:`optimizer.scenario.references`); relative file paths are taken
    from ``base_dir``. ``scales`` (dot-path pattern -> factor, :func:`~optimizer.scenario.scales.apply_scales`)
    then multiply groups of values of the resolved mapping. ``representative_days=False`` keeps every
    modelled day even when ``time.representative_days`` is set.
    """
    if data is None:
        raise ScenarioError(f"{file}: the scenario is empty")
    if not isinstance(data, dict):
        raise ScenarioError(f"{file}: the scenario must be a mapping of keys, got {type(data).__name__}")
    base_dir = base_dir or Path.cwd()
    data = compose(data, base_dir, file, variant, sets)
    data = resolve(data, base_dir, file)
    if scales:
        data = apply_scales(data, scales, file)
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(validation_messages(exc, file)) from None
    problems = check_references(sc, file)
    if problems:
        raise ScenarioError(problems)
    if representative_days and sc.time.representative_days is not None and sc.time.day_weights is None:
        sc, _ = days.representative_days(sc, sc.time.representative_days)
    return sc


def scenario_path(path: str | Path | None) -> Path:
    """The file of a scenario argument: ``None`` -> the bundled default; an existing file as
    given; a bare name such as ``china_token_export`` (no folder, no suffix, not a file here) ->
    the bundled ``data/scenarios/<name>.yaml`` (:func:`optimizer.resources.bundled_scenarios`)."""
    if path is None:
        return DEFAULT_SCENARIO
    p = Path(path)
    if p.exists() or p.suffix or len(p.parts) != 1 or str(path) in (".", ".."):
        return p
    bundled = scenarios_dir() / f"{p.name}.yaml"
    if bundled.is_file() and not p.name.startswith("_"):
        return bundled
    names = bundled_scenarios()
    raise ScenarioError(f"{path}: no such file, nor a bundled scenario{did_you_mean(p.name, names)}; bundled: "
                        f"{', '.join(names)} (or give a path to a .yaml file)")


def load_scenario(path: str | Path | None = None, variant: str | None = None,
                  sets: list[str] | None = None, representative_days: bool = True,
                  scales: dict[str, float] | None = None) -> Scenario:
    """Read and validate a scenario YAML file (the bundled default when ``path`` is None; a bare
    name picks a bundled scenario, see :func:`scenario_path`), with an optional named ``variant``
    and ``key=value`` overrides (``sets``) and scale factors (``scales``, pattern -> factor, see
    :func:`scenario_from_dict`); ``representative_days=False`` keeps every modelled day even when
    ``time.representative_days`` is set."""
    p = scenario_path(path)
    sc = scenario_from_dict(read_yaml(p), p.name, p.resolve().parent, variant, sets, representative_days, scales)
    return sc.model_copy(update={"source_file": str(p.resolve())})
