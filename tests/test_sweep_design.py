"""Sweep design (optimizer.sweeps.design): grids, Latin-hypercube samples of a scenario's
``uncertainty:`` block, one-at-a-time cases, scale factors (optimizer.scenario.scales), loading a case."""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from optimizer.errors import ScenarioError
from optimizer.scenario import load_scenario, scenario_from_dict
from optimizer.scenario.scales import apply_scales
from optimizer.scenario.schema import Distribution
from optimizer.sweeps import design
from optimizer.sweeps.design import Case, cases_for, load_case, parse_grid, quantile, swept_keys

PRICE = "sites.texas.energy_price_usd_per_mwh"
CAPEX = "gpus.h100.capex_usd_per_gpu"
POWER = "gpus.h100.power_kw_per_gpu"

UNCERTAINTY = {
    PRICE: {"distribution": "triangular", "low": 40, "mode": 55, "high": 80, "source": "assumed: test"},
    CAPEX: {"distribution": "uniform", "low": 30000, "high": 40000, "source": "assumed: test"},
    "scale": {
        "throughput": {"applies_to": ["llms.*.throughput.h100"], "distribution": "lognormal", "median": 1.0,
                       "sigma": 0.3, "low": 0.5, "high": 2.0, "source": "derived: test"},
        "energy": {"applies_to": "sites.*.energy_price_usd_per_mwh", "distribution": "normal", "mean": 1.0,
                   "sd": 0.15, "low": 0.5, "source": "assumed: test"},
    },
}


def _write(tmp_path: Path, data: dict, name: str = "sweepy") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


@pytest.fixture
def uncertain(tiny: dict, tmp_path: Path) -> str:
    """tiny.yaml with an uncertainty block of two dot-keys and two scale groups, as a file."""
    return _write(tmp_path, {**tiny, "uncertainty": copy.deepcopy(UNCERTAINTY)})


def _dist(**kw) -> Distribution:
    return Distribution(source="assumed: test", **kw)


def _errors(tiny: dict, block: dict) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        scenario_from_dict({**tiny, "uncertainty": block}, "tiny.yaml")
    return exc.value.messages


# --------------------------------------------------------------------------- schema


def test_uncertainty_block_validates_and_lists_variables(uncertain: str):
    sc = load_scenario(uncertain)
    assert list(sc.uncertainty.variables) == [CAPEX, "scale.energy", "scale.throughput", PRICE]  # sorted
    assert sc.uncertainty.scale["energy"].applies_to == ["sites.*.energy_price_usd_per_mwh"]  # a string is a list
    assert sc.uncertainty.keys[PRICE].nominal == 55
    assert sc.uncertainty.keys[CAPEX].nominal == 35000
    assert sc.gpus["h100"].capex_usd_per_gpu == 35000  # the block declares, it does not change the scenario


