"""Deployments as explicit choices: card entries, the estimator at a stated deployment, the planner's
choice among deployments (hand-computed optima and the property that more choice never costs more),
prefix-cache hits, and the throughput CLI's deployment flags."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest
import yaml

from optimizer import SolveOptions, scenario_from_dict, solve
from optimizer import throughput as tp
from optimizer.catalogs.catalog import _estimator_specs, llm_cards
from optimizer.cli import main
from optimizer.errors import ScenarioError
from optimizer.resources import models_dir

EXACT = SolveOptions(mip_gap=0.0, method="mip")


def two_deployments(tiny: dict, demand: float, *, names: tuple[str, ...] = ("small", "large")) -> dict:
    """tiny with two stated deployments of llama-70b on h100: ``small`` (one 8-GPU node, 1,500 out /
    7,500 in per GPU) and ``large`` (64 GPUs, 2,400 out / 7,500 in): busy GPUs per Mtoken/s
    1e6 (1/1500 + 4/7500) = 1,200 and 1e6 (1/2400 + 4/7500) = 950."""
    d = copy.deepcopy(tiny)
    entries = {"small": {"name": "small", "gpus_per_replica": 8, "output_tokens_per_s": 1500,
                         "input_tokens_per_s": 7500},
               "large": {"name": "large", "gpus_per_replica": 64, "output_tokens_per_s": 2400,
                         "input_tokens_per_s": 7500}}
    d["llms"]["llama-70b"]["throughput"] = {"h100": [entries[n] for n in names]}
    d["markets"]["us-east"]["demand_output_tokens_per_s"] = {"llama-70b": demand}
    return d


def replicas_by_name(plan) -> dict[str, int]:
    r = plan.dataset["replicas_by_deployment"].sum(["site", "gpu", "llm"])
    return {str(k): int(v) for k, v in zip(r["deployment"].values, r.values, strict=True)}


def test_a_single_mapping_is_one_deployment(tiny):
    sc = scenario_from_dict(tiny)
    (dep,) = sc.llms["llama-70b"].throughput["h100"]
    assert dep.name == "default" and dep.replica_gpus(8) == 8
    plan = solve(sc)
    assert list(plan.dataset["deployment"].values) == ["default"]
    assert plan.summary["gpus_by_deployment"] == {"h100 llama-70b default": plan.summary["gpus"]["h100"]}


def test_planner_mixes_deployments_as_computed_by_hand(tiny):
    # 100,000 output tok/s: small alone 120 GPUs (15 replicas), large alone 95 -> 2 replicas = 128 GPUs;
    # one large replica carries 64/950 Mtok/s, the remaining 0.0326 Mtok/s x 1,200 = 39.2 GPUs -> 5 small:
    # 104 GPUs, the fewest (and the fewest busy GPUs), so the cheapest plan
    plan = solve(scenario_from_dict(two_deployments(tiny, 100_000)), EXACT)
    assert replicas_by_name(plan) == {"small": 5, "large": 1}
    assert plan.summary["gpus"] == {"h100": 104}
    assert plan.summary["gpus_by_deployment"] == {"h100 llama-70b small": 40, "h100 llama-70b large": 64}
    alone = [solve(scenario_from_dict(two_deployments(tiny, 100_000, names=(n,))), EXACT) for n in ("small", "large")]
    assert [p.summary["gpus"]["h100"] for p in alone] == [120, 128]
    assert plan.summary["cost_usd_per_year"] < min(p.summary["cost_usd_per_year"] for p in alone)


@pytest.mark.parametrize(("demand", "chosen"), [(10_000, {"small": 2, "large": 0}),
                                                 (1_000_000, {"small": 0, "large": 15})])
def test_small_demand_takes_small_replicas_large_demand_the_efficient_ones(tiny, demand, chosen):
    # 10k tok/s: small 12 GPUs -> 2 replicas (16 GPUs) beats one 64-GPU replica; 1M tok/s: large 950 GPUs
    # -> 15 replicas (960) beats 1,200 small GPUs (150 replicas), and any mix (each large replica saves
    # 64 x (1,200/950 - 1) = 16.8 small GPUs)
    plan = solve(scenario_from_dict(two_deployments(tiny, demand)), EXACT)
    assert replicas_by_name(plan) == chosen


@pytest.mark.parametrize("seed", range(6))
def test_deployment_choice_never_costs_more_than_any_single_deployment(tiny, seed):
    rng = np.random.default_rng(seed)
    d = copy.deepcopy(tiny)
    n = int(rng.integers(2, 4))
    entries = [{"name": f"d{i}", "gpus_per_replica": int(rng.choice([8, 16, 32, 64, 144])),
                "serving": str(rng.choice(["aggregated", "disaggregated"])),
                "output_tokens_per_s": float(rng.uniform(500, 3000)),
                "input_tokens_per_s": float(rng.uniform(3000, 20000))} for i in range(n)]
    demand = float(rng.uniform(5e3, 4e5))
    d["markets"]["us-east"]["demand_output_tokens_per_s"] = {"llama-70b": demand}
    costs = []
    for subset in [entries] + [[e] for e in entries]:
        d["llms"]["llama-70b"]["throughput"] = {"h100": subset}
        costs.append(solve(scenario_from_dict(d), EXACT).summary["objective_usd_per_year"])
    assert costs[0] <= min(costs[1:]) * (1 + 1e-9)


def test_cache_hits_take_prefill_work_off_the_gpus(tiny):
    # busy GPUs per Mtoken/s with half the input cached: 1e6 (1/1500 + 4 x 0.5/7500) = 933.3 -> 93.3 GPUs
    # for 0.1 Mtoken/s -> 12 one-node replicas (96 GPUs), against 120 without hits
    d = two_deployments(tiny, 100_000, names=("small",))
    d["llms"]["llama-70b"]["cache_hit_share"] = 0.5
    plan = solve(scenario_from_dict(d), EXACT)
    assert plan.summary["gpus"] == {"h100": 96}
    busy = float(plan.dataset["busy_gpus"].max())
    assert busy == pytest.approx(1e6 * (1 / 1500 + 2 / 7500) * 0.1, rel=1e-6)


def test_aggregated_rates_already_include_prefill(tiny):
    # aggregated: 1,500 output tok/s per GPU with prefill included -> 1e6 / 1,500 = 666.7 GPUs per Mtoken/s
    d = two_deployments(tiny, 100_000, names=("small",))
    d["llms"]["llama-70b"]["throughput"]["h100"][0]["serving"] = "aggregated"
    plan = solve(scenario_from_dict(d), EXACT)
    assert plan.summary["gpus"] == {"h100": 72}  # 66.7 busy GPUs -> 9 replicas of 8


def test_disaggregated_replica_buys_both_pools(tiny):
    d = two_deployments(tiny, 100_000, names=("large",))
    d["llms"]["llama-70b"]["throughput"]["h100"][0].update(gpus_per_replica=48, prefill_gpus=16)
    sc = scenario_from_dict(d)
    assert sc.llms["llama-70b"].throughput["h100"][0].replica_gpus(8) == 64
    assert solve(sc, EXACT).summary["gpus"] == {"h100": 128}  # 95 busy GPUs -> 2 replicas of 64


def test_bad_deployment_entries_are_one_line_errors(tiny):
    d = copy.deepcopy(tiny)
    d["llms"]["llama-70b"]["throughput"] = {"h100": [{"name": "a", "output_tokens_per_s": 1, "input_tokens_per_s": 1},
                                                     {"name": "a", "output_tokens_per_s": 2, "input_tokens_per_s": 2}]}
    with pytest.raises(ScenarioError, match=r"h100: deployment names must be distinct, 'a' repeats"):
        scenario_from_dict(d, "t.yaml")
    d["llms"]["llama-70b"]["throughput"] = {"h100": {"name": "x", "gpus_per_replica": 16}}
    with pytest.raises(ScenarioError, match=r"llms.llama-70b.throughput.h100: deployment 'x' states no rates and "
                                            r"the LLM has no card"):
        scenario_from_dict(d, "t.yaml")
    d["llms"]["llama-70b"]["throughput"] = {"h100": {"output_tokens_per_s": 5, "input_tokens_per_s": 5,
                                                     "serving": "both"}}
    with pytest.raises(ScenarioError, match=r"serving"):
        scenario_from_dict(d, "t.yaml")
    d["llms"]["llama-70b"]["throughput"] = {"h100": 1500}
    with pytest.raises(ScenarioError, match=r"llms.llama-70b.throughput.h100: must be a deployment \(a mapping of its "
                                            r"fields\) or a list of deployments, got 1500"):
        scenario_from_dict(d, "t.yaml")


# ------------------------------------------------------------------ bundled cards


def card_entries():
    for path in sorted(models_dir().glob("*.yaml")):
        card = yaml.safe_load(path.read_text())
        for gid, t in (card.get("throughput") or {}).items():
            for e in ([t] if isinstance(t, dict) else t):
                yield path.stem, gid, e


BASIS = re.compile(r"^(measured|derived|estimated): ")


def test_every_card_entry_states_its_deployment_and_basis():
    entries = list(card_entries())
    assert len(entries) >= 15
    for llm, gid, e in entries:
        where = f"{llm} {gid} {e.get('name')}"
        assert e.get("name") and e.get("serving") in ("aggregated", "disaggregated"), where
        assert e.get("gpus_per_replica") or e.get("nodes_per_replica"), where
        assert BASIS.match(e.get("source", "")), where
        if e["source"].startswith("measured:"):
            assert re.search(r"https?://", e["source"]) and re.search(r"\d{4}-\d{2}-\d{2}", e["source"]), where
        if e["source"].startswith("estimated:"):
            assert "output_tokens_per_s" not in e, f"{where}: an estimated entry states no rates"
        else:
            assert e.get("output_tokens_per_s") and e.get("input_tokens_per_s"), where
    assert "facts" not in " ".join(e["source"] for *_, e in entries)


def deployment_of(e: dict, gpn: int, llm_serving: dict) -> tp.Deployment:
    return tp.Deployment.from_entry(e, gpn, llm_serving.get("mtp_tokens_per_step") or 1.0)


def test_derived_card_entries_within_35_percent_of_the_estimator_at_their_deployment():
    checked = 0
    for llm, gid, e in card_entries():
        if not e["source"].startswith("derived:"):
            continue
        card = llm_cards()[llm]
        sv = card["serving"]
        g, spec = _estimator_specs(gid, llm)
        out_len = 1000
        est = tp.estimate_deployment(g, spec, deployment_of(e, g.gpus_per_node, sv), sv["precision"],
                                     sv["tokens_per_s_per_user"], round(sv["input_per_output"] * out_len), out_len,
                                     sv.get("cache_hit_share", 0.0))
        assert est.feasible, (llm, gid, e["name"])
        for stated, estimated in ((e["output_tokens_per_s"], est.output_tokens_per_s_per_gpu),
                                  (e["input_tokens_per_s"], est.input_tokens_per_s_per_gpu)):
            assert abs(estimated / stated - 1) <= 0.35, (llm, gid, e["name"], stated, round(estimated))
        checked += 1
    assert checked >= 2


def test_cards_offer_a_node_and_a_large_deployment_where_the_model_fits():
    sc = scenario_from_dict({
        "name": "deployments", "time": {"start": "2025-07-01", "steps": 24},
        "sites": {"include": ["us-ercot"]}, "gpus": {"include": ["h100", "h800", "b200", "gb200", "h20"]},
        "llms": {"include": ["deepseek-r1", "qwen3-235b-a22b", "llama-3.1-70b"]},
        "markets": {"include": ["us-east"], "defaults": {"demand_share": {"deepseek-r1": 0.001}}},
    })
    names = {(lid, gid): [d.name for d in ds] for lid, x in sc.llms.items() for gid, ds in x.throughput.items()}
    assert names["deepseek-r1", "h800"] == ["ep144", "2-node"]
    assert names["deepseek-r1", "b200"] == ["node", "wide-ep"]
    assert names["deepseek-r1", "gb200"] == ["rack", "2-node"]
    assert names["qwen3-235b-a22b", "gb200"] == ["node", "rack"]
    assert names["llama-3.1-70b", "h100"] == ["node"]  # dense: the node deployment only
    wide = sc.llms["deepseek-r1"].throughput["b200"][1]
    assert wide.gpus_per_replica == 128 and wide.prefill_gpus >= 8 and wide.source.startswith("estimated:")
    assert sc.llms["deepseek-r1"].cache_hit_share == pytest.approx(0.563)


# ------------------------------------------------------------------ CLI


DAY6 = ["throughput", "--gpu", "h800", "--llm", "deepseek-v3", "--tokens-per-s-per-user", "20", "--input-len", "4383",
        "--output-len", "1211", "--serving", "disaggregated", "--gpus-per-replica", "144", "--prefill-gpus", "32",
        "--mtp-tokens-per-step", "1.8", "--cache-hit-share", "0.563", "--kv-precision", "bf16"]


def test_throughput_cli_estimates_the_deployment_given(capsys):
    assert main([*DAY6, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["serving"], d["gpus_per_replica"], d["prefill_gpus_per_replica"]) == ("disaggregated", 144, 32)
    assert (d["mtp_tokens_per_step"], d["kv_precision"], d["cache_hit_share"]) == (1.8, "bf16", 0.563)
    assert d["deployment"].startswith("disaggregated: decode 144 GPUs")
    # blended at the request's shape, cache hits needing no prefill
    tot = (4383 + 1211) / (4383 * (1 - 0.563) / d["input_tokens_per_s_per_gpu"] + 1211 / d["output_tokens_per_s_per_gpu"])
    assert d["total_tokens_per_s_per_gpu"] == pytest.approx(tot, rel=1e-9)


def test_throughput_cli_names_the_best_deployment_and_lists_candidates(capsys, tmp_path):
    assert main(["throughput", "--gpu", "mi300x", "--llm", "deepseek-r1", "--tokens-per-s-per-user", "11.7",
                 "--input-len", "8192", "--output-len", "1024"]) == 0
    assert "deployment (the estimator's best" in capsys.readouterr().out
    assert main(["throughput", "--gpu", "mi300x", "--llm", "deepseek-r1", "--deployments"]) == 0
    out = capsys.readouterr().out
    for name in ("node", "wide-ep", "agg-8", "disagg-128"):
        assert re.search(rf"^  {re.escape(name)}\s", out, re.M), name
    png = tmp_path / "curve.png"
    assert main(["throughput", "--gpu", "gb200", "--llm", "deepseek-r1", "--curve", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("flags", "message"), [
    (["--gpus-per-replica", "0"], "--gpus-per-replica: must be a whole number >= 1, got 0"),
    (["--cache-hit-share", "1.5"], "--cache-hit-share: must be in [0, 1), got 1.5"),
    (["--mtp-tokens-per-step", "0.5"], "--mtp-tokens-per-step: must be >= 1"),
    (["--kv-precision", "int3"], "--kv-precision: must be bf16, fp16, fp8 or fp4, got 'int3'"),
    (["--serving", "aggregated", "--prefill-gpus", "8"], "--prefill-gpus: sizes the prefill pool"),
])
def test_throughput_cli_bad_flags_are_one_line_errors(capsys, flags, message):
    assert main(["throughput", "--gpu", "h100", "--llm", "deepseek-r1", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
