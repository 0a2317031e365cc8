"""The cases of a sweep (:func:`cases_for`) and loading one case as a scenario (:func:`load_case`).

A case is one scenario (a file or bundled name, with an optional ``#variant``) with dot-key values
applied as ``--set`` and scale factors of its ``uncertainty: {scale: ...}`` groups
(:mod:`optimizer.scenario.scales`). The designs:

* ``single`` — the scenario as it is (neither ``--grid`` nor ``--samples``);
* ``grid`` — the cross product of ``--grid KEY=V1,V2,...`` values (:func:`parse_grid`);
* ``sample`` — ``--samples N``: a Latin hypercube of N rows (``scipy.stats.qmc.LatinHypercube``,
  seeded) over the sorted union of the uncertain variables of all given scenarios, each column
  mapped through its variable's (truncated) inverse CDF (:func:`quantile`). Sample ``i`` of every
  scenario uses the same uniform for the same variable (common random numbers), so differences
  between scenarios are not sampling noise;
* ``oat`` — one at a time, for tornado charts (with ``--samples`` unless ``oat=False``): a base case
  with every uncertain variable at its nominal value (:attr:`Distribution.nominal
  <optimizer.scenario.schema.Distribution.nominal>`), then per variable a low (5th percentile) and a
  high (95th percentile) case with the others at nominal.

``--grid`` with ``--samples`` gives the samples and OAT cases at every grid point. The same
arguments and seed give the same cases and ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError

from optimizer.errors import ScenarioError
from optimizer.scenario.compose import compose
from optimizer.scenario.load import load_scenario, scenario_path
from optimizer.scenario.schema import Distribution, Scenario, Uncertainty, format_error, read_yaml

DESIGNS = ("grid", "sample", "oat", "single")
OAT_LOW, OAT_HIGH = 0.05, 0.95
"""The percentiles of the one-at-a-time low and high cases."""

SCALE_PREFIX = "scale."
"""Swept-key name of a scale group: ``scale.<group>``."""


@dataclass(frozen=True)
class Case:
    """One solve of a sweep. ``values`` are applied as ``--set key=value``; ``scales`` name groups of
    the scenario's ``uncertainty.scale`` block and their factors."""

    scenario: str
    """The scenario argument as given (a path or a bundled name), without ``#variant``."""
    variant: str | None
    values: tuple[tuple[str, Any], ...]
    """Dot-key -> value, sorted by key; applied as ``--set``."""
    scales: tuple[tuple[str, float], ...]
    """Scale group name -> factor, sorted by name."""
    design: str
    """``grid``, ``sample``, ``oat`` or ``single``."""
    sample: int
    """Sample index (the same row of the hypercube for every scenario); -1 if none."""
    oat_key: str = ""
    """OAT: the variable varied (a dot-key or ``scale.<group>``); "" for the base case."""
    oat_side: str = ""
    """OAT: ``base``, ``low`` or ``high``."""
    label: str = ""
    """The scenario's label (its file's name, plus ``#variant``), for tables and charts."""

    @property
    def id(self) -> str:
        """Stable and filesystem-safe: ``<label>-<design>-<sha1 of scenario, variant, values, scales>``."""
        payload = json.dumps([self.scenario, self.variant, [[k, _thaw(v)] for k, v in self.values],
                              [[g, f] for g, f in self.scales]], sort_keys=True, default=str)
        digest = hashlib.sha1(payload.encode()).hexdigest()[:10]
        return f"{_slug(self.label or Path(self.scenario).stem)}-{self.design}-{digest}"

    @property
    def sets(self) -> list[str]:
        """``values`` as ``--set`` strings (values written as YAML)."""
        return [f"{k}={_yaml_text(v)}" for k, v in self.values]


# --------------------------------------------------------------------------- values


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-.")
    return s[:60] or "scenario"