@pytest.mark.parametrize(("block", "message"), [
    ({CAPEX: {"distribution": "uniform", "low": 80000, "high": 50000, "source": "s"}},
     f"tiny.yaml: uncertainty.{CAPEX}: low must be < high, got low 80000 and high 50000"),
    ({CAPEX: {"distribution": "triangular", "low": 1, "mode": 3, "high": 2, "source": "s"}},
     f"tiny.yaml: uncertainty.{CAPEX}: mode must be within low..high, got 3 outside 1..2"),
    ({CAPEX: {"distribution": "normal", "mean": 1, "sd": 0, "source": "s"}},
     f"tiny.yaml: uncertainty.{CAPEX}: sd must be > 0, got 0"),
    ({CAPEX: {"distribution": "normal", "mean": 1, "sd": 1, "low": 2, "source": "s"}},
     f"tiny.yaml: uncertainty.{CAPEX}: mean must be within low..high, got 1 outside 2..inf"),
    ({CAPEX: {"distribution": "lognormal", "median": 1, "sigma": -1, "source": "s"}},
     f"tiny.yaml: uncertainty.{CAPEX}: sigma must be > 0, got -1"),
    ({CAPEX: {"distribution": "lognormal", "median": 1, "sigma": 1, "low": 0, "source": "s"}},
     f"tiny.yaml: uncertainty.{CAPEX}: low must be > 0 (lognormal values are positive; leave it out for no lower "
     "bound), got 0"),
    ({CAPEX: {"distribution": "uniform", "low": 1, "source": "s"}},
     f"tiny.yaml: uncertainty.{CAPEX}: a uniform distribution needs low, high: high is missing"),
    ({CAPEX: {"distribution": "uniform", "low": 1, "high": 2, "mode": 1.5, "source": "s"}},
     f"tiny.yaml: uncertainty.{CAPEX}: mode is not a parameter of a uniform distribution (it takes low, high)"),
    ({CAPEX: {"distribution": "beta", "low": 1, "high": 2, "source": "s"}},
     f"tiny.yaml: uncertainty.{CAPEX}.distribution: must be one of uniform, triangular, normal, lognormal, "
     "got 'beta'"),
    ({CAPEX: {"distribution": "uniform", "low": 1, "high": 2}},
     f"tiny.yaml: uncertainty.{CAPEX}.source: required field is missing"),
    ({CAPEX: {"distribution": "uniform", "low": 1, "high": 2, "hihg": 3, "source": "s"}},
     f"tiny.yaml: uncertainty.{CAPEX}: unknown key 'hihg' (did you mean 'high'?); allowed: distribution, low, "
     "high, mode, mean, sd, median, sigma, source"),
    ({CAPEX: 5}, f"tiny.yaml: uncertainty.{CAPEX}: must be a mapping of keys to values, got 5"),
    ({"scale": {"g": {"applies_to": "sites.*.pue", "distribution": "uniform", "low": 0, "high": 2, "source": "s"}}},
     "tiny.yaml: uncertainty.scale.g: low must be > 0 (scale factors are > 0), got 0"),
    ({"scale": {"g": {"applies_to": "sites.*.pue", "distribution": "normal", "mean": 1, "sd": 0.1, "source": "s"}}},
     "tiny.yaml: uncertainty.scale.g: a normal scale factor needs a truncation low > 0 (scale factors are > 0)"),
    ({"scale": {"g": {"distribution": "uniform", "low": 1, "high": 2, "source": "s"}}},
     "tiny.yaml: uncertainty.scale.g.applies_to: required field is missing"),
    ({"scale": {"g": {"applies_to": "sites..pue", "distribution": "uniform", "low": 1, "high": 2, "source": "s"}}},
     "tiny.yaml: uncertainty.scale.g.applies_to: 'sites..pue' is not a dot path (e.g. "
     "sites.*.energy_price_usd_per_mwh)"),
    ({"gpus.*.capex_usd_per_gpu": {"distribution": "uniform", "low": 1, "high": 2, "source": "s"}},
     "tiny.yaml: uncertainty: gpus.*.capex_usd_per_gpu: wildcards belong in scale: groups (applies_to), "
     "not in dot-keys"),
    ({"gpus.h100": {"distribution": "uniform", "low": 1, "high": 2, "source": "s"},
      CAPEX: {"distribution": "uniform", "low": 1, "high": 2, "source": "s"}},
     f"tiny.yaml: uncertainty: gpus.h100 and {CAPEX} overlap (one contains the other)"),
])
def test_bad_uncertainty_blocks_give_one_line_errors(tiny: dict, block: dict, message: str):
    messages = _errors(tiny, block)
    assert messages == [message]
    assert all("\n" not in m for m in messages)


def test_several_bad_entries_are_all_reported(tiny: dict):
    messages = _errors(tiny, {CAPEX: {"distribution": "uniform", "low": 2, "high": 1, "source": "s"},
                              POWER: {"distribution": "normal", "mean": 1, "sd": -1, "source": "s"}})
    assert len(messages) == 2
    assert any(m.startswith(f"tiny.yaml: uncertainty.{CAPEX}: low must be < high") for m in messages)
    assert any(m.startswith(f"tiny.yaml: uncertainty.{POWER}: sd must be > 0") for m in messages)


# --------------------------------------------------------------------------- distributions


