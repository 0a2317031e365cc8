"""The 2026 roadmap accelerators (Vera Rubin NVL72, Groq 3 LPU), the LPU estimation rule
(optimizer/throughput/lpu.py) checked against Groq's published tokens/s per user, and the rule that
a scenario installs no accelerator before its ``available_from`` month."""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import re

import numpy as np
import pytest

from optimizer import solve
from optimizer import throughput as tp
from optimizer.catalogs import catalog
from optimizer.inputs import build_inputs
from optimizer.resources import data_dir, models_dir
from optimizer.scenario import load_scenario, scenario_from_dict
from optimizer.throughput import lpu

GPUS_CSV = data_dir() / "gpus.csv"


@pytest.fixture(scope="module")
def gpus() -> dict[str, tp.GpuSpec]:
    return tp.load_gpu_specs(GPUS_CSV)


@pytest.fixture(scope="module")
def llms() -> dict[str, tp.LlmSpec]:
    return tp.load_llm_specs(models_dir())


def _rows() -> dict[str, dict[str, str]]:
    with open(GPUS_CSV, newline="", encoding="utf-8") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


# --------------------------------------------------------------------------------------
# catalog rows
# --------------------------------------------------------------------------------------


def test_every_row_has_an_availability_month_with_a_source_and_no_facts_md_citation():
    for gid, r in _rows().items():
        assert re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", r["available_from"]), gid
        assert len(r["available_from_source"]) > 12, gid
        assert not any("facts.md" in v for v in r.values()), f"{gid}: cite the original source, not facts.md"


def test_roadmap_rows_carry_announced_specs_from_their_announced_dates():
    rows = _rows()
    vr, g3 = rows["vr200"], rows["groq3-lpu"]
    assert vr["available_from"] == g3["available_from"] == "2026-07"  # H2 / Q3 2026
    for col in ("fp8_tflops_source", "fp4_tflops_source", "hbm_gb_source", "hbm_tb_s_source", "scaleup_gb_s_source",
                "available_from_source"):
        assert vr[col].startswith("announced:"), col
    for col in ("fp8_tflops_source", "sram_mb_source", "sram_tb_s_source", "gpus_per_node_source",
                "scaleup_domain_gpus_source", "available_from_source"):
        assert g3[col].startswith("announced:"), col
    for r in (vr, g3):  # every announced citation names a URL and a date
        for col, v in r.items():
            if v.startswith("announced:"):
                assert "https://" in v and re.search(r"20\d\d-\d\d", v), (r["id"], col)


def test_vera_rubin_row_is_one_package_of_two_dies(gpus):
    """A row is a package (as gb200): NVIDIA's 'NVL144' counted 144 dies in 72 packages."""
    vr = gpus["vr200"]
    assert (vr.scaleup_domain_gpus, vr.ranks_per_package, vr.gpus_per_node) == (72, 1, 4)
    assert vr.hbm_gb == 288 and vr.hbm_tb_s == 22 and vr.scaleup_gb_s == 1800
    assert vr.fp8_tflops == pytest.approx(1.2e6 / 72, rel=0.01)  # 1.2 EF FP8 per rack / 72 packages
    assert not vr.weights_on_chip and tp.gpu_family(vr) == "nvidia-blackwell"


def test_lpu_rows_hold_weights_on_chip_and_specs_built_from_the_id_alone_know_it(gpus):
    g3 = gpus["groq3-lpu"]
    assert g3.weights_on_chip and g3.hbm_gb == 0 and (g3.sram_mb, g3.sram_tb_s) == (500, 150)
    bare = tp.GpuSpec("groq3-lpu", 1.0, 1.0, None, 0.0, 0.0, 1.0, 0.0)  # e.g. a scenario entry
    assert bare.weights_on_chip and bare.layer_latency_us == g3.layer_latency_us
    assert bare.available_from == "2026-07"
    assert not gpus["h100"].weights_on_chip and gpus["h100"].available_from == "2022-10"


# --------------------------------------------------------------------------------------
# the LPU rule
# --------------------------------------------------------------------------------------


