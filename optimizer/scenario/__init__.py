"""Scenario files, from YAML to a validated :class:`Scenario`, in five layers (each imports only
the ones before it):

* :mod:`~optimizer.scenario.schema` — the pydantic models, safe YAML reading, error messages;
* :mod:`~optimizer.scenario.references` — catalog entries by id, series files, demand shares,
  estimated throughput, and the checks of ids one entry names of another;
* :mod:`~optimizer.scenario.compose` — ``base:`` files, ``overrides:``, ``variants:``, ``--set``;
* :mod:`~optimizer.scenario.scales` — scale factors on groups of values (sweeps' ``uncertainty.scale``);
* :mod:`~optimizer.scenario.load` — :func:`load_scenario`: all of the above, then representative
  days (:mod:`optimizer.catalogs.days`).
"""

from optimizer.scenario.load import (
    DEFAULT_SCENARIO,
    load_scenario,
    scenario_from_dict,
    scenario_path,
)
from optimizer.scenario.scales import apply_scales
from optimizer.scenario.schema import (
    DISTRIBUTIONS,
    SERVICE_TIERS,
    Distribution,
    Gpu,
    Llm,
    Market,
    ScaleGroup,
    Scenario,
    Series,
    Site,
    TimeSpec,
    Uncertainty,
    json_schema,
    read_yaml,
)

__all__ = [
    "DEFAULT_SCENARIO",
    "DISTRIBUTIONS",
    "SERVICE_TIERS",
    "Distribution",
    "Gpu",
    "Llm",
    "Market",
    "ScaleGroup",
    "Scenario",
    "Series",
    "Site",
    "TimeSpec",
    "Uncertainty",
    "apply_scales",
    "json_schema",
    "load_scenario",
    "read_yaml",
    "scenario_from_dict",
    "scenario_path",
]