def test_quantiles_match_scipy():
    q = np.array([0.01, 0.05, 0.3, 0.5, 0.95, 0.99])
    tri = _dist(distribution="triangular", low=40, mode=55, high=80)
    np.testing.assert_allclose(quantile(tri, q), stats.triang((55 - 40) / 40, loc=40, scale=40).ppf(q))
    nor = _dist(distribution="normal", mean=3, sd=2)
    np.testing.assert_allclose(quantile(nor, q), stats.norm(3, 2).ppf(q))
    logn = _dist(distribution="lognormal", median=3, sigma=0.5)
    np.testing.assert_allclose(quantile(logn, q), stats.lognorm(0.5, scale=3).ppf(q))
    uni = _dist(distribution="uniform", low=10, high=20)
    np.testing.assert_allclose(quantile(uni, q), stats.uniform(10, 10).ppf(q))
    truncated = _dist(distribution="normal", mean=1, sd=0.15, low=0.8, high=1.1)
    np.testing.assert_allclose(quantile(truncated, q),
                               stats.truncnorm((0.8 - 1) / 0.15, (1.1 - 1) / 0.15, loc=1, scale=0.15).ppf(q))
    # a truncated lognormal is the exp of a truncated normal of the log: its CDF, renormalised on the bounds
    tl = _dist(distribution="lognormal", median=1, sigma=0.3, low=0.5, high=2.0)
    base = stats.lognorm(0.3, scale=1)
    expected = base.cdf(0.5) + q * (base.cdf(2.0) - base.cdf(0.5))
    np.testing.assert_allclose(base.cdf(quantile(tl, q)), expected, rtol=1e-9)
    assert isinstance(quantile(tri, 0.5), float)


def test_nominal_values():
    assert design.nominal(_dist(distribution="uniform", low=10, high=20)) == 15
    assert design.nominal(_dist(distribution="triangular", low=40, mode=55, high=80)) == 55
    assert design.nominal(_dist(distribution="normal", mean=3, sd=2, low=0)) == 3
    assert design.nominal(_dist(distribution="lognormal", median=1.2, sigma=0.3)) == 1.2


def test_truncation_bounds_are_respected(tiny: dict, tmp_path: Path):
    block = {CAPEX: {"distribution": "normal", "mean": 35000, "sd": 20000, "low": 30000, "high": 38000,
                     "source": "assumed: wide"},
             POWER: {"distribution": "lognormal", "median": 1.2, "sigma": 1.0, "low": 1.0, "high": 1.5,
                     "source": "assumed: wide"}}
    path = _write(tmp_path, {**tiny, "uncertainty": block})
    cases = [c for c in cases_for([path], samples=200, seed=3, oat=False)]
    capex = np.array([dict(c.values)[CAPEX] for c in cases])
    power = np.array([dict(c.values)[POWER] for c in cases])
    assert capex.min() >= 30000 and capex.max() <= 38000
    assert power.min() >= 1.0 and power.max() <= 1.5
    # the truncation moves the draws: without it a fifth would be below 30000
    assert capex.min() < 30500 and capex.max() > 37500
    d = _dist(distribution="normal", mean=1, sd=0.15, low=0.9, high=1.2)
    assert quantile(d, 0.0) == pytest.approx(0.9) and quantile(d, 1.0) == pytest.approx(1.2)


# --------------------------------------------------------------------------- samples


def test_latin_hypercube_hits_every_stratum_once(uncertain: str):
    n = 16
    sc = load_scenario(uncertain)
    variables = sc.uncertainty.variables
    cases = cases_for([uncertain], samples=n, seed=7, oat=False)
    assert len(cases) == n
    assert [c.sample for c in cases] == list(range(n))
    assert {c.design for c in cases} == {"sample"}
    for name, dist in variables.items():
        if name.startswith("scale."):
            xs = np.array([dict(c.scales)[name[len("scale."):]] for c in cases])
        else:
            xs = np.array([dict(c.values)[name] for c in cases])
        # back to the uniform of the hypercube: the CDF of the (truncated) distribution
        grid = np.linspace(0, 1, 200001)
        u = np.interp(xs, quantile(dist, grid), grid)
        strata = np.floor(u * n).astype(int)
        assert sorted(strata) == list(range(n)), name