def test_lpu_rule_replaces_the_roofline_and_fills_every_field(gpus, llms, monkeypatch):
    seen: dict = {}
    real = lpu._result

    def spy(**kw):
        seen.update(kw)
        return real(**kw)

    monkeypatch.setattr(lpu, "_result", spy)
    g3, llm = gpus["groq3-lpu"], llms["llama-3.1-70b"]
    est = tp.estimate(g3, llm, "fp8", 300, 4096, 1024)  # the estimator dispatches to the LPU rule
    assert {f.name for f in dataclasses.fields(tp.ThroughputEstimate)} <= set(seen)
    assert est.feasible and est.family == "groq-lpu" and est.decode_layout == "sram-pipeline"
    n = est.gpus_per_replica
    assert n == tp.min_replica_gpus(g3, llm, "fp8") == lpu.min_replica_chips(g3, llm, "fp8")
    assert n % g3.gpus_per_node == 0 and n >= 100  # many chips per replica
    assert n * g3.sram_mb * 1e6 * lpu.SRAM_WEIGHT_SHARE >= 70.6e9
    assert est.weight_gb_per_gpu + est.kv_gb_per_gpu <= g3.sram_mb / 1e3 * (1 - lpu.SRAM_RESERVE_FRAC) + 1e-9
    assert est.tokens_per_s_per_user >= 300 and est.decode_bound == "layer-latency"
    for k, v in est.as_dict().items():
        if isinstance(v, float):
            assert math.isfinite(v) and v >= 0, k
    assert est.kw_per_gpu <= g3.power_kw_per_gpu
    assert est.joules_per_token == pytest.approx(est.kw_per_gpu * 1000 / est.total_tokens_per_s_per_gpu)


def test_lpu_per_user_speed_is_far_above_the_hbm_gpus(gpus, llms):
    """The point of the LPU: a 70B model at several hundred tokens/s per user, where an 8-GPU
    H200 node cannot serve one user that fast."""
    llm = llms["llama-3.1-70b"]
    fast = tp.estimate(gpus["groq3-lpu"], llm, "fp8", 500, 4096, 1024)
    assert fast.feasible and fast.tokens_per_s_per_user >= 500
    assert not tp.estimate(gpus["h200"], llm, "fp8", 500, 4096, 1024).feasible
    assert lpu.max_tokens_per_s_per_user(gpus["groq3-lpu"], llm, "fp8") > \
        2 * lpu.max_tokens_per_s_per_user(gpus["groq-lpu1"], llm, "fp8")


def test_lpu_rule_infeasible_cases_are_reported(gpus, llms):
    g3, llm = gpus["groq3-lpu"], llms["llama-3.1-70b"]
    small = tp.estimate(g3, llm, "fp8", 300, 4096, 1024, tp.Factors(gpus_per_replica=64))
    assert not small.feasible and small.limit == "memory"  # 64 x 0.5 GB cannot hold 70.6 GB
    slow = tp.estimate(g3, llm, "fp8", 5000, 4096, 1024)
    assert not slow.feasible and slow.limit == "latency" and slow.output_tokens_per_s_per_gpu == 0


def test_lpu_throughput_falls_as_the_per_user_speed_rises(gpus, llms):
    g3, llm = gpus["groq3-lpu"], llms["gpt-oss-120b"]
    top = lpu.max_tokens_per_s_per_user(g3, llm, "fp4", 2048, 512)
    rates = [tp.estimate(g3, llm, "fp4", s, 2048, 512).output_tokens_per_s_per_gpu
             for s in (20, 0.95 * top, 0.98 * top, 0.995 * top)]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False)) and rates[0] > 5 * rates[-1] > 0
    assert not tp.estimate(g3, llm, "fp4", 1.01 * top, 2048, 512).feasible


