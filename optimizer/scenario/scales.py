"""Scale factors on a resolved scenario mapping: :func:`apply_scales`.

A sweep's ``uncertainty: {scale: ...}`` groups (:class:`~optimizer.scenario.schema.ScaleGroup`)
multiply whole groups of values by one factor per case, e.g. every throughput of an accelerator or
every site's energy price. They act on the mapping after catalog includes, series files and the
throughput estimator (:func:`optimizer.scenario.references.resolve`) and before validation, so a
catalog site's hourly prices or an estimated rate are scaled like values written in the file.

A pattern is a dot path whose parts may hold ``*`` wildcards (``fnmatch``: ``gb*`` matches ``gb200``
and ``gb300``): ``sites.*.energy_price_usd_per_mwh``, ``llms.*.throughput.gb200``,
``gpus.*.capex_usd_per_gpu``. At a list, a part is an index, ``*`` (every item) or a key looked up in
every mapping of the list (``llms.*.throughput.*.output_tokens_per_s``: the output rates only).
What a pattern reaches is scaled by kind:

* a number is multiplied; a list of numbers (an hourly series) has every element multiplied;
* a throughput deployment (a mapping of :class:`~optimizer.scenario.schema.Throughput` fields), or
  a list of them, has ``output_tokens_per_s`` and ``input_tokens_per_s`` multiplied; a deployment
  without rates (one the estimator could not fill) is left as it is;
* ``None`` (an optional value not set) is left; anything else (text, another mapping) is an error.

A pattern that matches nothing is allowed (scale groups are shared by scenarios with different
sites and accelerators) and logged at DEBUG. Two patterns reaching the same value both apply
(their factors multiply). A factor must be a finite number > 0.
"""

from __future__ import annotations

import copy
import fnmatch
import logging
import math
from typing import Any

from optimizer.errors import ScenarioError
from optimizer.scenario.schema import Throughput

log = logging.getLogger(__name__)

RATES = ("output_tokens_per_s", "input_tokens_per_s")
"""The fields of a throughput deployment a scale multiplies."""

_DEPLOYMENT_FIELDS = frozenset(Throughput.model_fields)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _is_deployment(x: Any) -> bool:
    return isinstance(x, dict) and bool(x) and set(x) <= _DEPLOYMENT_FIELDS


def _match(node: Any, parts: list[str], path: str, hits: list[tuple[Any, Any, str]]) -> None:
    """Collect ``(container, key, path)`` of every value ``parts`` reach from ``node``."""
    if not parts:
        return
    part, rest = parts[0], parts[1:]
    children: list[tuple[Any, str]] = []
    if isinstance(node, dict):
        if any(c in part for c in "*?["):
            children = [(k, f"{path}.{k}" if path else str(k)) for k in node
                        if isinstance(k, str) and fnmatch.fnmatchcase(k, part)]
        elif part in node:
            children = [(part, f"{path}.{part}" if path else part)]
    elif isinstance(node, list):
        if part.isdigit():
            if int(part) < len(node):
                children = [(int(part), f"{path}[{part}]")]
        elif part == "*":
            children = [(i, f"{path}[{i}]") for i in range(len(node))]
        else:  # a key of every mapping in the list (e.g. of each deployment)
            for i, item in enumerate(node):
                _match(item, parts, f"{path}[{i}]", hits)
            return
    for key, where in children:
        if rest:
            _match(node[key], rest, where, hits)
        else:
            hits.append((node, key, where))


def _scaled(v: Any, factor: float, where: str, problems: list[str]) -> Any:
    if v is None:
        return v
    if _is_number(v):
        return v * factor
    if _is_deployment(v):
        return {k: x * factor if k in RATES and _is_number(x) else x for k, x in v.items()}
    if isinstance(v, list):
        if all(_is_number(x) for x in v):
            return [x * factor for x in v]
        if all(_is_deployment(x) for x in v):
            return [_scaled(x, factor, where, problems) for x in v]
    kind = "a mapping" if isinstance(v, dict) else "a list" if isinstance(v, list) else repr(v)
    problems.append(f"{where} is {kind}; a scale multiplies numbers, hourly series and throughput deployments")
    return v


def apply_scales(data: dict[str, Any], scales: dict[str, float], file: str) -> dict[str, Any]:
    """A copy of the resolved scenario mapping ``data`` with each pattern's values multiplied by its
    factor (see the module docstring); raise :class:`ScenarioError` naming ``file`` for a factor
    that is not a number > 0 or a pattern that reaches a value no factor applies to."""
    if not scales:
        return data
    problems: list[str] = []
    for pattern, factor in scales.items():
        if not isinstance(pattern, str) or not pattern or any(not p for p in pattern.split(".")):
            problems.append(f"{file}: scale pattern {pattern!r}: not a dot path (e.g. sites.*.energy_price_usd_per_mwh)")
        elif not _is_number(factor) or not math.isfinite(factor) or factor <= 0:
            problems.append(f"{file}: scale {pattern}: factor must be a number > 0, got {factor!r}")
    if problems:
        raise ScenarioError(problems)
    out = copy.deepcopy(data)
    for pattern, factor in scales.items():
        hits: list[tuple[Any, Any, str]] = []
        _match(out, pattern.split("."), "", hits)
        if not hits:
            log.debug("%s: scale pattern %r matches nothing", file, pattern)
        for container, key, where in hits:
            found: list[str] = []
            container[key] = _scaled(container[key], float(factor), where, found)
            problems += [f"{file}: scale {pattern}: {p}" for p in found]
    if problems:
        raise ScenarioError(problems)
    return out