def test_samples_are_reproducible_from_the_seed(uncertain: str):
    a = cases_for([uncertain], samples=5, seed=1)
    b = cases_for([uncertain], samples=5, seed=1)
    c = cases_for([uncertain], samples=5, seed=2)
    assert a == b
    assert [x.id for x in a] == [x.id for x in b]
    sample_a = [x for x in a if x.design == "sample"]
    sample_c = [x for x in c if x.design == "sample"]
    assert all(x.values != y.values for x, y in zip(sample_a, sample_c, strict=True))
    # the OAT cases do not depend on the seed
    assert [x for x in a if x.design == "oat"] == [x for x in c if x.design == "oat"]
    assert len({x.id for x in a}) == len(a)


def test_samples_set_every_uncertain_key_and_scale(uncertain: str):
    cases = cases_for([uncertain], samples=3, seed=0, oat=False)
    for c in cases:
        assert [k for k, _ in c.values] == [CAPEX, PRICE]
        assert [g for g, _ in c.scales] == ["energy", "throughput"]
        assert all(isinstance(v, float) for _, v in c.values)
        assert c.oat_key == "" and c.oat_side == ""
    assert swept_keys(cases) == [CAPEX, PRICE, "scale.energy", "scale.throughput"]


def test_oat_cases(uncertain: str):
    sc = load_scenario(uncertain)
    variables = sc.uncertainty.variables
    cases = cases_for([uncertain], samples=4, seed=0)
    oat = [c for c in cases if c.design == "oat"]
    assert len(oat) == 1 + 2 * len(variables)
    assert len(cases) == len(oat) + 4
    assert cases[: len(oat)] == oat  # the tornado's cases come first
    nominal = {name: d.nominal for name, d in variables.items()}

    def value(c: Case, name: str) -> float:
        return dict(c.scales)[name[6:]] if name.startswith("scale.") else dict(c.values)[name]

    base = oat[0]
    assert (base.oat_key, base.oat_side, base.sample) == ("", "base", -1)
    assert {n: value(base, n) for n in variables} == nominal
    assert nominal == {CAPEX: 35000, PRICE: 55, "scale.energy": 1.0, "scale.throughput": 1.0}
    for name, dist in variables.items():
        low, high = [c for c in oat if c.oat_key == name]
        assert (low.oat_side, high.oat_side) == ("low", "high")
        assert value(low, name) == pytest.approx(quantile(dist, 0.05))
        assert value(high, name) == pytest.approx(quantile(dist, 0.95))
        for other in variables:
            if other != name:
                assert value(low, other) == nominal[other] and value(high, other) == nominal[other]
    tri = variables[PRICE]
    assert value([c for c in oat if c.oat_key == PRICE][0], PRICE) == pytest.approx(
        stats.triang(15 / 40, loc=40, scale=40).ppf(0.05))
    assert [c for c in cases_for([uncertain], samples=4, seed=0, oat=False) if c.design == "oat"] == []
    assert tri.nominal == 55


def test_common_random_numbers_across_scenarios(tiny: dict, tmp_path: Path):
    a = _write(tmp_path, {**tiny, "uncertainty": {
        PRICE: {"distribution": "uniform", "low": 40, "high": 80, "source": "s"},
        CAPEX: {"distribution": "uniform", "low": 30000, "high": 40000, "source": "s"}}}, "a")
    b = _write(tmp_path, {**tiny, "uncertainty": {  # another range for the price, and a key of its own
        PRICE: {"distribution": "triangular", "low": 20, "mode": 30, "high": 90, "source": "s"},
        POWER: {"distribution": "uniform", "low": 1.0, "high": 1.4, "source": "s"}}}, "b")
    n = 12
    cases = cases_for([a, b], samples=n, seed=5, oat=False)
    ca = [c for c in cases if c.label == "a"]
    cb = [c for c in cases if c.label == "b"]
    assert len(ca) == len(cb) == n
    tri = _dist(distribution="triangular", low=20, mode=30, high=90)
    for x, y in zip(ca, cb, strict=True):
        assert x.sample == y.sample
        ua = (dict(x.values)[PRICE] - 40) / 40
        ub = stats.triang(10 / 70, loc=20, scale=70).cdf(dict(y.values)[PRICE])
        assert ua == pytest.approx(ub, abs=1e-9)  # the same uniform for the same key
        assert quantile(tri, ua) == pytest.approx(dict(y.values)[PRICE])
    # the columns are the sorted union of both blocks: adding b changes a's draws, not their stratification
    alone = cases_for([a], samples=n, seed=5, oat=False)
    assert [c.values for c in alone] != [c.values for c in ca]
    assert swept_keys(cases) == sorted([PRICE, CAPEX, POWER])