def test_lpu_deployments_for_scenarios(gpus, llms):
    """The planner's candidate deployments work for an LPU (replica sizes in chips)."""
    if not hasattr(tp, "candidate_deployments"):
        pytest.skip("optimizer.throughput has no deployments")
    g3, llm = gpus["groq3-lpu"], llms["kimi-k2"]
    n = tp.min_replica_gpus(g3, llm, "fp8")
    assert n > 1024  # a trillion-parameter model needs thousands of chips; the GPU cap does not apply
    for d in tp.candidate_deployments(g3, llm, "fp8"):
        est = tp.estimate_deployment(g3, llm, d, "fp8", 100, 4096, 1024)
        assert est.feasible and est.gpus_per_replica >= n, d


#: Groq's published decode speeds (tokens/s per user) of models served on its first-generation
#: LPU (GroqCloud), with the model card, weight precision (TruePoint 8-bit, MXFP4 for gpt-oss) and
#: source. The per-layer latency of groq-lpu1 is derived from the Llama 2 70B figure (in sample);
#: the others are out of sample.
PUBLISHED = [
    ("llama-2-70b", "fp8", 300.0, "TechPowerUp 2024-02 (in sample: the per-layer latency is fitted to it)"),
    ("llama-2-7b", "fp8", 750.0, "TechPowerUp 2024-02, 2,048-token context"),
    ("llama-3.1-8b", "fp8", 560.0, "GroqDocs Supported Models, llama-3.1-8b-instant"),
    ("llama-3.1-70b", "fp8", 280.0, "GroqDocs Supported Models, llama-3.3-70b-versatile (Llama 3.1 70B architecture)"),
    ("gpt-oss-120b", "fp4", 500.0, "GroqDocs Supported Models, openai/gpt-oss-120b"),
    ("gpt-oss-20b", "fp4", 1000.0, "GroqDocs Supported Models, openai/gpt-oss-20b"),
]
#: Stated tolerance: every published figure within a factor 2^0.5 = 1.41 (|log2(est / pub)| <= 0.5,
#: tighter than the GPU roofline's calibrated max of ~0.9), median |error| <= 15% out of sample.
MAX_LOG2 = 0.5
MEDIAN_REL = 0.15

# Llama 2 (Touvron et al., arXiv 2307.09288, Table 1, and the released configs): 7B MHA 32 layers,
# hidden 4,096; 70B GQA 64 Q / 8 KV heads, 80 layers, hidden 8,192
LLAMA2 = {
    "llama-2-7b": tp.LlmSpec("llama-2-7b", 6.74, 6.74, 32, "gqa", 32, 32, 128, context_len=4096, hidden_size=4096,
                             card_precision="bf16", kv_precision="bf16"),
    "llama-2-70b": tp.LlmSpec("llama-2-70b", 69.0, 69.0, 80, "gqa", 64, 8, 128, context_len=4096, hidden_size=8192,
                              card_precision="bf16", kv_precision="bf16"),
}


def lpu_check(gpus, llms) -> list[tuple[str, float, float]]:
    """(model, rule's tokens/s per user, published) for :data:`PUBLISHED` on groq-lpu1."""
    out = []
    for lid, prec, pub, _ in PUBLISHED:
        llm = LLAMA2[lid] if lid in LLAMA2 else llms[lid]
        out.append((lid, lpu.max_tokens_per_s_per_user(gpus["groq-lpu1"], llm, prec, 1024, 512), pub))
    return out


def test_lpu_rule_lands_within_tolerance_of_groqs_published_speeds(gpus, llms):
    rows = lpu_check(gpus, llms)
    errors = {lid: est / pub - 1 for lid, est, pub in rows}
    for lid, est, pub in rows:
        assert abs(math.log2(est / pub)) <= MAX_LOG2, f"{lid}: rule {est:.0f} vs published {pub:.0f} tok/s/user"
    out_of_sample = [abs(e) for lid, e in errors.items() if lid != "llama-2-70b"]
    assert len(out_of_sample) >= 2 and np.median(out_of_sample) <= MEDIAN_REL, errors
    assert abs(errors["llama-2-70b"]) < 0.01  # the figure the per-layer latency is derived from


