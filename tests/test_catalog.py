"""Bundled catalogs: every row validates and is sourced; scenarios draw from them by id."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from optimizer import ScenarioError, solve
from optimizer.catalogs import catalog, policies
from optimizer.catalogs.latency import great_circle_km, rtt_from_km
from optimizer.inputs import build_inputs
from optimizer.scenario import Gpu, Llm, Market, Site, references, scenario_from_dict

NUMERIC_SOURCE_PREFIXES = ("derived:", "assumed:")


@pytest.mark.parametrize("name, model, fields", [
    ("sites", Site, catalog.SITE_FIELDS), ("gpus", Gpu, catalog.GPU_FIELDS), ("markets", Market, catalog.MARKET_FIELDS),
])
def test_every_catalog_row_validates(name, model, fields):
    df = catalog.table(name)
    assert df.index.is_unique and all(i == i.lower() and " " not in i for i in df.index)
    for cid, row in df.iterrows():
        d = {k: catalog._plain(row[k]) for k in fields if k in row.index and catalog._plain(row[k]) is not None}
        if name == "sites":
            d["state_funded"] = bool(d.get("state_funded", False))
        if name == "gpus":
            d["gpus_per_node"] = int(d["gpus_per_node"])
            d["scaleup_domain_gpus"] = int(d["scaleup_domain_gpus"])
        model.model_validate(d), cid


@pytest.mark.parametrize("name", ["sites", "gpus", "markets"])
def test_every_number_has_a_source(name):
    df = catalog.table(name)
    numeric = [c for c in df.columns if f"{c}_source" in df.columns]
    assert numeric, "a catalog without source columns"
    for c in df.columns:
        if c.endswith("_source") or c in ("lat", "lon"):
            continue
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
            assert c in numeric, f"{name}.{c} has no {c}_source column"
    for c in numeric:
        for cid in df.index[df[c].notna()]:
            src = str(df.loc[cid, f"{c}_source"])
            assert src and src != "nan", f"{name}: {cid}.{c} has no source"
            assert len(src) > 12, f"{name}: {cid}.{c} source too thin: {src!r}"


def test_catalog_sizes_and_required_ids():
    s, g, m = catalog.sites(), catalog.gpus(), catalog.markets()
    assert len(s) >= 30 and s["country"].nunique() >= 12
    assert {"cn-nmg", "cn-nx", "cn-gs", "cn-gz", "cn-jjj", "cn-yrd", "cn-gd", "cn-cy", "us-ercot", "us-pjm", "us-az",
            "us-pnw", "us-ga", "ae-auh", "ie-dub", "de-fra", "my-jhb", "sg-sin", "in-mum"} <= set(s.index)
    assert {"h100", "h200", "b200", "gb200", "gb300", "h20", "h800", "mi300x", "mi325x", "mi355x", "ascend-910b",
            "ascend-910c"} <= set(g.index)
    assert len(m) >= 12
    assert {"deepseek-v3", "deepseek-r1", "kimi-k2", "qwen3-235b-a22b", "qwen2.5-72b", "llama-3.1-405b",
            "llama-3.1-70b", "llama-3.1-8b", "glm-4.5", "gpt-oss-120b"} <= set(catalog.llm_cards())


def test_llm_cards_are_sourced_and_consistent():
    for lid, card in catalog.llm_cards().items():
        assert card["id"] == lid
        arch, sv = card["architecture"], card["serving"]
        for key in ("architecture", "weight_gb", "kv_bytes_per_token", "input_per_output"):
            assert card["sources"].get(key), f"{lid}: no source for {key}"
        if arch["attention"] == "mla":
            expect = (arch["kv_lora_rank"] + arch["rope_dim"]) * arch["layers"] * 2
            assert sv["kv_bytes_per_token"] == pytest.approx(expect, rel=0.01), lid
        for gid, t in (card["throughput"] or {}).items():
            assert gid in catalog.gpus().index, f"{lid}: unknown gpu {gid}"
            for e in [t] if isinstance(t, dict) else t:
                assert e.get("source"), f"{lid}.{gid}.{e.get('name')}: throughput without a source"
        Llm.model_validate({k: v for k, v in references._Resolver({}, catalog.DATA, "x").llm(lid).items()})


def test_derived_latency_matches_published_round_trips():
    ref = pd.read_csv(catalog.DATA / "latency_reference.csv")
    ref = ref[~ref["cross_border_china"]]
    km = great_circle_km(ref["a_lat"].values, ref["a_lon"].values, ref["b_lat"].values, ref["b_lon"].values)
    err = np.abs(rtt_from_km(km) / ref["rtt_ms"].values - 1)
    assert len(ref) >= 10
    assert (err <= 0.35).sum() >= 10
    assert (err <= 0.35).mean() >= 0.9, f"only {(err <= 0.35).mean():.0%} of pairs within 35%"


def test_mainland_china_cross_border_minimums_apply():
    sc = scenario_from_dict({
        "name": "x", "sites": {"include": ["cn-sh", "sg-sin"]}, "gpus": {"include": ["h100"]},
        "llms": {"include": ["llama-3.1-8b"]}, "markets": {"include": ["sea", "cn-east"]},
    })
    lat = build_inputs(sc)["latency_ms"]
    assert float(lat.sel(site="cn-sh", market="sea")) >= 60  # data/latency_overrides.csv: HK-Singapore 40 ms + mainland leg
    assert float(lat.sel(site="sg-sin", market="cn-east")) >= 60
    assert float(lat.sel(site="cn-sh", market="cn-east")) < 10


def _mixed(tmp_path=None) -> dict:
    return {
        "name": "mixed",
        "time": {"start": "2025-07-01", "days": 1},
        "sites": {"include": ["us-ercot", "cn-nmg"], "us-ercot": {"grid_limit_mw": 40}},
        "gpus": {"include": ["h100", "b200"], "h100": {"capex_usd_per_gpu": 30000}},
        "llms": {"include": ["llama-3.1-70b"]},
        "markets": {"include": ["us-east"], "us-east": {"demand_share": {"llama-3.1-70b": 0.001}}},
        "policy": "us-2025-12",
    }


def test_mixed_catalog_and_inline_scenario_solves():
    sc = scenario_from_dict(_mixed())
    assert sc.sites["us-ercot"].grid_limit_mw == 40 and sc.sites["us-ercot"].country == "US"
    assert sc.gpus["h100"].capex_usd_per_gpu == 30000
    assert set(sc.llms["llama-3.1-70b"].throughput) == {"h100", "b200"}  # only the scenario's gpus
    assert len(sc.sites["us-ercot"].energy_price_usd_per_mwh) == 24
    demand = np.asarray(sc.markets["us-east"].demand_output_tokens_per_s["llama-3.1-70b"])
    assert demand.mean() == pytest.approx(catalog.markets().loc["us-east", "demand_output_tokens_per_s"] * 0.001, rel=0.5)
    assert demand.max() > 1.1 * demand.min()  # local-time shape
    plan = solve(sc)
    assert plan.status == "optimal"
    assert float(plan.dataset["gpus"].sel(site="cn-nmg").sum()) == 0  # us-2025-12: no h100/b200 in CN


def test_unknown_catalog_id_lists_close_matches():
    d = _mixed()
    d["sites"]["include"] = ["us-ercott"]
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(d, "m.yaml")
    assert err.value.messages[0].startswith("m.yaml: sites.include: unknown site id 'us-ercott' (did you mean 'us-ercot'")


def test_scalar_override_rescales_catalog_profile_mean():
    d = _mixed()
    d["time"] = {"start": "2025-01-01", "days": 365}
    d["sites"]["cn-nmg"] = {"energy_price_usd_per_mwh": 26.5, "pue": 1.3}
    sc = scenario_from_dict(d)
    price = np.asarray(sc.sites["cn-nmg"].energy_price_usd_per_mwh)
    assert price.mean() == pytest.approx(26.5, rel=1e-6)  # catalog mean 53 halved, shape kept
    assert price.std() > 0
    assert np.asarray(sc.sites["cn-nmg"].pue).mean() == pytest.approx(1.3, rel=1e-6)


def test_series_from_csv_file_aligned_by_timestamp(tmp_path):
    times = pd.date_range("2025-06-30", periods=96, freq="h")
    pd.DataFrame({"time": times, "texas": np.arange(96.0)}).to_csv(tmp_path / "prices.csv", index=False)
    d = _mixed()
    d["sites"]["us-ercot"]["energy_price_usd_per_mwh"] = {"file": "prices.csv", "column": "texas"}
    sc = scenario_from_dict(d, "m.yaml", tmp_path)
    assert sc.sites["us-ercot"].energy_price_usd_per_mwh == list(np.arange(24.0, 48.0))
    d["time"]["start"] = "2025-07-04"
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(d, "m.yaml", tmp_path)
    assert "does not cover 24 of the 24 modelled hours (first missing: 2025-07-04 00:00)" in err.value.messages[0]
    d["sites"]["us-ercot"]["energy_price_usd_per_mwh"] = {"file": "../../etc/passwd", "column": "x"}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(d, "m.yaml", tmp_path)
    assert "outside the scenario's folder" in err.value.messages[0]


def test_time_selection_by_dates_and_days():
    d = _mixed()
    d["time"] = {"dates": ["2025-01-15", "2025-07-15"]}
    sc = scenario_from_dict(d)
    idx = sc.time.index()
    assert len(idx) == 48 and idx[24] == pd.Timestamp("2025-07-15") and sc.time.weight_h == 8760 / 48
    d["time"] = {"start": "2025-07-01", "days": 2, "steps": 24}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(d, "m.yaml")
    assert "steps (24) disagrees with time.days (2) = 48 hours" in err.value.messages[0]


def test_policy_rule_sets():
    s = catalog.sites().loc[["cn-nmg", "cn-sh", "us-ercot", "ae-auh"]]
    gpu_ids = ["h100", "h200", "h20", "b200", "ascend-910c"]
    made = [catalog.gpus().loc[g, "made_in"] for g in gpu_ids]

    def allowed(pid: str) -> pd.DataFrame:
        denied = policies.denied_mask([policies.load(pid)], s["country"].values, s["state_funded"].values.astype(bool),
                                      gpu_ids, made)
        return pd.DataFrame(~denied, index=s.index, columns=gpu_ids)

    a = allowed("us-2025-05")
    assert not a.loc["cn-sh", ["h100", "h200", "h20", "b200"]].any() and a.loc["cn-sh", "ascend-910c"]
    assert a.loc["us-ercot", ["h100", "b200"]].all() and not a.loc["us-ercot", "ascend-910c"]
    a = allowed("us-2025-12")
    assert a.loc["cn-sh", ["h200", "h20"]].all() and not a.loc["cn-sh", "b200"]
    a = allowed("combined-2025-12")
    assert not a.loc["cn-nmg", ["h200", "h20"]].any() and a.loc["cn-nmg", "ascend-910c"]  # state-funded
    assert a.loc["cn-sh", ["h200", "h20", "ascend-910c"]].all()
    assert allowed("open").all().all()
    caps = policies.load("combined-2025-12").quantity_caps
    assert {c.country for c in caps} == {"AE", "SA"} and all(c.max_gpus == 35000 for c in caps)


def test_unknown_policy_is_an_error():
    d = _mixed()
    d["policy"] = "us-2025-13"
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(d, "m.yaml")
    assert "policy: unknown rule set 'us-2025-13'" in err.value.messages[0]


def test_supply_cap_binds_below_the_unconstrained_optimum(tiny):
    base = solve(scenario_from_dict(tiny))
    tiny["supply_caps"] = [{"gpus": ["h100"], "country": "US", "max_gpus": 100}]
    tiny["unserved_penalty_usd_per_mtok"] = 50
    capped = solve(scenario_from_dict(tiny))
    assert base.summary["gpus"]["h100"] == 120 and capped.summary["gpus"]["h100"] <= 100
    assert capped.summary["unserved_tokens_per_year"] > 0
    assert capped.summary["objective_usd_per_year"] > base.summary["objective_usd_per_year"]


def test_catalog_cli_json_and_country_filter(capsys):
    import json

    from optimizer.cli import main

    assert main(["catalog", "sites", "--country", "CN", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["country"] == "CN" for r in rows) and "id" in rows[0]
    assert main(["catalog", "llms"]) == 0 and "deepseek-r1" in capsys.readouterr().out
    assert main(["catalog", "policies", "--json"]) == 0
    assert {r["id"] for r in json.loads(capsys.readouterr().out)} >= {"us-2025-05", "us-2025-12", "cn-2025-11"}


def test_default_scenario_uses_catalog_references():
    raw = yaml.safe_load((catalog.DATA / "scenarios" / "default.yaml").read_text())
    assert all("include" in raw[k] for k in ("sites", "gpus", "llms", "markets"))


def test_series_from_netcdf_file(tmp_path):
    times = pd.date_range("2025-07-01", periods=24, freq="h")
    ds = xr.Dataset({"price": (("site", "time"), np.vstack([np.full(24, 10.0), np.arange(24.0)]))},
                    coords={"site": ["a", "us-ercot"], "time": times})
    ds.to_netcdf(tmp_path / "prices.nc", engine="h5netcdf")
    d = _mixed()
    d["sites"]["us-ercot"]["energy_price_usd_per_mwh"] = {"file": "prices.nc", "variable": "price",
                                                          "select": {"site": "us-ercot"}}
    sc = scenario_from_dict(d, "m.yaml", tmp_path)
    assert sc.sites["us-ercot"].energy_price_usd_per_mwh == list(np.arange(24.0))
    d["sites"]["us-ercot"]["energy_price_usd_per_mwh"] = {"file": "prices.nc", "variable": "prize"}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(d, "m.yaml", tmp_path)
    assert "prices.nc has no variable 'prize' (did you mean 'price'?)" in err.value.messages[0]