def test_samples_need_an_uncertainty_block(tiny: dict, tmp_path: Path):
    path = _write(tmp_path, tiny, "plain")
    with pytest.raises(ScenarioError, match=r"^plain\.yaml: --samples needs an uncertainty: block"):
        cases_for([path], samples=3)
    with pytest.raises(ScenarioError, match="--samples: must be a whole number >= 0"):
        cases_for([path], samples=-1)


def test_grid_key_that_is_also_uncertain_is_an_error(uncertain: str):
    with pytest.raises(ScenarioError, match=rf"--grid {re.escape(CAPEX)} overlaps uncertainty\.{re.escape(CAPEX)}"):
        cases_for([uncertain], grid=[f"{CAPEX}=1,2"], samples=2)
    with pytest.raises(ScenarioError, match="overlaps"):
        cases_for([uncertain], grid=["gpus.h100={capex_usd_per_gpu: 1}"], samples=2)


def test_swept_key_set_by_the_variant_is_an_error_before_any_case(tiny: dict, tmp_path: Path):
    path = _write(tmp_path, {**tiny, "uncertainty": copy.deepcopy(UNCERTAINTY),
                             "variants": {"cheap": {PRICE: 30}}}, "v")
    message = (f"v.yaml: override conflict: {PRICE} (variants.cheap) and {PRICE} (swept: --grid or uncertainty) "
               "set the same key")
    for kwargs in ({"samples": 2}, {"grid": [f"{PRICE}=1,2"]}):
        with pytest.raises(ScenarioError) as exc:
            cases_for([f"{path}#cheap"], **kwargs)
        assert exc.value.messages == [message]
    with pytest.raises(ScenarioError, match="swept key sites.texas.pue.x: cannot set sites.texas.pue.x"):
        cases_for([path], grid=["sites.texas.pue.x=1,2"])
    assert len(cases_for([path], grid=["sites.texas.pue=1.2,1.4"])) == 2


# --------------------------------------------------------------------------- grids


def test_parse_grid():
    assert parse_grid(["a.b=1,2.5", "c=[x, y]", "d=[[1, 2], [3]]", "e=2025-01-01, null", "f=yes"]) == {
        "a.b": [1, 2.5], "c": ["x", "y"], "d": [(1, 2), (3,)], "e": ["2025-01-01", None], "f": [True]}
    assert parse_grid(None) == {}


@pytest.mark.parametrize(("items", "message"), [
    (["a"], "--grid 'a': expected KEY=V1,V2,..., e.g. sites.us-ercot.grid_limit_mw=100,200"),
    (["a="], "--grid 'a=': expected KEY=V1,V2,..., e.g. sites.us-ercot.grid_limit_mw=100,200"),
    (["a..b=1"], "--grid 'a..b=1': 'a..b' is not a dot-key (e.g. sites.us-ercot.grid_limit_mw)"),
    (["a=1,,2"], "--grid 'a=1,,2': the values are not valid YAML (expected the node content, but found ',')"),
    (["a=1,1.0"], "--grid a: value 1.0 is given twice"),
    (["a=[]"], "--grid a: no values"),
    (["a=1", "a=2"], "--grid a: given twice; list all its values in one --grid"),
    (["a.b=1", "a=2"], "--grid a and --grid a.b overlap (one contains the other)"),
])
def test_bad_grids(items: list[str], message: str):
    with pytest.raises(ScenarioError) as exc:
        parse_grid(items)
    assert exc.value.messages == [message]