def test_groq3_per_layer_latency_meets_nvidias_announced_target(gpus, llms):
    """groq3-lpu's per-layer latency comes from NVIDIA's 'approaching 1,000 tokens/s per user'
    for trillion-parameter models; the rule gives that back for Kimi K2 (61 layers)."""
    v = lpu.max_tokens_per_s_per_user(gpus["groq3-lpu"], llms["kimi-k2"], "fp8")
    assert 850 <= v <= 1000


# --------------------------------------------------------------------------------------
# availability in scenarios
# --------------------------------------------------------------------------------------


def _with_future_gpu(tiny: dict, available_from: str) -> dict:
    """tiny plus a cheaper, faster accelerator that becomes available at ``available_from``."""
    tiny["gpus"]["next"] = {**tiny["gpus"]["h100"], "capex_usd_per_gpu": 20000, "available_from": available_from}
    tiny["llms"]["llama-70b"]["throughput"]["next"] = {"output_tokens_per_s": 6000, "input_tokens_per_s": 30000,
                                                       "nodes_per_replica": 1}
    return tiny


def test_an_accelerator_is_not_installed_before_its_available_from_month(tiny, caplog):
    start = tiny["time"].get("start", "2025-01-01")[:7]
    later = _with_future_gpu(tiny, "2026-07")
    with caplog.at_level(logging.WARNING, logger="optimizer.inputs"):
        sc = scenario_from_dict(later)
        allowed = build_inputs(sc)["gpu_allowed"].sel(gpu="next").values
    assert not allowed.any()
    assert f"gpus.next: available from 2026-07 (available_from), after the scenario's first modelled month {start}" \
        in caplog.text
    plan = solve(sc)
    assert plan.status == "optimal" and plan.summary["gpus"].get("next", 0) == 0
    assert plan.summary["gpus"]["h100"] > 0
    sooner = scenario_from_dict(_with_future_gpu(tiny, start))  # available in the first modelled month
    assert build_inputs(sooner)["gpu_allowed"].sel(gpu="next").values.all()
    assert solve(sooner).summary["gpus"].get("next", 0) > 0  # and then chosen: cheaper and faster


def test_catalog_availability_reaches_scenarios_and_the_schema_checks_its_form(tiny):
    sc = scenario_from_dict({
        "name": "x", "time": {"start": "2025-07-01", "days": 1}, "sites": {"include": ["us-ercot"]},
        "gpus": {"include": ["b200", "vr200", "groq3-lpu"]}, "llms": {"include": ["llama-3.1-70b"]},
        "markets": {"include": ["us-east"], "us-east": {"demand_share": {"llama-3.1-70b": 0.001}}},
    })
    assert (sc.gpus["vr200"].available_from, sc.gpus["b200"].available_from) == ("2026-07", "2024-12")
    allowed = build_inputs(sc)["gpu_allowed"].any("site").to_series()
    assert allowed.to_dict() == {"b200": True, "vr200": False, "groq3-lpu": False}
    tiny["gpus"]["h100"]["available_from"] = "2025-13"
    with pytest.raises(Exception, match="available_from"):
        scenario_from_dict(tiny)


def test_default_scenario_installs_nothing_before_its_availability_date():
    """The default scenario (2025-07) with every catalog accelerator offered: the 2026 parts are
    not allowed anywhere, so the plan cannot install them."""
    sc = load_scenario(None, sets=["gpus.include=all"])
    first = f"{sc.time.index()[0]:%Y-%m}"
    allowed = build_inputs(sc)["gpu_allowed"].any("site").to_series()
    for gid, ok in allowed.items():
        frm = catalog.gpus().loc[gid, "available_from"]
        assert (frm <= first) or not ok, gid
    assert not allowed["vr200"] and not allowed["groq3-lpu"]
    plan = solve(load_scenario(None, sets=["gpus.include=[h100, b200, h20, ascend-910c, vr200, groq3-lpu]"]))
    assert plan.status == "optimal"
    assert plan.summary["gpus"].get("vr200", 0) == 0 and plan.summary["gpus"].get("groq3-lpu", 0) == 0
