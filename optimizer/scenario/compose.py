"""Scenario composition: ``base:`` files, ``overrides:``, named ``variants:`` and ``--set`` values.

* ``base: world.yaml`` — the scenario is the base file (relative to this one) with this file's keys
  merged over it (mappings merge key by key; anything else replaces).
* ``overrides: {sites.cn-nmg.energy_price_usd_per_mwh: 30}`` — dot-keys applied to the merged file.
* ``variants: {cheap_power: {sites.cn-nmg.energy_price_usd_per_mwh: 30}}`` — named override sets,
  chosen with ``--variant`` (also a list of one-key mappings is accepted).
* ``--set key=value`` on the CLI (value read as YAML).

Two sources setting the same key (or one a prefix of the other) is an error naming both.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from optimizer.errors import ScenarioError, did_you_mean
from optimizer.resources import data_dir
from optimizer.scenario.schema import read_yaml

Override = tuple[str, Any, str]  # (dot-key, value, where it came from)


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: mappings merge recursively, other values replace."""
    out = copy.deepcopy(base)
    for k, v in top.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def apply_base(raw: dict[str, Any], base_dir: Path, file: str, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Merge the scenario over its ``base:`` file (recursively)."""
    if "base" not in raw:
        return raw
    ref = raw["base"]
    if not isinstance(ref, str):
        raise ScenarioError(f"{file}: base: must be a file name, got {ref!r}")
    path = (base_dir / ref).resolve()
    if not Path(ref).is_absolute() and not any(path.is_relative_to(r) for r in (base_dir.resolve(), data_dir().resolve())):
        raise ScenarioError(f"{file}: base: {ref} is outside the scenario's folder and the project's data folder; "
                            "give an absolute path to use it")
    if path in _seen:
        raise ScenarioError(f"{file}: base: {ref} includes itself ({' -> '.join(p.name for p in (*_seen, path))})")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError(f"{path.name}: a base scenario must be a mapping of keys")
    data = apply_base(data, path.parent, path.name, (*_seen, path))
    top = {k: v for k, v in raw.items() if k != "base"}
    if "overrides" in data and "overrides" in top:  # both layers' overrides stay, conflicts are caught later
        top["overrides"] = {**_as_mapping(data["overrides"], path.name, "overrides"),
                            **_as_mapping(top["overrides"], file, "overrides")}
    return deep_merge(data, top)


def _as_mapping(v: Any, file: str, where: str) -> dict[str, Any]:
    if v is None:
        return {}
    if isinstance(v, dict):
        return v
    if isinstance(v, list) and all(isinstance(x, dict) and len(x) == 1 for x in v):
        out: dict[str, Any] = {}
        for x in v:
            (k, val), = x.items()
            if k in out:
                raise ScenarioError(f"{file}: {where}: key {k} is set twice")
            out[k] = val
        return out
    raise ScenarioError(f"{file}: {where}: must map dot-keys to values, got {v!r}")


def parse_set(items: list[str] | None) -> list[Override]:
    """``key=value`` strings from ``--set`` (value read as YAML)."""
    out: list[Override] = []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ScenarioError(f"--set {item!r}: expected key=value, e.g. sites.us-ercot.grid_limit_mw=500")
        try:
            out.append((key.strip(), yaml.safe_load(value), f"--set {key.strip()}"))
        except yaml.YAMLError as exc:
            raise ScenarioError(f"--set {item!r}: value is not valid YAML: {exc}") from None
    return out


def collect(raw: dict[str, Any], file: str, variant: str | None, sets: list[Override]) -> list[Override]:
    """All overrides that apply, in order: ``overrides``, the chosen variant, ``--set``."""
    found = [(k, v, "overrides") for k, v in _as_mapping(raw.get("overrides"), file, "overrides").items()]
    variants = raw.get("variants") or {}
    if not isinstance(variants, dict):
        raise ScenarioError(f"{file}: variants: must map variant names to overrides, got {variants!r}")
    if variant is not None:
        if variant not in variants:
            known = f"; variants: {', '.join(variants)}" if variants else "; the scenario defines no variants"
            raise ScenarioError(f"{file}: --variant {variant!r}: unknown variant{did_you_mean(variant, variants)}{known}")
        where = f"variants.{variant}"
        found += [(k, v, where) for k, v in _as_mapping(variants[variant], file, where).items()]
    found += sets
    problems = []
    for i, (k1, _, o1) in enumerate(found):
        for k2, _, o2 in found[i + 1:]:
            if k1 == k2 or k2.startswith(k1 + ".") or k1.startswith(k2 + "."):
                problems.append(f"{file}: override conflict: {k1} ({o1}) and {k2} ({o2}) set the same key")
    if problems:
        raise ScenarioError(problems)
    return found


def apply(raw: dict[str, Any], overrides: list[Override], file: str) -> dict[str, Any]:
    """Set each dot-key in a copy of ``raw`` (creating mappings on the way)."""
    out = copy.deepcopy({k: v for k, v in raw.items() if k not in ("overrides", "variants")})
    for key, value, origin in overrides:
        parts = key.split(".")
        node = out
        for depth, p in enumerate(parts[:-1]):
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                where = ".".join(parts[: depth + 1])
                raise ScenarioError(f"{file}: {origin}: cannot set {key}: {where} is {nxt!r}, not a mapping")
            node = nxt
        node[parts[-1]] = copy.deepcopy(value)
    return out


def compose(raw: dict[str, Any], base_dir: Path, file: str, variant: str | None = None,
            sets: list[str] | None = None) -> dict[str, Any]:
    """The scenario mapping after ``base``, ``overrides``, the variant and ``--set`` values."""
    merged = apply_base(raw, base_dir, file)
    out = apply(merged, collect(merged, file, variant, parse_set(sets)), file)
    if variant is not None and isinstance(out.get("name"), str):
        out["name"] = f"{out['name']}+{variant}"
    return out