def test_grid_cross_product(uncertain: str):
    grid = ["sites.texas.grid_limit_mw=40,50,60", "llms.llama-70b.max_rtt_ms=80,100"]
    cases = cases_for([uncertain], grid=grid)
    assert len(cases) == 6
    assert {c.design for c in cases} == {"grid"}
    assert {c.values for c in cases} == {(("llms.llama-70b.max_rtt_ms", r), ("sites.texas.grid_limit_mw", g))
                                         for g in (40, 50, 60) for r in (80, 100)}
    assert all(c.sample == -1 and c.scales == () for c in cases)
    assert swept_keys(cases) == ["llms.llama-70b.max_rtt_ms", "sites.texas.grid_limit_mw"]
    # with samples: every grid point gets the OAT cases and the same samples
    both = cases_for([uncertain], grid=grid[:1], samples=3, seed=0)
    per_point = 1 + 2 * 4 + 3
    assert len(both) == 3 * per_point
    for g in (40, 50, 60):
        at = [c for c in both if dict(c.values)["sites.texas.grid_limit_mw"] == g]
        assert len(at) == per_point
        assert [c.sample for c in at if c.design == "sample"] == [0, 1, 2]
    draws = {tuple(kv for kv in c.values if kv[0] != "sites.texas.grid_limit_mw")
             for c in both if c.design == "sample"}
    assert len(draws) == 3  # common random numbers across grid points
    assert len({c.id for c in both}) == len(both)


def test_single_cases_and_labels(tiny: dict, tmp_path: Path, uncertain: str):
    variants = _write(tmp_path, {**tiny, "variants": {"cheap": {PRICE: 30}}}, "variants")
    cases = cases_for([uncertain, f"{variants}#cheap"])
    assert [(c.design, c.label, c.variant, c.values, c.sample) for c in cases] == [
        ("single", "sweepy", None, (), -1), ("single", "variants#cheap", "cheap", (), -1)]
    assert cases[1].scenario == variants
    assert re.fullmatch(r"variants-cheap-single-[0-9a-f]{10}", cases[1].id)
    assert cases[0].id == cases_for([uncertain])[0].id
    assert cases[0].id != Case(uncertain, None, ((PRICE, 1.0),), (), "single", -1, label="sweepy").id
    with pytest.raises(ScenarioError, match="given twice"):
        cases_for([uncertain, uncertain])
    with pytest.raises(ScenarioError, match="expected a scenario file or bundled name"):
        cases_for([f"{uncertain}#"])
    other = tmp_path / "other"
    other.mkdir()
    twin = _write(other, tiny)  # another sweepy.yaml: labels fall back to the paths
    assert [c.label for c in cases_for([uncertain, twin])] == [uncertain, twin]


# --------------------------------------------------------------------------- scales


