"""The CLI and the files it writes: summary keys, NetCDF round-trip, exit codes, the default scenario."""

from __future__ import annotations

import json

import numpy as np
import pyomo.environ as pyo
import pytest
import xarray as xr
import yaml

from optimizer import load_scenario, solve
from optimizer.cli import main
from optimizer.scenario import DEFAULT_SCENARIO, scenario_from_dict

from .conftest import TINY

SUMMARY_KEYS = {
    "status", "objective_usd_per_year", "mip_gap", "cost_per_mtok_usd", "cost_per_output_mtok_usd",
    "tokens_per_year", "output_tokens_per_year", "unserved_tokens_per_year", "energy_mwh_per_year",
    "tokens_per_kwh", "co2_t_per_year", "gpus", "sites_opened", "build_seconds", "solve_seconds",
    "num_variables", "num_constraints", "num_nonzeros", "site_cost_usd_per_year",
    "accelerator_cost_usd_per_year", "energy_cost_usd_per_year",
}


def test_solve_writes_summary_and_netcdf_that_round_trips(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["solve", str(TINY), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["gpus"] == {"h100": 120}
    ds = xr.open_dataset(out / "results.nc", engine="h5netcdf")
    assert set(ds.sizes) == {"site", "gpu", "llm", "market", "time", "deployment"}
    assert ds["replicas_by_deployment"].dims == ("site", "gpu", "llm", "deployment")
    assert all("units" in ds[v].attrs for v in ds.data_vars)
    assert float(ds["gpus"].sum()) == 120
    assert yaml.safe_load(ds.attrs["scenario_yaml"])["name"] == "tiny"
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files
    assert "120" in capsys.readouterr().out


def test_infeasible_exits_3_and_still_writes_summary(tmp_path, tiny, capsys):
    tiny["llms"]["llama-70b"]["max_rtt_ms"] = 10  # the only site is 45 ms away
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(tiny))
    assert main(["solve", str(p), "--out", str(tmp_path / "o"), "--quiet"]) == 3
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["status"] == "infeasible"
    assert "max_rtt_ms=10 ms" in " ".join(summary["explanation"])
    assert not (tmp_path / "o" / "results.nc").exists()
    assert "market us-east, llm llama-70b" in capsys.readouterr().out


def test_no_plan_within_time_limit_exits_4(tmp_path, synthetic_scenario):
    sc = synthetic_scenario(20, 15, 4, 48)
    p = tmp_path / "big.yaml"
    p.write_text(sc.to_yaml())
    code = main(["solve", str(p), "--out", str(tmp_path / "o"), "--time-limit", "0.01", "--quiet"])
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert code == 4 and summary["status"] == "no_solution"
    assert summary["num_variables"] > 0


def test_default_scenario_is_plausible_and_optimal():
    sc = load_scenario()
    assert 6 <= len(sc.sites) <= 10 and len({s.country for s in sc.sites.values()}) >= 4
    assert len(sc.gpus) >= 3 and len(sc.llms) >= 2 and len(sc.markets) >= 4
    plan = solve(sc)
    s = plan.summary
    assert s["status"] == "optimal"
    # demand is served but for remnants smaller than one replica: in a few peak hours the 20 USD/Mtok
    # penalty can be cheaper than a whole replica bought for a few thousand tokens/s
    st = plan.model.sets
    unserved = plan.dataset["unserved_tokens_per_s"].sum("market")  # (llm, time)
    for lid in unserved["llm"].values:
        f = st.fleet_llm == list(plan.dataset["llm"].values).index(lid)
        one_replica = float((st.fleet_gpus_per_replica[f] / st.fleet_busy_gpus_per_mtok[f]).max() * 1e6)
        assert float(unserved.sel(llm=lid).max()) < one_replica, lid
    assert s["unserved_tokens_per_year"] < 1e-5 * s["tokens_per_year"]
    # pinned: the default plan's objective (update deliberately when the bundled data changes)
    assert s["objective_usd_per_year"] == pytest.approx(42.25e6, rel=2e-3)
    # Chinese demand served only from China (served_from)
    cn_sites = [str(x) for x in plan.dataset["site"].values if sc.sites[str(x)].country == "CN"]
    served = plan.dataset["delivered_tokens_per_s"].sel(market="cn-east")
    assert float(served.sum()) == pytest.approx(float(served.sel(site=cn_sites).sum()))
    assert DEFAULT_SCENARIO.exists()


def test_pyomo_model_agrees_with_the_arrays_given_to_highs(tiny):
    """Every row of the Pyomo model, evaluated by Pyomo at the solution, is within its bounds."""
    tiny["markets"]["us-west"] = {"country": "US", "demand_output_tokens_per_s": {"llama-70b": 3e4}}
    tiny["latency_ms"]["texas"]["us-west"] = 60
    plan = solve(scenario_from_dict(tiny))
    m = plan.model.pyomo
    n = 0
    for con in m.component_data_objects(pyo.Constraint, active=True):
        body = pyo.value(con.body)
        if con.has_lb():
            assert body >= pyo.value(con.lower) - 1e-6, con.name
        if con.has_ub():
            assert body <= pyo.value(con.upper) + 1e-6, con.name
        n += 1
    assert n == plan.summary["num_constraints"]
    assert pyo.value(m.annual_cost) * 1e6 == pytest.approx(plan.summary["objective_usd_per_year"], rel=1e-9)
    assert np.isclose(sum(v.value for v in m.replicas.values()), 20)  # (120 + 36 busy GPUs) / 8 -> 20 nodes


def test_schema_command_prints_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "sites" in schema["properties"] and "source_file" not in schema["properties"]


def test_verify_on_typical_days_reports_the_every_day_cost_and_a_proven_gap(tmp_path, capsys, synthetic_scenario):
    p = tmp_path / "five_weeks.yaml"
    p.write_text(synthetic_scenario(4, 3, 1, 24 * 35, seed=7).to_yaml())
    out = tmp_path / "o"
    assert main(["solve", str(p), "--out", str(out), "--quiet", "--representative-days", "3", "--verify"]) == 0
    s = json.loads((out / "summary.json").read_text())
    v = s["verification"]
    assert v["verify_chunks"] == 5  # five weekly LPs
    assert v["full_horizon_lower_bound_usd_per_year"] <= v["verified_objective_usd_per_year"]
    assert 0 <= v["full_horizon_gap"] < 0.05
    assert "proven" in capsys.readouterr().out