def _freeze(v: Any) -> Any:
    """A value as a case holds it: lists as tuples (hashable), dates as ISO text, numpy as Python."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, list | tuple):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    return v


def _thaw(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_thaw(x) for x in v]
    if isinstance(v, dict):
        return {k: _thaw(x) for k, x in v.items()}
    return v


def _yaml_text(v: Any) -> str:
    """A value as YAML text that reads back as the same value (floats exactly)."""
    text = yaml.safe_dump(_thaw(v), default_flow_style=True, width=1 << 30).strip()
    return text[:-3].strip() if text.endswith("\n...") else text


def _dot_key(key: str, where: str) -> None:
    if not key or any(not p for p in key.split(".")) or "*" in key:
        raise ScenarioError(f"{where}: {key!r} is not a dot-key (e.g. sites.us-ercot.grid_limit_mw)")


def parse_grid(items: list[str] | None) -> dict[str, list[Any]]:
    """``--grid KEY=V1,V2,...`` strings as dot-key -> values, in the order given.

    Values are read as YAML (as ``--set`` reads its value), separated by commas outside brackets
    and quotes; the list may also be written in brackets (``KEY=[V1, V2]``), so a list-valued value
    needs its own brackets (``policy=[[us-export-2025], [none]]``). A key given twice, keys that
    overlap (one contains the other), no values or a repeated value are errors."""
    out: dict[str, list[Any]] = {}
    for item in items or []:
        key, sep, rhs = str(item).partition("=")
        key, text = key.strip(), rhs.strip()
        if not sep or not key or not text:
            raise ScenarioError(f"--grid {item!r}: expected KEY=V1,V2,..., e.g. sites.us-ercot.grid_limit_mw=100,200")
        _dot_key(key, f"--grid {item!r}")
        if key in out:
            raise ScenarioError(f"--grid {key}: given twice; list all its values in one --grid")
        for other in out:
            if other.startswith(key + ".") or key.startswith(other + "."):
                raise ScenarioError(f"--grid {key} and --grid {other} overlap (one contains the other)")
        try:
            parsed = yaml.safe_load(f"[{text}]")
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ScenarioError(f"--grid {item!r}: the values are not valid YAML ({problem})") from None
        values = parsed[0] if len(parsed) == 1 and isinstance(parsed[0], list) and text.startswith("[") else parsed
        if not values:
            raise ScenarioError(f"--grid {key}: no values")
        frozen = [_freeze(v) for v in values]
        texts = [_yaml_text(float(v) if isinstance(v, int) and not isinstance(v, bool) else v) for v in frozen]
        for i, v in enumerate(frozen):
            if texts[i] in texts[:i]:  # 1 and 1.0 are the same value, 1 and true are not
                raise ScenarioError(f"--grid {key}: value {_yaml_text(v)} is given twice")
        out[key] = frozen
    return out


# --------------------------------------------------------------------------- distributions


def quantile(dist: Distribution, q: float | np.ndarray) -> float | np.ndarray:
    """The ``q`` quantile(s) of an uncertain variable: the (truncated) inverse CDF (``scipy.stats``).

    uniform: linear; triangular: ``triang``; normal: ``truncnorm`` (untruncated when no bounds);
    lognormal: ``exp`` of a truncated normal of the log (median, sigma), bounds taken in log space."""
    from scipy import stats

    qa = np.asarray(q, dtype=float)
    if ((qa < 0) | (qa > 1)).any():
        raise ValueError(f"quantiles must be within 0..1, got {q!r}")
    lo = -math.inf if dist.low is None else float(dist.low)
    hi = math.inf if dist.high is None else float(dist.high)
    d = dist.distribution
    if d == "uniform":
        x = lo + qa * (hi - lo)
    elif d == "triangular":
        c = (float(dist.mode) - lo) / (hi - lo)  # type: ignore[arg-type]
        x = stats.triang.ppf(qa, c, loc=lo, scale=hi - lo)
    elif d == "normal":
        mean, sd = float(dist.mean), float(dist.sd)  # type: ignore[arg-type]
        x = stats.truncnorm.ppf(qa, (lo - mean) / sd, (hi - mean) / sd, loc=mean, scale=sd)
    elif d == "lognormal":
        mu, sigma = math.log(float(dist.median)), float(dist.sigma)  # type: ignore[arg-type]
        a = -math.inf if dist.low is None else (math.log(lo) - mu) / sigma
        b = math.inf if dist.high is None else (math.log(hi) - mu) / sigma
        x = np.exp(stats.truncnorm.ppf(qa, a, b, loc=mu, scale=sigma))
    else:  # the schema allows no other
        raise ValueError(f"unknown distribution {d!r}")
    x = np.clip(x, lo, hi)
    return float(x) if np.ndim(x) == 0 else x


def nominal(dist: Distribution) -> float:
    """The base-case value: midpoint (uniform), mode (triangular), mean (normal), median (lognormal)."""
    return dist.nominal


# --------------------------------------------------------------------------- scenarios


def split_item(item: str) -> tuple[str, str | None]:
    """``path#variant`` -> (path, variant); no ``#`` -> (path, None)."""
    path, sep, variant = str(item).partition("#")
    if not path.strip() or (sep and not variant.strip()):
        raise ScenarioError(f"{item!r}: expected a scenario file or bundled name, optionally with #variant")
    return path.strip(), (variant.strip() if sep else None)


