"""docs/math.md and the model builder name the same families: every variable and row family that
``build_model`` (and the relaxation's ``extra``) adds is named in the document, and every family the
document names is built by some scenario below."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest

from optimizer.fast.relax import relaxed_model
from optimizer.inputs import build_inputs
from optimizer.model import build_model
from optimizer.model.sets import build_sets
from optimizer.scenario import scenario_from_dict

MATH = Path(__file__).resolve().parents[1] / "docs" / "math.md"
SUN = [1.0] * 12 + [0.0] * 12
WIND = [0.3] * 24


def _unserved(d: dict) -> None:
    d["unserved_penalty_usd_per_mtok"] = 50


def _supply_cap(d: dict) -> None:
    d["supply_caps"] = [{"gpus": ["h100"], "country": "US", "max_gpus": 100}]


def _deferrable(d: dict) -> None:
    d["llms"]["llama-70b"]["deferrable_share"] = 0.3


def _onsite_with_exports(d: dict) -> None:
    """Solar, wind and a battery at a site with an export price: the on-site battery pool too."""
    d["sites"]["texas"].update(
        solar={"capex_usd_per_mw": 800000, "capacity_factor": SUN},
        wind={"capex_usd_per_mw": 1.2e6, "capacity_factor": WIND},
        battery={"capex_usd_per_mwh": 200000, "capex_usd_per_mw": 50000},
        export_price_usd_per_mwh=40,
    )


def _carbon_cap(d: dict) -> None:
    d["carbon"] = {"cap_t_per_year": 1000}


def _carbon_cap_country(d: dict) -> None:
    d["carbon"] = {"cap_t_per_year_by_country": {"US": 1000}}


def _hourly_matching(d: dict) -> None:
    """One site with solar (matched on site) and one grid-only site (which may then draw nothing)."""
    d["sites"]["texas"]["solar"] = {"capex_usd_per_mw": 800000, "capacity_factor": SUN}
    d["sites"]["ohio"] = {**copy.deepcopy(d["sites"]["texas"]), "energy_price_usd_per_mwh": 50}
    d["sites"]["ohio"].pop("solar")
    d["latency_ms"]["ohio"] = {"us-east": 20}
    d["carbon"] = {"hourly_matching": 0.5}


VARIANTS = [_unserved, _supply_cap, _deferrable, _onsite_with_exports, _carbon_cap, _carbon_cap_country,
            _hourly_matching]


def _families(pm) -> tuple[set[str], set[str]]:
    return set(pm.builder.variables), set(pm.builder.rows)


@pytest.fixture
def built(tiny) -> dict[str, tuple[set[str], set[str]]]:
    """Variable and row families built: ``core`` over tiny and tiny with each variant, ``relax`` the
    families the time-aggregated relaxation (its peak-hour rows, through ``build_model(extra=...)``)
    adds to them, on tiny with an unserved penalty."""
    variables: set[str] = set()
    rows: set[str] = set()
    for change in [None, *VARIANTS]:
        d = copy.deepcopy(tiny)
        if change is not None:
            change(d)
        v, r = _families(build_model(build_inputs(scenario_from_dict(d))))
        variables |= v
        rows |= r
    _unserved(tiny)
    inputs = build_inputs(scenario_from_dict(tiny))
    v, r = _families(relaxed_model(inputs, build_sets(inputs), np.repeat([0, 1], 12), peak_hours=2)[0])
    return {"core": (variables, rows), "relax": (v - variables, r - rows)}


def documented() -> tuple[set[str], set[str]]:
    """The families docs/math.md names, as (variables, rows), by this rule:

    * variables: every code span in the "code" column of the first table after the "## Variables"
      heading (a cell may hold several, e.g. `` `solar_capacity`, `wind_capacity` ``);
    * rows: every bold code span, ``**`name`**``, anywhere in the document: the form in which the
      "## Constraints" section introduces each constraint family, and used for nothing else.

    The relaxation's families (``peak_cover``, ``peak_site_cover``, ``peak_unserved``,
    ``peak_unserved_link``, section "Time-aggregation relaxation") are named in plain code font, as
    they are not part of the planning model; they are checked in the direction builder -> document.
    """
    text = MATH.read_text()
    rows = set(re.findall(r"\*\*`([^`]+)`\*\*", text))
    table = []
    for line in text.split("\n## Variables\n", 1)[1].splitlines():
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table]
    col = cells[0].index("code")
    variables = {name for row in cells[2:] for name in re.findall(r"`([^`]+)`", row[col])}  # after |---|
    return variables, rows


def test_every_built_family_is_named_in_math_md(built):
    """Each family is named in code font; those of the planning model in the Variables table or as
    a constraint heading (bold), those only the relaxation adds anywhere in the text."""
    text = MATH.read_text()
    doc_vars, doc_rows = documented()
    variables, rows = built["core"]
    assert not variables - doc_vars, f"variables not in docs/math.md's Variables table: {sorted(variables - doc_vars)}"
    assert not rows - doc_rows, f"constraints not named (**`name`**) in docs/math.md: {sorted(rows - doc_rows)}"
    extra = set().union(*built["relax"])
    assert extra, "the relaxation added no families"
    missing = sorted(name for name in extra if f"`{name}`" not in text)
    assert not missing, f"relaxation families not named in docs/math.md: {missing}"


def test_every_family_math_md_names_is_built(built):
    doc_vars, doc_rows = documented()
    assert len(doc_vars) >= 15 and len(doc_rows) >= 20  # the parse found the table and the section
    variables, rows = built["core"]
    assert not doc_vars - variables, f"variables in docs/math.md no scenario builds: {sorted(doc_vars - variables)}"
    assert not doc_rows - rows, f"constraints in docs/math.md no scenario builds: {sorted(doc_rows - rows)}"