def test_apply_scales_kinds(caplog: pytest.LogCaptureFixture):
    data = {
        "sites": {"a": {"energy_price_usd_per_mwh": [10.0, 20.0, 30.0], "pue": 1.2, "export_price_usd_per_mwh": None},
                  "b": {"energy_price_usd_per_mwh": 50.0}},
        "gpus": {"h100": {"capex_usd_per_gpu": 30000}},
        "llms": {"l": {"throughput": {
            "gb200": [{"name": "node", "output_tokens_per_s": 100.0, "input_tokens_per_s": 1000.0, "gpus_per_replica": 4},
                      {"name": "rack", "gpus_per_replica": 72}],  # no rates: left
            "b200": {"output_tokens_per_s": 80.0, "input_tokens_per_s": 800.0, "nodes_per_replica": 1},
            "h100": [{"name": "node", "output_tokens_per_s": 50.0, "input_tokens_per_s": 500.0}]}}},
    }
    before = copy.deepcopy(data)
    with caplog.at_level(logging.DEBUG, logger="optimizer.scenario.scales"):
        out = apply_scales(data, {"sites.*.energy_price_usd_per_mwh": 2.0, "gpus.*.capex_usd_per_gpu": 1.5,
                                  "llms.*.throughput.gb200": 0.5, "llms.*.throughput.b200": 2.0,
                                  "llms.l.throughput.h100.output_tokens_per_s": 3.0,
                                  "sites.*.export_price_usd_per_mwh": 2.0,
                                  "llms.*.throughput.gb300": 4.0}, "x.yaml")
    assert data == before  # a copy
    assert out["sites"]["a"]["energy_price_usd_per_mwh"] == [20.0, 40.0, 60.0]  # an hourly series
    assert out["sites"]["b"]["energy_price_usd_per_mwh"] == 100.0
    assert out["sites"]["a"]["pue"] == 1.2 and out["sites"]["a"]["export_price_usd_per_mwh"] is None
    assert out["gpus"]["h100"]["capex_usd_per_gpu"] == 45000
    node, rack = out["llms"]["l"]["throughput"]["gb200"]
    assert (node["output_tokens_per_s"], node["input_tokens_per_s"], node["gpus_per_replica"]) == (50.0, 500.0, 4)
    assert rack == {"name": "rack", "gpus_per_replica": 72}
    b200 = out["llms"]["l"]["throughput"]["b200"]
    assert (b200["output_tokens_per_s"], b200["input_tokens_per_s"], b200["nodes_per_replica"]) == (160.0, 1600.0, 1)
    h100 = out["llms"]["l"]["throughput"]["h100"][0]
    assert (h100["output_tokens_per_s"], h100["input_tokens_per_s"]) == (150.0, 500.0)  # output only
    assert "'llms.*.throughput.gb300' matches nothing" in caplog.text  # allowed, logged at DEBUG
    assert apply_scales(data, {}, "x.yaml") is data


def test_apply_scales_two_patterns_multiply_and_wildcards_match_parts():
    data = {"llms": {"a": {"throughput": {"gb200": {"output_tokens_per_s": 10.0, "input_tokens_per_s": 20.0},
                                          "gb300": {"output_tokens_per_s": 10.0, "input_tokens_per_s": 20.0},
                                          "h100": {"output_tokens_per_s": 10.0, "input_tokens_per_s": 20.0}}}}}
    out = apply_scales(data, {"llms.*.throughput.gb*": 2.0, "llms.a.throughput.gb200": 3.0}, "x.yaml")
    tp = out["llms"]["a"]["throughput"]
    assert tp["gb200"]["output_tokens_per_s"] == 60.0
    assert tp["gb300"]["output_tokens_per_s"] == 20.0
    assert tp["h100"]["output_tokens_per_s"] == 10.0


@pytest.mark.parametrize(("scales", "message"), [
    ({"sites.*.pue": 0}, "x.yaml: scale sites.*.pue: factor must be a number > 0, got 0"),
    ({"sites.*.pue": -1.5}, "x.yaml: scale sites.*.pue: factor must be a number > 0, got -1.5"),
    ({"sites.*.pue": float("nan")}, "x.yaml: scale sites.*.pue: factor must be a number > 0, got nan"),
    ({"sites..pue": 2}, "x.yaml: scale pattern 'sites..pue': not a dot path (e.g. sites.*.energy_price_usd_per_mwh)"),
    ({"sites.*": 2}, "x.yaml: scale sites.*: sites.a is a mapping; a scale multiplies numbers, hourly series "
                     "and throughput deployments"),
    ({"sites.*.country": 2}, "x.yaml: scale sites.*.country: sites.a.country is 'US'; a scale multiplies numbers, "
                             "hourly series and throughput deployments"),
])
def test_apply_scales_errors(scales: dict, message: str):
    data = {"sites": {"a": {"country": "US", "pue": 1.2, "energy_price_usd_per_mwh": 40.0}}}
    with pytest.raises(ScenarioError) as exc:
        apply_scales(data, scales, "x.yaml")
    assert exc.value.messages == [message]