def _labels(items: list[tuple[str, str | None]]) -> list[str]:
    """Each scenario's label: its file's stem (``tiny``, ``china_token_export``) plus ``#variant``;
    the argument as given where two different arguments share a stem."""
    stems = [Path(p).stem for p, _ in items]
    out = []
    for (p, v), stem in zip(items, stems, strict=True):
        clash = any(s == stem and q != p for (q, _), s in zip(items, stems, strict=True))
        out.append((p if clash else stem) + (f"#{v}" if v else ""))
    return out


def uncertainty_block(scenario: str, variant: str | None = None) -> Uncertainty | None:
    """The scenario's ``uncertainty:`` block after ``base``, ``overrides`` and the variant, without
    resolving catalogs (cheap: what :func:`load_case` needs to turn groups into patterns)."""
    p = scenario_path(scenario)
    raw = read_yaml(p)
    if not isinstance(raw, dict):
        raise ScenarioError(f"{p.name}: the scenario must be a mapping of keys")
    block = compose(raw, p.resolve().parent, p.name, variant).get("uncertainty")
    if block is None:
        return None
    try:
        return Uncertainty.model_validate(block)
    except ValidationError as exc:
        raise ScenarioError([format_error({**e, "loc": ("uncertainty", *e["loc"])}, p.name)  # type: ignore[typeddict-item]
                             for e in exc.errors()]) from None


def _check_overrides(path: str, variant: str | None, values: dict[str, Any]) -> None:
    """Compose the scenario with one case's values (cheap: no catalogs): a swept key that the
    scenario's ``overrides:`` or variant also sets, or one that cannot be set, fails here, before
    any case is solved."""
    if not values:
        return
    p = scenario_path(path)
    raw = read_yaml(p)
    if not isinstance(raw, dict):
        raise ScenarioError(f"{p.name}: the scenario must be a mapping of keys")
    sets = [f"{k}={_yaml_text(_freeze(v))}" for k, v in values.items()]
    try:
        compose(raw, p.resolve().parent, p.name, variant, sets)
    except ScenarioError as exc:
        raise ScenarioError([re.sub(r"\(--set ([^)]*)\)", "(swept: --grid or uncertainty)", m)
                             .replace(": --set ", ": swept key ") for m in exc.messages]) from None


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _case(path: str, variant: str | None, label: str, values: dict[str, Any], scales: dict[str, float],
          design: str, sample: int = -1, oat_key: str = "", oat_side: str = "") -> Case:
    return Case(path, variant, tuple(sorted((k, _freeze(v)) for k, v in values.items())),
                tuple(sorted((g, float(f)) for g, f in scales.items())), design, sample, oat_key, oat_side, label)


