"""The model's registries: every variable family is declared once (units, meaning, integrality,
results name) and every objective term is booked to a cost component; results, verify and the fast
method read them. The reported cost components add up to the objective for every bundled scenario,
each equals the objective's own terms, and each means what its name says (checked against the
inputs by hand)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import numpy as np
import pytest

from optimizer import SolveOptions, highs, load_scenario, solve
from optimizer.fast.pricer import INTEGER_FAMILIES
from optimizer.finance import crf
from optimizer.model import CONCERNS, FAMILIES
from optimizer.model.linear import Family
from optimizer.model.objective import COMPONENTS, gpu_crf, objective_unit_usd, site_crf
from optimizer.results import COST_TERMS, investment_values, reported_values
from optimizer.scenario.schema import Generator, Site
from optimizer.technologies import TECHNOLOGIES
from optimizer.verify import ADDITIVE, INVESTMENT_COSTS

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
TWO_DAYS = ["time={start: 2025-07-01, days: 2}"]
CASES = {p.stem: [] for p in sorted(SCENARIOS.glob("*.yaml")) if not p.name.startswith("_")}
CASES["medium_year"] = TWO_DAYS  # a full year otherwise
SLOW = {"open_market"}  # 33 sites: about 30 s
EVERY_COMPONENT = ("medium_year", TWO_DAYS + [
    "sites.us-az.solar.capex_usd_per_mw=300000", "sites.us-az.battery=null", "sites.us-az.export_price_usd_per_mwh=40",
    "carbon={price_usd_per_t: 80}", "sites.us-az.build_cost_usd_per_mw=2000000",
])
"""medium_year with every cost component non-zero: cheap solar that exports by day, grid imports by night
(no battery), a carbon price, a facility cost per MW."""
NOT_REPORTED = {"flexible_delivery": "its flows are in delivered_tokens_per_s"}
REL = 1e-9


def _solved(name: str, sets: list[str]) -> tuple:
    plan = solve(load_scenario(SCENARIOS / f"{name}.yaml", sets=sets), SolveOptions(time_limit_s=120, mip_gap=1e-2))
    assert plan.dataset is not None, plan.status
    pm = plan.model
    x = np.array([v.value for v in pm.pyomo._columns], float)
    return plan, pm, x


def _check_components(plan, pm, x) -> None:
    s, ds, b = plan.summary, plan.dataset, pm.builder
    unit = objective_unit_usd(pm.inputs)
    # the components add up to the objective: cost (signed sum of COST_TERMS) plus penalties
    assert s["cost_usd_per_year"] + s["unserved_penalty_usd_per_year"] == pytest.approx(
        s["objective_usd_per_year"], rel=REL, abs=1e-6)
    assert s["cost_usd_per_year"] == pytest.approx(sum(sign * s[key] for _, key, _, sign in COST_TERMS), rel=REL)
    # each one is the objective's own terms booked to it, evaluated on the reported solution
    xv = reported_values(b, x)
    total = 0.0
    for c in COMPONENTS:
        shape = tuple(pm.inputs.sizes[d] for d in c.dims)
        terms = b.component_cost(xv, c.name, c.dims, shape) * unit
        total += float(np.sum(terms))
        if c.result is not None:
            np.testing.assert_allclose(ds[c.result].values, c.sign * terms, rtol=REL, atol=1e-6)
            assert s[c.summary_key] == pytest.approx(float(ds[c.result].sum()), rel=REL, abs=1e-6)
        else:
            assert s[c.summary_key] == pytest.approx(c.sign * float(np.sum(terms)), rel=REL, abs=1e-6)
    # ... and together they are the whole objective, term by term
    assert total == pytest.approx(float(b.cost_vector() @ xv) * unit, rel=1e-12, abs=1e-6)
    np.testing.assert_array_equal(b.cost_vector(), highs.compile_model(pm.pyomo).c)  # what HiGHS minimised


def _check_meaning(plan, pm) -> None:
    """Each results cost variable is what its name says, from the inputs and the plan by hand."""
    ds, inp = plan.dataset, pm.inputs
    w = inp["weight_h"].values
    grid = ds["grid_import_mw"].values
    price = inp["energy_price_usd_per_mwh"].transpose("site", "time").values
    carbon = inp["carbon_kg_per_mwh"].transpose("site", "time").values
    cp = float(inp.attrs.get("carbon_price_usd_per_t", 0.0))
    close = {"rtol": 1e-8, "atol": 1e-4}
    np.testing.assert_allclose(ds["energy_cost_usd_per_year"].values, (grid * price * w).sum(axis=1), **close)
    np.testing.assert_allclose(ds["carbon_cost_usd_per_year"].values, (grid * carbon * w).sum(axis=1) / 1000 * cp,
                               **close)
    export_price = np.nan_to_num(inp["export_price_usd_per_mwh"].transpose("site", "time").values)
    np.testing.assert_allclose(ds["export_revenue_usd_per_year"].values,
                               (ds["export_mw"].values * export_price * w).sum(axis=1), **close)
    crf_s = site_crf(inp)
    np.testing.assert_allclose(
        ds["site_cost_usd_per_year"].values,
        ds["open"].values * inp["build_cost_usd"].values * crf_s
        + ds["installed_it_mw"].values * inp["build_cost_usd_per_mw"].values * crf_s, **close)
    np.testing.assert_allclose(ds["accelerator_cost_usd_per_year"].values,
                               ds["gpus"].values * inp["capex_usd_per_gpu"].values * gpu_crf(inp), **close)
    rate = inp.attrs["discount_rate"]
    onsite = np.zeros(inp.sizes["site"])
    for t in TECHNOLOGIES:
        annual = (np.nan_to_num(inp[t.capex].values) * crf(rate, np.nan_to_num(inp[t.lifetime].values, nan=1.0))
                  + np.nan_to_num(inp[t.fixed_om].values))
        onsite += ds[t.result].values * annual
    blife = crf(rate, np.nan_to_num(inp["battery_lifetime_years"].values, nan=1.0))
    onsite += (ds["battery_mwh"].values * np.nan_to_num(inp["battery_capex_usd_per_mwh"].values)
               + ds["battery_mw"].values * np.nan_to_num(inp["battery_capex_usd_per_mw"].values)) * blife
    np.testing.assert_allclose(ds["onsite_cost_usd_per_year"].values, onsite, **close)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CASES])
def test_cost_components_add_up_to_the_objective(name):
    plan, pm, x = _solved(name, CASES[name])
    _check_components(plan, pm, x)
    _check_meaning(plan, pm)


@pytest.mark.slow
def test_every_component_is_its_terms_when_none_is_zero():
    plan, pm, x = _solved(*EVERY_COMPONENT)
    for c in COMPONENTS:
        if c.in_cost:
            assert plan.summary[c.summary_key] > 0, c.name
    _check_components(plan, pm, x)
    _check_meaning(plan, pm)
    # investments read back from the results are the solution's
    fix = investment_values(plan.dataset, pm.inputs, pm.sets)
    assert list(fix) == [n for n, f in pm.builder.variables.items() if not f.family.timed]
    xv = reported_values(pm.builder, x)
    for name, values in fix.items():
        fam = pm.builder.variables[name]
        np.testing.assert_allclose(values, xv[fam.offset:fam.offset + fam.size], rtol=1e-12)


def test_every_family_is_declared_once_with_units_and_a_result():
    assert len(FAMILIES) == sum(len(c.FAMILIES) for c in CONCERNS)  # no name declared twice
    for name, f in FAMILIES.items():
        assert isinstance(f, Family) and f.name == name
        assert f.units and f.description, name
        assert f.result is not None or name in NOT_REPORTED, f"{name} has no results name"
        assert f.dims, name
        if f.result is not None:
            assert f.result_units and f.result_description, name
    results = [f.result.name for f in FAMILIES.values() if f.result is not None]
    assert len(results) == len(set(results))
    assert {f.name for f in FAMILIES.values() if f.integer} == set(INTEGER_FAMILIES) == {"open_site", "replicas"}


def test_results_report_every_family_with_its_units(tiny):
    """Every reported family is a results variable with its declared units and dims, also when
    the model does not build it (on-site families of a model without on-site options are 0)."""
    from optimizer.scenario import scenario_from_dict

    plan = solve(scenario_from_dict(tiny))
    ds, b = plan.dataset, plan.model.builder
    assert "solar_capacity" not in b.variables
    for f in FAMILIES.values():
        if f.result is None:
            continue
        da = ds[f.result.name]
        assert da.attrs["units"] == f.result_units and da.attrs["description"] == f.result_description
        assert da.dims == f.dims + (("time",) if f.timed else ())
        if f.name not in b.variables and f.name != "grid_import":  # grid_import_mw: facility power where no grid_import
            assert not da.values.any(), f.name
    for c in COMPONENTS:
        if c.result is not None:
            assert ds[c.result].dims == c.dims and ds[c.result].attrs["units"] == "USD/year"


def test_cost_components_and_verify_tables():
    assert COST_TERMS == (
        ("site", "site_cost_usd_per_year", "site_cost_usd_per_year", 1.0),
        ("accelerator", "accelerator_cost_usd_per_year", "accelerator_cost_usd_per_year", 1.0),
        ("energy", "energy_cost_usd_per_year", "energy_cost_usd_per_year", 1.0),
        ("onsite_supply", "onsite_supply_cost_usd_per_year", "onsite_cost_usd_per_year", 1.0),
        ("carbon", "carbon_cost_usd_per_year", "carbon_cost_usd_per_year", 1.0),
        ("exports", "export_revenue_usd_per_year", "export_revenue_usd_per_year", -1.0),
    )
    hourly = {c.summary_key for c in COMPONENTS if c.hourly}
    assert hourly == {"energy_cost_usd_per_year", "carbon_cost_usd_per_year", "export_revenue_usd_per_year",
                      "unserved_penalty_usd_per_year"}
    assert hourly <= set(ADDITIVE) and not hourly & set(INVESTMENT_COSTS)
    assert set(INVESTMENT_COSTS) | hourly == {c.summary_key for c in COMPONENTS}


def test_cost_terms_are_booked_to_known_components_on_matching_families(tiny):
    """Every term names a component; a component's terms are on hourly families exactly when it is
    ``hourly``, and on families laid out over the component's dims."""
    from optimizer.scenario import scenario_from_dict

    from .test_size import _onsite

    plan = solve(scenario_from_dict(_onsite(tiny)), SolveOptions(mip_gap=1e-3))
    b = plan.model.builder
    by_name = {c.name: c for c in COMPONENTS}
    starts = np.array([f.offset for f in b.variables.values()])
    fams = list(b.variables.values())
    seen = set()
    for term in b.cost:
        c = by_name[term.component]
        seen.add(c.name)
        for i in np.unique(np.searchsorted(starts, term.cols, side="right") - 1):
            f = fams[i].family
            assert f.timed == c.hourly, (term.component, f.name)
            assert set(c.dims) <= set(f.dims), (term.component, f.name)
    assert seen >= {"site", "accelerator", "energy", "onsite_supply", "exports"}


def test_technologies_are_the_schema_generators():
    """Each on-site technology is a ``Generator`` field of ``Site`` and each such field is one."""
    hints = typing.get_type_hints(Site)
    generators = [name for name, hint in hints.items() if Generator in typing.get_args(hint)]
    assert generators == [t.kind for t in TECHNOLOGIES]
    for t in TECHNOLOGIES:
        assert FAMILIES[t.family].result.name == t.result


def test_math_md_names_each_familys_results_variable():
    """docs/math.md's Variables table gives each family's results variable as the registry does."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "math.md").read_text()
    table = []
    for line in text.split("\n## Variables\n", 1)[1].splitlines():
        if line.startswith("|"):
            table.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif table:
            break
    code, results = table[0].index("code"), table[0].index("results")
    documented = {}
    for row in table[2:]:
        names = re.findall(r"`([^`]+)`", row[code])
        reported = [None] * len(names) if row[results].startswith("–") else re.findall(r"`([^`]+)`", row[results])
        assert len(reported) == len(names), row
        documented.update(zip(names, reported, strict=True))
    assert documented == {n: (f.result.name if f.result else None) for n, f in FAMILIES.items()}