def test_scales_in_load_scenario_act_after_resolve(tiny: dict, tmp_path: Path):
    """A catalog site's hourly prices (from the profiles) are scaled element by element."""
    data = {**tiny, "time": {"start": "2025-07-01", "days": 1},
            "sites": {"include": ["us-ercot"], "us-ercot": {"grid_limit_mw": 50}, "texas": tiny["sites"]["texas"]},
            "latency_ms": {"texas": {"us-east": 45}, "us-ercot": {"us-east": 45}}}
    path = _write(tmp_path, data, "catalog")
    plain = load_scenario(path)
    scaled = load_scenario(path, scales={"sites.*.energy_price_usd_per_mwh": 1.25, "llms.*.throughput.h100": 0.5})
    p0, p1 = plain.sites["us-ercot"].energy_price_usd_per_mwh, scaled.sites["us-ercot"].energy_price_usd_per_mwh
    assert isinstance(p0, list) and len(p0) == 24 and len(set(p0)) > 1
    np.testing.assert_allclose(p1, np.asarray(p0) * 1.25)
    assert scaled.sites["texas"].energy_price_usd_per_mwh == 75.0
    d = scaled.llms["llama-70b"].throughput["h100"][0]
    assert (d.output_tokens_per_s, d.input_tokens_per_s) == (750.0, 3750.0)
    # a pattern that matches nothing in this scenario is fine
    assert load_scenario(path, scales={"llms.*.throughput.gb200": 2.0}) == plain


# --------------------------------------------------------------------------- load_case


def test_load_case_applies_values_and_scales(uncertain: str):
    cases = cases_for([uncertain], samples=2, seed=4)
    case = next(c for c in cases if c.design == "sample")
    values, scales = dict(case.values), dict(case.scales)
    sc = load_case(case)
    assert sc.name == "tiny"  # the scenario keeps its name
    assert sc.gpus["h100"].capex_usd_per_gpu == values[CAPEX]
    # the price is set (--set), then the energy scale group multiplies it
    assert sc.sites["texas"].energy_price_usd_per_mwh == pytest.approx(values[PRICE] * scales["energy"])
    d = sc.llms["llama-70b"].throughput["h100"][0]
    assert d.output_tokens_per_s == pytest.approx(1500 * scales["throughput"])
    assert d.input_tokens_per_s == pytest.approx(7500 * scales["throughput"])
    low = next(c for c in cases if c.oat_key == "scale.throughput" and c.oat_side == "low")
    sc_low = load_case(low)
    assert sc_low.llms["llama-70b"].throughput["h100"][0].output_tokens_per_s == pytest.approx(
        1500 * quantile(load_scenario(uncertain).uncertainty.scale["throughput"], 0.05))
    assert sc_low.sites["texas"].energy_price_usd_per_mwh == pytest.approx(55.0)


def test_load_case_grid_variant_and_exact_values(tiny: dict, tmp_path: Path):
    path = _write(tmp_path, {**tiny, "variants": {"small": {"sites.texas.grid_limit_mw": 30}}}, "v")
    cases = cases_for([f"{path}#small"], grid=["gpus.h100.capex_usd_per_gpu=30000.1,1.0e-05"])
    scs = [load_case(c) for c in cases]
    assert [sc.gpus["h100"].capex_usd_per_gpu for sc in scs] == [30000.1, 1e-05]  # exact through --set text
    assert all(sc.sites["texas"].grid_limit_mw == 30 and sc.name == "tiny+small" for sc in scs)
    assert cases[0].sets == ["gpus.h100.capex_usd_per_gpu=30000.1"]


def test_load_case_reports_an_unknown_scale_group(uncertain: str):
    case = Case(uncertain, None, (), (("nope", 1.1),), "sample", 0, label="sweepy")
    with pytest.raises(ScenarioError, match="scale group 'nope' is not in the scenario's uncertainty.scale block"):
        load_case(case)


def test_case_ids_are_filesystem_safe_and_stable(uncertain: str):
    cases = cases_for([uncertain], samples=3, seed=0)
    for c in cases:
        assert re.fullmatch(r"[A-Za-z0-9_.+-]+", c.id)
        assert c.id.startswith(f"sweepy-{c.design}-")
    # the id hashes the scenario, variant, values and scales only
    c = cases[0]
    assert Case(c.scenario, c.variant, c.values, c.scales, c.design, 99, "x", "y", c.label).id == c.id