def _split(variables: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Variable values as (dot-key values, scale group factors)."""
    keys = {k: v for k, v in variables.items() if not k.startswith(SCALE_PREFIX)}
    groups = {k[len(SCALE_PREFIX):]: v for k, v in variables.items() if k.startswith(SCALE_PREFIX)}
    return keys, groups


def cases_for(scenarios: list[str], grid: list[str] | None = None, samples: int | None = None, seed: int = 0,
              oat: bool = True) -> list[Case]:
    """The cases of a sweep of ``scenarios`` (``path`` or ``path#variant``); see the module docstring.

    Per scenario and grid point: with ``samples``, the OAT cases first (when ``oat``), then the
    samples 0..N-1; without, one ``grid`` case (or one ``single`` case with no grid). With
    ``samples`` each scenario is loaded once (to read and check its ``uncertainty:`` block); a
    scenario without one, or a grid key that is also one of its uncertain keys, is an error. The
    first case's values are composed with each scenario (no catalogs), so a swept key its
    ``overrides:`` or variant also sets is an error here rather than in every case."""
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    if not scenarios:
        raise ScenarioError("a sweep needs at least one scenario")
    items = [split_item(s) for s in scenarios]
    for i, it in enumerate(items):
        if it in items[:i]:
            raise ScenarioError(f"{scenarios[i]}: the scenario is given twice")
    labels = _labels(items)
    grid_values = parse_grid(grid)
    points = [dict(zip(grid_values, combo, strict=True)) for combo in itertools.product(*grid_values.values())]
    if samples is None:
        design = "grid" if grid_values else "single"
        for path, variant in items:
            _check_overrides(path, variant, points[0])
        return _unique([_case(p, v, label, point, {}, design) for (p, v), label in zip(items, labels, strict=True)
                        for point in points])
    if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 0:
        raise ScenarioError(f"--samples: must be a whole number >= 0, got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ScenarioError(f"--seed: must be a whole number >= 0, got {seed!r}")
    if samples == 0 and not oat:
        raise ScenarioError("--samples 0 without the one-at-a-time cases gives no cases")
    blocks: list[dict[str, Distribution]] = []
    for (path, variant), arg in zip(items, scenarios, strict=True):
        sc = load_scenario(path, variant, representative_days=False)
        file = Path(sc.source_file or path).name
        variables = sc.uncertainty.variables if sc.uncertainty is not None else {}
        if not variables:
            raise ScenarioError(f"{file}: --samples needs an uncertainty: block (distributions of dot-keys or "
                                f"scale: groups) in the scenario; {arg} has none")
        for g in grid_values:
            clash = [k for k in variables if not k.startswith(SCALE_PREFIX) and _overlaps(g, k)]
            if clash:
                raise ScenarioError(f"{file}: --grid {g} overlaps uncertainty.{clash[0]}: sweep a key either on a "
                                    "grid or as uncertain, not both")
        _check_overrides(path, variant, {**points[0], **_split({k: d.nominal for k, d in variables.items()})[0]})
        blocks.append(variables)
    columns = sorted(set().union(*blocks))
    u = _hypercube(len(columns), int(samples), int(seed))
    cases: list[Case] = []
    for (path, variant), label, variables in zip(items, labels, blocks, strict=True):
        drawn = {name: np.atleast_1d(quantile(d, u[:, columns.index(name)])) for name, d in variables.items()}
        base = {name: d.nominal for name, d in variables.items()}
        for point in points:
            if oat:
                keys, groups = _split(base)
                cases.append(_case(path, variant, label, {**point, **keys}, groups, "oat", oat_side="base"))
                for name, d in variables.items():
                    for side, q in (("low", OAT_LOW), ("high", OAT_HIGH)):
                        keys, groups = _split({**base, name: quantile(d, q)})
                        cases.append(_case(path, variant, label, {**point, **keys}, groups, "oat",
                                           oat_key=name, oat_side=side))
            for i in range(samples):
                keys, groups = _split({name: float(x[i]) for name, x in drawn.items()})
                cases.append(_case(path, variant, label, {**point, **keys}, groups, "sample", sample=i))
    return _unique(cases)


def _hypercube(d: int, n: int, seed: int) -> np.ndarray:
    """An n x d Latin hypercube on [0, 1) (one point in each of the n strata of every column)."""
    if n == 0:
        return np.empty((0, d))
    from scipy.stats import qmc

    return qmc.LatinHypercube(d=d, seed=seed).random(n)


def _unique(cases: list[Case]) -> list[Case]:
    seen: dict[str, Case] = {}
    for c in cases:
        if c.id in seen:
            raise ScenarioError(f"two cases of the sweep are the same ({c.id}): check the grid values")
        seen[c.id] = c
    return cases


def load_case(case: Case) -> Scenario:
    """The case as a validated scenario: ``load_scenario`` of its scenario and variant with its
    values as ``--set`` and its scale groups' patterns (from the scenario's ``uncertainty.scale``)
    multiplied by their factors. The scenario keeps its own name; the runner names folders by
    :attr:`Case.id`."""
    patterns: dict[str, float] = {}
    if case.scales:
        block = uncertainty_block(case.scenario, case.variant)
        groups = block.scale if block is not None else {}
        for g, f in case.scales:
            if g not in groups:
                raise ScenarioError(f"{Path(case.scenario).name}: case {case.id}: scale group {g!r} is not in the "
                                    "scenario's uncertainty.scale block")
            for pattern in groups[g].applies_to:
                patterns[pattern] = patterns.get(pattern, 1.0) * float(f)
    return load_scenario(case.scenario, case.variant, sets=case.sets or None, scales=patterns or None)


def swept_keys(cases: list[Case]) -> list[str]:
    """The coordinate names of a sweep: every dot-key a case sets (sorted), then ``scale.<group>``
    of every scale group (sorted)."""
    keys = {k for c in cases for k, _ in c.values}
    groups = {f"{SCALE_PREFIX}{g}" for c in cases for g, _ in c.scales}
    return sorted(keys) + sorted(groups)
