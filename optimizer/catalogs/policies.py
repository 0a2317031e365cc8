"""Dated chip-policy rule sets (``data/policies/*.yaml``): who may install which accelerator where.

A scenario names rule sets with ``policy: us-2025-12`` (or a list). A rule denies a set of
accelerators (ids, ``"*"`` for all, or ``"*foreign"`` for those not made in the site's country) in
a set of countries (or ``"*"`` with ``except_countries``), at all sites or only state-funded ones.
``extends`` includes other rule sets first. Quantity caps limit the GPUs of listed types that all
sites of one country may hold together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from optimizer.errors import ScenarioError, did_you_mean
from optimizer.resources import data_dir

POLICY_DIR = data_dir() / "policies"


@dataclass(frozen=True)
class Rule:
    gpus: tuple[str, ...]
    countries: tuple[str, ...]
    except_countries: tuple[str, ...] = ()
    sites: str = "all"  # all | state_funded
    note: str = ""
    source: str = ""


@dataclass(frozen=True)
class QuantityCap:
    gpus: tuple[str, ...]
    country: str
    max_gpus: int
    source: str = ""


@dataclass(frozen=True)
class RuleSet:
    id: str
    name: str
    effective: str
    rules: tuple[Rule, ...] = ()
    quantity_caps: tuple[QuantityCap, ...] = ()
    description: str = ""
    sources: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def available() -> list[str]:
    """Ids of the bundled rule sets."""
    return sorted(p.stem for p in POLICY_DIR.glob("*.yaml"))


def load(policy_id: str, _seen: tuple[str, ...] = ()) -> RuleSet:
    """A rule set with everything it extends folded in (extended rules first)."""
    path = POLICY_DIR / f"{policy_id}.yaml"
    if not path.exists():
        raise ScenarioError(f"policy: unknown rule set {policy_id!r}{did_you_mean(policy_id, available())}; "
                            f"available: {', '.join(available())}")
    if policy_id in _seen:
        raise ScenarioError(f"{path.name}: extends forms a cycle: {' -> '.join((*_seen, policy_id))}")
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    rules: list[Rule] = []
    caps: list[QuantityCap] = []
    for parent in d.get("extends") or []:
        p = load(parent, (*_seen, policy_id))
        rules.extend(p.rules)
        caps.extend(p.quantity_caps)
    for r in d.get("rules") or []:
        if r.get("action", "deny") != "deny":
            raise ScenarioError(f"{path.name}: rules: only action 'deny' is supported, got {r.get('action')!r}")
        rules.append(Rule(tuple(r["gpus"]), tuple(r["countries"]), tuple(r.get("except_countries") or ()),
                          r.get("sites", "all"), str(r.get("note", "")).strip(), str(r.get("source", ""))))
    for c in d.get("quantity_caps") or []:
        caps.append(QuantityCap(tuple(c["gpus"]), c["country"], int(c["max_gpus"]), str(c.get("source", ""))))
    return RuleSet(d["id"], d.get("name", d["id"]), str(d.get("effective", "")), tuple(rules), tuple(caps),
                   str(d.get("description", "")).strip(), tuple(d.get("sources") or ()))


def denied_mask(
    rule_sets: list[RuleSet],
    site_country: np.ndarray,
    site_state_funded: np.ndarray,
    gpu_ids: list[str],
    gpu_made_in: list[str | None],
) -> np.ndarray:
    """(site, gpu) True where some rule denies the accelerator at the site."""
    site_country = np.asarray(site_country, dtype=str)
    site_state_funded = np.asarray(site_state_funded, dtype=bool)
    ns, ng = len(site_country), len(gpu_ids)
    out = np.zeros((ns, ng), bool)
    made = np.array([m or "" for m in gpu_made_in])
    for rs in rule_sets:
        for r in rs.rules:
            in_country = (np.ones(ns, bool) if "*" in r.countries else np.isin(site_country, r.countries))
            in_country &= ~np.isin(site_country, r.except_countries)
            if r.sites == "state_funded":
                in_country &= site_state_funded
            if "*" in r.gpus:
                hit = np.ones((ns, ng), bool)
            else:
                hit = np.zeros((ns, ng), bool)
                hit[:, np.isin(gpu_ids, r.gpus)] = True
                if "*foreign" in r.gpus:
                    hit |= (made[None, :] != site_country[:, None]) & (made[None, :] != "")
            out |= in_country[:, None] & hit
    return out
