"""Roofline throughput and energy estimates for LLM inference on an accelerator.

Pure functions over plain frozen dataclasses; nothing here depends on the rest of the
package. The method, its assumptions and its calibration are documented in
``docs/throughput.md``.

Public API
----------
GpuSpec, LlmSpec, Factors, Efficiency, ThroughputEstimate   plain frozen dataclasses
estimate(gpu, llm, precision, tokens_per_s_per_user, input_len, output_len, factors)
load_gpu_specs(path)           -> dict[str, GpuSpec]      (data/gpus.csv)
load_llm_specs(models_dir)     -> dict[str, LlmSpec]      (models/*.yaml)
load_benchmarks(path)          -> pd.DataFrame            (data/benchmarks.csv)
calibrate(benchmarks, gpus, llms) -> pd.DataFrame          per-row in-sample and leave-one-out errors
fit_efficiencies(benchmarks, gpus, llms) -> (dict[str, Efficiency], info)
gpu_family(gpu)                -> accelerator family used to pick the efficiency factors
min_replica_gpus(gpu, llm, precision) -> smallest deployable replica (GPUs)
parse_tags(notes), row_factors(row) -> the configuration a benchmark row states
INTERCONNECT, RANKS_PER_PACKAGE  per-GPU link bandwidths and dies run as ranks (by GPU id)

Units: FLOPs and bytes are plain counts; TFLOPS = 1e12 FLOP/s; TB/s = 1e12 B/s;
GB = 1e9 B; power in kW; energy in J; time in s unless the name says ms.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------

#: Bytes per weight element at each serving precision. FP4/INT4 include the block
#: scales (NVFP4: one FP8 scale per 16 values -> 4.5 bit; MXFP4 is 4.25 bit; we take 4.5).
PRECISION_BYTES: dict[str, float] = {
    "fp4": 0.5625,
    "int4": 0.5625,
    "fp8": 1.0,
    "int8": 1.0,
    "bf16": 2.0,
    "fp16": 2.0,
}

#: Accelerator families that carry their own calibrated efficiency factors.
FAMILIES: tuple[str, ...] = (
    "nvidia-hopper",
    "nvidia-blackwell",
    "amd-cdna3",
    "amd-cdna4",
    "huawei-ascend",
)

_FAMILY_BY_ID: dict[str, str] = {
    "h100": "nvidia-hopper",
    "h200": "nvidia-hopper",
    "h800": "nvidia-hopper",
    "h20": "nvidia-hopper",
    "b200": "nvidia-blackwell",
    "b300": "nvidia-blackwell",
    "gb200": "nvidia-blackwell",
    "gb300": "nvidia-blackwell",
    "mi300x": "amd-cdna3",
    "mi325x": "amd-cdna3",
    "mi350x": "amd-cdna4",
    "mi355x": "amd-cdna4",
    "ascend-910b": "huawei-ascend",
    "ascend-910c": "huawei-ascend",
}

#: Per-GPU one-direction link bandwidth in GB/s: (scale-up domain, scale-out NIC).
#: NVLink4 900 GB/s bidirectional (H100/H200/H20), H800 400 GB/s, NVLink5 1.8 TB/s
#: (NVIDIA datasheets; InferenceX blog "GB200 NVL72 vs B200 disagg": NVLink5 900 GB/s per
#: GPU one way, ConnectX-7 400 Gbit/s = 50 GB/s); Infinity Fabric 7 links x 64 GB/s
#: (MI300X/MI325X) and x 76.8 GB/s (MI350X/MI355X) one way (AMD datasheets); Ascend 910C
#: UB 392 GB/s one way per NPU (CloudMatrix384 paper, arXiv 2506.12708); 910B HCCS
#: assumed half of that. Scale-out 400 Gbit/s per GPU everywhere except B300/GB300
#: (ConnectX-8, 800 Gbit/s).
INTERCONNECT: dict[str, tuple[float, float]] = {
    "h100": (450.0, 50.0),
    "h200": (450.0, 50.0),
    "h800": (200.0, 50.0),
    "h20": (450.0, 50.0),
    "b200": (900.0, 50.0),
    "b300": (900.0, 100.0),
    "gb200": (900.0, 50.0),
    "gb300": (900.0, 100.0),
    "mi300x": (448.0, 50.0),
    "mi325x": (448.0, 50.0),
    "mi350x": (538.0, 50.0),
    "mi355x": (538.0, 50.0),
    "ascend-910b": (196.0, 50.0),
    "ascend-910c": (392.0, 50.0),
}

#: Compute dies run as separate ranks by the serving stack (CloudMatrix-Infer runs EP320
#: over 160 Ascend 910C packages: one rank per die).
RANKS_PER_PACKAGE: dict[str, int] = {"ascend-910c": 2}

#: Serving modes. "disaggregated": decode GPUs only decode, so the per-user speed bounds
#: the decode step alone. "aggregated": prefill and decode share the GPUs, so the
#: prefill work of the batch also lengthens each user's time per output token.
ServingMode = Literal["disaggregated", "aggregated"]


@dataclass(frozen=True)
class Efficiency:
    """Achieved fraction of datasheet peaks for one accelerator family.

    Attributes
    ----------
    bw : float
        Fraction of peak HBM bandwidth achieved by decode (dimensionless, 0-1].
    compute : float
        Fraction of peak dense tensor FLOP/s achieved by GEMMs (prefill and decode;
        dimensionless, 0-1]. Attention kernels reach ``compute`` x the calibrated
        attention scale.
    """

    bw: float
    compute: float


# --- calibrated constants -------------------------------------------------------------
# Fitted by ``fit_efficiencies`` over data/benchmarks.csv: least squares on log(estimate /
# measured) with a weak ridge on the family offsets; 11 free parameters (global logits of
# the HBM-bandwidth and GEMM efficiencies, one software offset per accelerator family
# shared by both, the step overhead tau, the overlap exponent p, the collective-time
# multiplier and the attention-kernel efficiency relative to GEMMs).
# Errors: median |estimate / measured - 1| and max |log2(estimate / measured)| over the
# rows, in-sample and leave-one-out (per-row table in docs/throughput.md).
# Regenerate with ``python -m optimizer.throughput`` and paste the printed block here.
# CALIBRATION-BEGIN
CALIBRATION_DATE = "2026-11-29"
CALIBRATION_ROWS = 45
CALIBRATION_MEDIAN_ABS_REL_ERROR = 0.1644
CALIBRATION_MAX_ABS_LOG2_ERROR = 0.9184
CALIBRATION_LOO_MEDIAN_ABS_REL_ERROR = 0.2157
CALIBRATION_LOO_MAX_ABS_LOG2_ERROR = 1.1980
CALIBRATED_EFFICIENCY: dict[str, Efficiency] = {
    "nvidia-hopper": Efficiency(bw=0.6532, compute=0.8362),
    "nvidia-blackwell": Efficiency(bw=0.6153, compute=0.8125),
    "amd-cdna3": Efficiency(bw=0.3634, compute=0.6073),
    "amd-cdna4": Efficiency(bw=0.6452, compute=0.8313),
    "huawei-ascend": Efficiency(bw=0.5930, compute=0.7979),
}
DEFAULT_EFFICIENCY = Efficiency(bw=0.5616, compute=0.7717)
CALIBRATED_STEP_OVERHEAD_US_PER_LAYER = 23.831
CALIBRATED_OVERLAP_EXPONENT = 1.1262
CALIBRATED_EP_COMM_SCALE = 0.6854
CALIBRATED_ATTENTION_COMPUTE_SCALE = 0.4666
# CALIBRATION-END


# --------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuSpec:
    """One accelerator (one GPU / NPU package), as in ``data/gpus.csv``.

    Attributes
    ----------
    id : str
        Catalog id, e.g. ``"h100"``.
    bf16_tflops, fp8_tflops, fp4_tflops : float, float | None, float | None
        Dense tensor throughput in TFLOPS (1e12 FLOP/s); None where unsupported.
    hbm_gb : float
        HBM capacity (GB = 1e9 B).
    hbm_tb_s : float
        HBM bandwidth (TB/s = 1e12 B/s).
    power_kw_per_gpu, idle_power_kw_per_gpu : float
        All-in IT power per GPU at full load and when idle (kW).
    gpus_per_node : int
        GPUs in one server / compute tray.
    scaleup_domain_gpus : int
        GPUs in one scale-up (NVLink / Infinity Fabric / UB) domain.
    vendor : str
        Vendor name (informative).
    scaleup_gb_s, scaleout_gb_s : float | None
        Per-GPU one-direction link bandwidth (GB/s) inside the scale-up domain (NVLink,
        Infinity Fabric, UB) and across it (InfiniBand / RoCE NIC). Not in
        ``data/gpus.csv``; None (default) -> :data:`INTERCONNECT` by id (450 / 50 for
        unknown ids).
    ranks_per_package : int | None
        Compute dies that software runs as separate ranks (2 for Ascend 910C, whose two
        dies are separate NPUs to the serving stack); data-parallel attention holds one
        copy of the non-expert weights per rank. None -> :data:`RANKS_PER_PACKAGE` by id.
    """

    id: str
    bf16_tflops: float
    fp8_tflops: float | None
    fp4_tflops: float | None
    hbm_gb: float
    hbm_tb_s: float
    power_kw_per_gpu: float
    idle_power_kw_per_gpu: float
    gpus_per_node: int = 8
    scaleup_domain_gpus: int = 8
    vendor: str = ""
    scaleup_gb_s: float | None = None
    scaleout_gb_s: float | None = None
    ranks_per_package: int | None = None

    def __post_init__(self) -> None:
        # links and ranks not given: from INTERCONNECT / RANKS_PER_PACKAGE by id
        # (450 / 50 GB/s and one rank for unknown ids)
        up, out = INTERCONNECT.get(self.id.lower(), (450.0, 50.0))
        if self.scaleup_gb_s is None:
            object.__setattr__(self, "scaleup_gb_s", up)
        if self.scaleout_gb_s is None:
            object.__setattr__(self, "scaleout_gb_s", out)
        if self.ranks_per_package is None:
            object.__setattr__(self, "ranks_per_package", RANKS_PER_PACKAGE.get(self.id.lower(), 1))

    def peak_tflops(self, precision: str) -> float:
        """Dense tensor peak (TFLOPS) used for matmuls at ``precision``.

        Without native support the next wider supported format is used (weights stay
        stored at ``precision``): fp4 -> fp8 -> bf16; int8 -> fp8, else 2 x bf16
        (INT8 tensor rate on Ascend/Hopper-class parts); int4 behaves like fp4.
        """
        p = _norm_precision(precision)
        if p in ("bf16", "fp16"):
            return self.bf16_tflops
        if p in ("fp4", "int4"):
            return self.fp4_tflops or self.fp8_tflops or self.bf16_tflops
        if p == "fp8":
            return self.fp8_tflops or self.bf16_tflops
        if p == "int8":
            return self.fp8_tflops or 2.0 * self.bf16_tflops
        raise ValueError(f"unknown precision {precision!r}")


@dataclass(frozen=True)
class LlmSpec:
    """Architecture facts of one LLM, as in ``models/<id>.yaml``.

    Attributes
    ----------
    id : str
    total_params_b, active_params_b : float
        Parameters in billions (all / used per token).
    layers : int
    attention : str
        ``"mla"`` or ``"gqa"``.
    q_heads, kv_heads, head_dim : int
        Attention heads and head width (for MLA, ``head_dim`` is the no-RoPE query/key
        width and the value width).
    kv_lora_rank, rope_dim : int
        MLA latent width and decoupled RoPE width (0 for GQA).
    experts, experts_per_token, shared_experts : int
        Routed experts, routed experts used per token, always-on shared experts (0 = dense).
    context_len : int
        Maximum context (tokens).
    kv_bytes_per_token : float | None
        KV-cache bytes per token at the card's KV precision; None -> derived from the
        architecture at 2 B/element.
    hidden_size : int
    weight_gb : float | None
        Weight bytes (GB) at ``card_precision``; None -> derived from parameter count.
    card_precision, kv_precision : str | None
        The card's serving precision and KV precision.
    """

    id: str
    total_params_b: float
    active_params_b: float
    layers: int
    attention: str = "gqa"
    q_heads: int = 0
    kv_heads: int = 0
    head_dim: int = 128
    kv_lora_rank: int = 0
    rope_dim: int = 0
    experts: int = 0
    experts_per_token: int = 0
    shared_experts: int = 0
    context_len: int = 131072
    kv_bytes_per_token: float | None = None
    hidden_size: int = 0
    weight_gb: float | None = None
    card_precision: str | None = None
    kv_precision: str | None = None

    @property
    def is_moe(self) -> bool:
        """True when the model routes tokens to a subset of experts."""
        return self.experts > 0 and 0 < self.experts_per_token < self.experts

    def kv_bytes(self, bytes_per_element: float | None = None) -> float:
        """KV-cache bytes per token (B/token).

        Parameters
        ----------
        bytes_per_element : float, optional
            KV element size (B). The card's ``kv_bytes_per_token`` is rescaled from its
            ``kv_precision`` (so sliding-window savings in the card value are kept);
            without a card value the architecture is used (2 B/element by default).
        """
        if self.kv_bytes_per_token:
            if bytes_per_element is None:
                return float(self.kv_bytes_per_token)
            card_elem = PRECISION_BYTES.get(_norm_precision(self.kv_precision or "bf16"), 2.0)
            return float(self.kv_bytes_per_token) * float(bytes_per_element) / card_elem
        b = 2.0 if bytes_per_element is None else float(bytes_per_element)
        if self.attention == "mla" and self.kv_lora_rank > 0:
            return (self.kv_lora_rank + self.rope_dim) * self.layers * b
        kv_heads = self.kv_heads or self.q_heads
        return 2.0 * kv_heads * self.head_dim * self.layers * b

    def expert_params_b(self) -> float:
        """Routed-expert parameters (billions); 0 for dense models.

        From total = dense + experts and active = dense + experts x k / E.
        """
        if not self.is_moe:
            return 0.0
        share = self.experts_per_token / self.experts
        pe = (self.total_params_b - self.active_params_b) / (1.0 - share)
        return float(min(max(pe, 0.0), self.total_params_b))

    def attention_flops_per_token(self, context: float, *, decode: bool) -> float:
        """Attention score and value FLOPs for one token attending to ``context`` tokens.

        Decode with MLA uses the weight-absorbed form (scores over the kv_lora_rank + rope
        latent, values over the latent); prefill with MLA uses the expanded per-head form.
        GQA: 2 FLOP per multiply-add, QK^T and AV each ``q_heads x head_dim`` wide.
        """
        q = self.q_heads or max(self.kv_heads, 1)
        if self.attention == "mla" and self.kv_lora_rank > 0:
            if decode:
                width = (self.kv_lora_rank + self.rope_dim) + self.kv_lora_rank
            else:
                width = (self.head_dim + self.rope_dim) + self.head_dim
        else:
            width = 2 * self.head_dim
        return 2.0 * q * width * float(context) * self.layers


@functools.lru_cache(maxsize=256)
def _norm_precision(p: str) -> str:
    p = str(p).strip().lower().replace("-", "").replace("_", "")
    aliases = {"bfloat16": "bf16", "float16": "fp16", "mxfp4": "fp4", "nvfp4": "fp4", "w4a16": "int4"}
    p = aliases.get(p, p)
    if p not in PRECISION_BYTES:
        raise ValueError(f"unknown precision {p!r}; expected one of {sorted(PRECISION_BYTES)}")
    return p


def gpu_family(gpu: GpuSpec) -> str:
    """Accelerator family of ``gpu`` (selects its efficiency factors).

    Known ids map directly; otherwise the vendor and FP4 support decide.
    """
    fam = _FAMILY_BY_ID.get(gpu.id.lower())
    if fam:
        return fam
    v = gpu.vendor.lower()
    if "huawei" in v or gpu.id.lower().startswith("ascend"):
        return "huawei-ascend"
    if "amd" in v:
        return "amd-cdna4" if gpu.fp4_tflops else "amd-cdna3"
    if "nvidia" in v:
        return "nvidia-blackwell" if gpu.fp4_tflops else "nvidia-hopper"
    return "generic"


# --------------------------------------------------------------------------------------
# Factors and result
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Factors:
    """Modelling choices and efficiency factors for :func:`estimate`.

    Attributes
    ----------
    efficiency : Mapping[str, Efficiency] | None
        Per-family efficiencies; None -> the calibrated module constants.
    hbm_reserve_frac : float
        Share of HBM not usable for weights or KV (activations, CUDA graphs, fragmentation).
    min_kv_frac : float
        Smallest useful KV cache, as a share of replica HBM, when sizing the replica.
    serving : {"disaggregated", "aggregated"}
        See :data:`ServingMode`.
    mtp_tokens_per_step : float
        Expected tokens emitted per sequence per decode step with speculative decoding /
        multi-token prediction (1.0 = off). Each step verifies ``ceil(m)`` tokens unless
        ``mtp_verify_tokens`` says otherwise.
    mtp_verify_tokens : int | None
        Tokens verified per sequence per step (1 + draft tokens); None -> ``ceil(m)``.
    prefix_cache_hit : float
        Share of input tokens served from a prefix cache (no prefill compute).
    kv_bytes_per_element : float | None
        Override the card's KV precision (B/element, e.g. 1 for FP8 KV).
    gpus_per_replica : int | None
        Force the decode replica size (GPUs) instead of sizing it.
    max_replica_gpus : int
        Largest replica considered.
    fp4_compute_fraction : float | None
        Share of the datasheet FP4 tensor peak credited to FP4 matmuls (never below the
        FP8 rate). None (default) -> FP4 matmuls are timed at the FP8 rate (see
        docs/throughput.md); FP4 weights still halve the bytes read.
    replica_policy : {"best", "smallest"}
        Candidate decode replicas are (size, layout) pairs: sizes from the smallest
        deployable one (``n_min``: weights plus ``min_kv_frac`` of HBM) up by doublings,
        layouts ``tp`` (weights, attention heads and batch split over the GPUs) and, for
        MoE models, attention data-parallel (``dp-ep``) or tensor-parallel in groups of
        4 or 8 (``tp4-ep``, ``tp8-ep``) with the routed experts spread over the replica.
        "best" (default) takes the candidate with the highest total tokens/s per GPU
        (ties: the faster decode), which keeps throughput monotone in the per-user speed
        and in HBM bandwidth; "smallest" stops at the first size that meets the speed.
    replica_doublings : int
        Dense models: how many doublings of ``n_min`` inside the scale-up domain are
        candidates (default 3: up to 8 x ``n_min``, e.g. TP1-TP8 for a 70B model on one
        node; tensor-parallel all-reduce bytes and collective latency are charged).
    wide_ep : bool
        MoE models: consider every doubling of ``n_min`` up to the scale-up domain
        (expert parallelism over NVL72 / CloudMatrix384) and, over the scale-out
        network, up to ``scaleout_ep_gpus`` (default True).
    scaleout_ep_gpus : int
        Widest MoE replica across scale-out links (DeepSeek serves decode at EP144 over
        InfiniBand; default 256). 0 keeps MoE replicas inside the scale-up domain unless
        the weights need more.
    layout : {"best", "tp", "dp-ep"}
        Force the decode layout of MoE replicas ("best": all candidates). ``tp`` is
        honoured up to ``max_attention_tp`` GPUs.
    attention_tp_sizes : tuple[int, ...]
        Attention tensor-parallel group sizes tried for MoE replicas besides 1 (pure
        data-parallel attention) and the replica itself.
    max_attention_tp : int
        Widest tensor-parallel attention group (default 8: attention heads are not split
        wider than one node in the serving stacks the benchmarks use).
    max_batch_per_gpu : float | None
        Cap on concurrent decode sequences per GPU (a benchmark's concurrency / GPUs).
    max_batch_per_replica : float | None
        Cap on concurrent decode sequences per replica (e.g. the top of a benchmark's
        concurrency sweep when the replica size is not known).
    prefill_decode_ratio : float | None
        Disaggregated serving with a fixed ratio of prefill GPUs to decode GPUs (a
        deployed configuration); the pool that runs out first sets the request rate.
        None (default): GPU time of both phases simply adds (pools sized to the load).
    step_overhead_us_per_layer : float | None
        Fixed time per decode step per layer and per collective stage (kernel launches,
        synchronisation, collective latency, draft passes), in microseconds; the step
        pays ``tau x layers x (1 + log2(ranks per replica))``. None -> calibrated constant.
    overlap_exponent : float | None
        p of the p-norm that joins the memory, compute and collective times of a step:
        ``(t_mem^p + t_compute^p + t_comm^p)^(1/p)``. p = 1: they never overlap (one
        kernel waits for the other); p -> infinity: perfect overlap (the classic roofline
        max). None -> calibrated constant.
    ep_comm_scale : float | None
        Multiplier on the collective time (expert-parallel dispatch + combine and
        tensor-parallel all-reduce bytes over the per-GPU link bandwidth of
        :data:`INTERCONNECT`): the exposed share after routing limits and overlap.
        None -> calibrated constant.
    attention_compute_scale : float | None
        Efficiency of attention kernels relative to the GEMM efficiency ``compute`` of
        the family (attention FLOPs run at ``compute x scale`` of the BF16 peak, or of
        the FP8 peak with ``fp8_attention``). None -> calibrated constant.
    fp8_attention : bool
        Attention math at the FP8 rate when the KV cache is FP8 (FlashMLA-FP8, FA3-FP8);
        default False (BF16 attention math).
    """

    efficiency: Mapping[str, Efficiency] | None = None
    hbm_reserve_frac: float = 0.10
    min_kv_frac: float = 0.15
    serving: ServingMode = "disaggregated"
    mtp_tokens_per_step: float = 1.0
    prefix_cache_hit: float = 0.0
    kv_bytes_per_element: float | None = None
    gpus_per_replica: int | None = None
    max_replica_gpus: int = 1024
    max_batch_per_gpu: float | None = None
    max_batch_per_replica: float | None = None
    step_overhead_us_per_layer: float | None = None
    replica_policy: Literal["best", "smallest"] = "best"
    replica_doublings: int = 3
    fp4_compute_fraction: float | None = None
    mtp_verify_tokens: int | None = None
    wide_ep: bool = True
    scaleout_ep_gpus: int = 256
    layout: Literal["best", "tp", "dp-ep"] = "best"
    prefill_decode_ratio: float | None = None
    overlap_exponent: float | None = None
    ep_comm_scale: float | None = None
    attention_compute_scale: float | None = None
    fp8_attention: bool = False
    attention_tp_sizes: tuple[int, ...] = (4, 8)
    max_attention_tp: int = 8

    def step_overhead_s(self, llm: LlmSpec, ranks: int) -> float:
        """Fixed decode-step overhead (s): tau x layers x (1 + log2(ranks per replica)).

        The log term stands for the latency of the per-layer collectives (tensor-parallel
        all-reduce or expert-parallel dispatch/combine), which grows with the group size.
        """
        us = (CALIBRATED_STEP_OVERHEAD_US_PER_LAYER if self.step_overhead_us_per_layer is None
              else self.step_overhead_us_per_layer)
        return max(us, 0.0) * 1e-6 * llm.layers * (1.0 + math.log2(max(ranks, 1)))

    def overlap_p(self) -> float:
        """Exponent p of the memory/compute p-norm (>= 1)."""
        p = CALIBRATED_OVERLAP_EXPONENT if self.overlap_exponent is None else self.overlap_exponent
        return max(float(p), 1.0)

    def attn_scale(self) -> float:
        """Attention-kernel efficiency relative to the GEMM efficiency (> 0)."""
        s = (CALIBRATED_ATTENTION_COMPUTE_SCALE if self.attention_compute_scale is None
             else self.attention_compute_scale)
        return max(float(s), 1e-3)

    def comm_scale(self) -> float:
        """Multiplier on the expert-parallel all-to-all time (>= 0)."""
        s = CALIBRATED_EP_COMM_SCALE if self.ep_comm_scale is None else self.ep_comm_scale
        return max(float(s), 0.0)

    def efficiency_for(self, gpu: GpuSpec) -> Efficiency:
        """Efficiency factors for ``gpu``'s family (default when the family is unknown)."""
        table = CALIBRATED_EFFICIENCY if self.efficiency is None else self.efficiency
        return table.get(gpu_family(gpu), DEFAULT_EFFICIENCY)


@dataclass(frozen=True)
class ThroughputEstimate:
    """Operating point of one (accelerator, LLM, precision, per-user speed, request shape).

    Rates are per GPU. ``output_tokens_per_s_per_gpu`` is the decode-phase rate (what a
    decode-only GPU produces); ``input_tokens_per_s_per_gpu`` the prefill-phase rate
    (input tokens per second, cached prefix tokens included);
    ``total_tokens_per_s_per_gpu`` = (in + out) / (in / input_rate + out / output_rate)
    for requests of the given shape, and ``delivered_output_tokens_per_s_per_gpu`` its
    output share. ``kw_per_gpu`` is the time-weighted mean power over prefill and decode.
    ``decode_layout`` names the chosen decode layout (``tp``, ``dp-ep``, ``tp4-ep``, ...).
    """

    gpu_id: str
    llm_id: str
    precision: str
    family: str
    feasible: bool
    limit: str
    gpus_per_replica: int
    nodes_per_replica: int
    batch_per_replica: float
    output_tokens_per_s_per_gpu: float
    input_tokens_per_s_per_gpu: float
    total_tokens_per_s_per_gpu: float
    delivered_output_tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float
    decode_step_ms: float
    decode_bound: str
    weight_gb_per_gpu: float
    kv_gb_per_gpu: float
    decode_utilisation: float
    prefill_utilisation: float
    decode_kw_per_gpu: float
    prefill_kw_per_gpu: float
    kw_per_gpu: float
    joules_per_output_token: float
    joules_per_token: float
    tokens_per_kwh: float
    eta_bw: float
    eta_compute: float
    decode_layout: str = "tp"

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of all fields."""
        return asdict(self)




# --------------------------------------------------------------------------------------
# Core model
# --------------------------------------------------------------------------------------

#: Bytes per parameter of the non-expert weights (attention, embeddings, dense and shared
#: FFN) of an MoE model served at a 4-bit precision: NVFP4 / MXFP4 checkpoints quantise
#: the routed experts only and keep the rest at FP8 or wider.
_MOE_FP4_NON_EXPERT_BYTES = 1.0

#: All-to-all bytes per token, per MoE layer and per routed expert copy: dispatch in FP8
#: (1 B per hidden element) plus combine in BF16 (2 B) (DeepSeek day 6: "FP8 for
#: dispatch, BF16 for combine").
_EP_BYTES_PER_ELEMENT = 3.0

#: Tensor-parallel all-reduce bytes per token and layer: two all-reduces (attention and
#: FFN outputs) of the hidden vector in BF16, each moving 2 (N-1)/N of it per GPU.
_TP_ALLREDUCE_BYTES_PER_ELEMENT = 2.0 * 2.0 * 2.0


def _weight_bytes(llm: LlmSpec, precision: str) -> tuple[float, float]:
    """(non-expert bytes, routed-expert bytes) of the weights at ``precision`` (B).

    Dense models: everything is non-expert. MoE models at a 4-bit precision keep the
    non-expert weights at FP8 (``_MOE_FP4_NON_EXPERT_BYTES``). The card's ``weight_gb``
    is used as the total when the precision equals the card's.
    """
    p = _norm_precision(precision)
    total_params = llm.total_params_b * 1e9
    card = (float(llm.weight_gb) * 1e9
            if llm.weight_gb and llm.card_precision and _norm_precision(llm.card_precision) == p
            else None)
    if not llm.is_moe:
        return (card if card is not None else total_params * PRECISION_BYTES[p]), 0.0
    pe = llm.expert_params_b() * 1e9
    pn = max(total_params - pe, 0.0)
    ne_b = PRECISION_BYTES[p]
    if p in ("fp4", "int4"):
        ne_b = max(ne_b, _MOE_FP4_NON_EXPERT_BYTES)
    w_ne = pn * ne_b
    w_e = pe * PRECISION_BYTES[p]
    if card is not None:
        w_e = max(card - w_ne, 0.0)
    return w_ne, w_e


@dataclass(frozen=True)
class _Layout:
    """Per-GPU memory picture of one decode replica (bytes)."""

    name: str  # "tp" or "dp-ep"
    n: int  # GPUs (packages) per replica
    w_fix: float  # weight bytes read per GPU every step (non-expert weights)
    w_exp: float  # routed-expert bytes per GPU (read in proportion to experts touched)
    kv_seq: float  # KV bytes per GPU per sequence of the replica (stored and read)
    comm_tok: float  # collective bytes per GPU per token of the replica's batch
    link: float  # per-GPU link bandwidth for those collectives (B/s)


def _layouts(gpu: GpuSpec, llm: LlmSpec, w_ne: float, w_e: float, n: int, kv_tok: float,
             ctx: float, f: Factors) -> list[_Layout]:
    """Candidate layouts of an ``n``-GPU decode replica.

    ``tp``: weights and the attention heads split over the ranks (MoE experts spread by
    expert parallelism, which moves the same bytes per GPU). MLA keeps one latent KV per
    sequence, so under TP every rank holds and reads the whole KV cache; GQA shards it
    over at most ``kv_heads`` ranks. ``dp-ep`` (MoE only): every rank runs attention for
    its own sequences (data-parallel attention) and so holds all non-expert weights,
    while the routed experts are spread over the replica.
    """
    r = max(int(gpu.ranks_per_package or 1), 1)
    ranks = n * r
    link = float((gpu.scaleup_gb_s if n <= max(gpu.scaleup_domain_gpus, 1) else gpu.scaleout_gb_s)
                 or 50.0) * 1e9
    link = max(link, 1e6)
    frac_remote = (ranks - 1) / ranks if ranks > 1 else 0.0
    h = float(llm.hidden_size or 0)
    moe_layers = llm.layers if llm.is_moe else 0
    if llm.attention == "mla" and llm.kv_lora_rank > 0:
        kv_shard = 1.0
    else:
        kv_shard = float(min(n, max(llm.kv_heads or llm.q_heads or 1, 1)))
    out: list[_Layout] = []
    if not llm.is_moe or n == 1 or (f.layout == "tp" and n <= f.max_attention_tp):
        groups = [n]
    elif f.layout == "dp-ep":
        groups = [1]
    else:
        # attention is split over at most max_attention_tp GPUs (heads); wider replicas
        # run it data-parallel across groups
        tmax = max(1, min(n, f.max_attention_tp))
        groups = sorted({t for t in f.attention_tp_sizes if t <= tmax} | {1, tmax})
    ep_bytes = _EP_BYTES_PER_ELEMENT * h * llm.experts_per_token * moe_layers * frac_remote
    for t in groups:
        if t == n:
            # attention (and dense layers) tensor-parallel over the whole replica: the
            # all-reduce of every token on every rank of the group
            comm = _TP_ALLREDUCE_BYTES_PER_ELEMENT * h * llm.layers * frac_remote if n > 1 else 0.0
            out.append(_Layout("tp", n, w_ne / n, w_e / n, ctx * kv_tok / kv_shard, comm, link))
            continue
        # attention tensor-parallel inside groups of t GPUs, data-parallel across the
        # n / t groups; routed experts spread over all n. Each token visits k experts,
        # (ranks-1)/ranks of them remote; a GPU carries t / n of the replica's tokens
        # for attention and 1 / n of them for dispatch.
        shard_t = 1.0 if kv_shard == 1.0 else float(min(t, kv_shard))
        comm = (ep_bytes + _TP_ALLREDUCE_BYTES_PER_ELEMENT * h * llm.layers * (t - 1)) / n
        w_fix = w_ne * r if t == 1 else w_ne / t
        name = "dp-ep" if t == 1 else f"tp{t}-ep"
        out.append(_Layout(name, n, w_fix, w_e / n, ctx * kv_tok * t / (n * shard_t), comm, link))
    return out


@dataclass(frozen=True, slots=True)
class _Ctx:
    """Pre-computed per-call quantities for one candidate (size, layout).

    Times per decode step on one GPU for ``b`` sequences per replica:
    memory ``mem_fix + mem_exp x (1 - exp(b x log_miss)) + mem_seq x b`` (the middle term
    is the share of routed experts touched), compute ``cmp_seq x b``, collectives
    ``com_seq x b``.
    """

    lay: _Layout
    n: int
    ranks: int
    bw: float  # B/s per GPU, after efficiency
    mem_fix: float
    mem_exp: float
    mem_seq: float
    log_miss: float  # verify x log(1 - k / E): log of the chance an expert is untouched, per seq
    cmp_seq: float
    com_seq: float
    pre_cmp: float  # prefill compute GPU-seconds per prompt token
    pre_com: float  # prefill collective GPU-seconds per prompt token (after comm scale)
    verify: float  # tokens processed per sequence per step
    m: float  # tokens emitted per sequence per step
    in_rate: float  # input tok/s per GPU (prefill phase, cache hits included)
    b_mem: float  # sequences per replica that fit in KV memory
    b_cap: float  # sequences per replica allowed by the batch caps
    t0: float  # fixed step overhead (s)
    p: float  # overlap exponent
    aggregated: bool
    in_len: float
    out_len: float
    pd_ratio: float | None


def _pnorm(a: float, b: float, c: float, p: float) -> float:
    hi = a if a >= b else b
    if c > hi:
        hi = c
    if hi <= 0.0:
        return 0.0
    if p >= 64.0:
        return hi
    return hi * ((a / hi) ** p + (b / hi) ** p + (c / hi) ** p) ** (1.0 / p)


def _step(c: _Ctx, b: float) -> tuple[float, float, float, float]:
    """Decode step (s) and its memory, compute and communication times for ``b`` sequences."""
    t_mem = c.mem_fix + c.mem_seq * b
    if c.mem_exp:
        t_mem += c.mem_exp * -math.expm1(b * c.log_miss)
    t_cmp = c.cmp_seq * b
    t_com = c.com_seq * b
    return _pnorm(t_mem, t_cmp, t_com, c.p) + c.t0, t_mem, t_cmp, t_com


def _tpot(c: _Ctx, b: float) -> float:
    """Time per output token seen by one user (s) with ``b`` sequences per replica."""
    t_mem = c.mem_fix + c.mem_seq * b
    if c.mem_exp:
        t_mem += c.mem_exp * -math.expm1(b * c.log_miss)
    return (_pnorm(t_mem, c.cmp_seq * b, c.com_seq * b, c.p) + c.t0) / c.m


def _solve_batch(c: _Ctx, target_tpot: float) -> tuple[float, str]:
    """Largest batch per replica meeting ``target_tpot`` and fitting in KV memory."""
    b_mem = c.b_mem
    if b_mem <= 0:
        return 0.0, "memory"
    cap_limit = "memory"
    if c.b_cap < b_mem:
        b_mem, cap_limit = c.b_cap, "batch-cap"
    eps = min(1e-6, b_mem)
    f_lo = _tpot(c, eps) - target_tpot
    if f_lo > 0:
        return 0.0, "latency"
    f_hi = _tpot(c, b_mem) - target_tpot
    if f_hi <= 0:
        return b_mem, cap_limit
    # tpot(b) rises monotonically with b: Illinois false position, bracket kept
    lo, hi = eps, b_mem
    side = 0
    for _ in range(100):
        mid = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        if not lo < mid < hi:
            mid = 0.5 * (lo + hi)
        f_mid = _tpot(c, mid) - target_tpot
        if f_mid <= 0:
            lo, f_lo = mid, f_mid
            if side == -1:
                f_hi *= 0.5
            side = -1
        else:
            hi, f_hi = mid, f_mid
            if side == 1:
                f_lo *= 0.5
            side = 1
        if hi - lo <= 1e-7 * hi or -1e-9 * target_tpot <= f_mid <= 0:
            break
    return lo, "latency"


def _rates(c: _Ctx, b: float, in_rate: float) -> tuple[float, float, float, float]:
    """(output rate, total rate, prefill share of GPU time, step) per GPU at batch ``b``.

    ``in_rate`` is the prefill rate per GPU (disaggregated: of the best prefill replica).
    """
    step = _step(c, b)[0]
    out_rate = b * c.m / step / c.n
    in_len, out_len = c.in_len, c.out_len
    if c.aggregated:
        return out_rate, out_rate * (in_len + out_len) / out_len, 0.0, step
    if in_len <= 0:
        return out_rate, out_rate, 0.0, step
    t_pre = in_len / in_rate  # prefill GPU-seconds per request
    t_dec = out_len / out_rate  # decode GPU-seconds per request
    if c.pd_ratio is not None and c.pd_ratio > 0:
        # fixed pools: prefill GPUs x : decode GPUs 1; the slower pool sets the pace
        x = c.pd_ratio
        req_per_gpu = min(x / t_pre, 1.0 / t_dec) / (1.0 + x)
        total = req_per_gpu * (in_len + out_len)
        busy_pre = req_per_gpu * t_pre
        busy_dec = req_per_gpu * t_dec
        return out_rate, total, busy_pre / max(busy_pre + busy_dec, 1e-30), step
    total = (in_len + out_len) / (t_pre + t_dec)
    return out_rate, total, t_pre / (t_pre + t_dec), step


def _min_replica(gpu: GpuSpec, llm: LlmSpec, precision: str, f: Factors) -> int:
    """Smallest power-of-two GPU count holding the weights plus ``min_kv_frac`` of HBM."""
    w = sum(_weight_bytes(llm, precision))
    per_gpu = gpu.hbm_gb * 1e9 * (1.0 - f.hbm_reserve_frac - f.min_kv_frac)
    if per_gpu <= 0:
        raise ValueError("hbm_reserve_frac + min_kv_frac must be < 1")
    n = 1
    while n * per_gpu < w and n < f.max_replica_gpus:
        n *= 2
    return n


def min_replica_gpus(gpu: GpuSpec, llm: LlmSpec, precision: str, factors: Factors | None = None) -> int:
    """Smallest deployable replica (GPUs, a power of two) for ``llm`` at ``precision``.

    The replica's usable HBM (``1 - hbm_reserve_frac`` of the total) must hold the weights
    plus a KV cache of ``min_kv_frac`` of the total HBM.
    """
    return _min_replica(gpu, llm, _norm_precision(precision), factors or Factors())


def _replica_ladder(gpu: GpuSpec, llm: LlmSpec, n_min: int, f: Factors) -> list[int]:
    """Candidate replica sizes: n_min, then doublings inside the scale-up domain.

    A replica larger than the scale-up domain is only used when the weights need it
    (``n_min``). Dense models take ``replica_doublings`` doublings; MoE models (with
    ``wide_ep``) every doubling up to the scale-up domain, since expert parallelism is
    what a large NVLink / UB domain is for.
    """
    dom = max(gpu.scaleup_domain_gpus, 1)
    if llm.is_moe and f.wide_ep:
        cap = max(n_min, min(max(dom, f.scaleout_ep_gpus), f.max_replica_gpus))
    else:
        cap = max(n_min, min(dom, f.max_replica_gpus, n_min * 2 ** max(f.replica_doublings, 0)))
    out = [n_min]
    n = n_min * 2
    while n <= cap:
        out.append(n)
        n *= 2
    return out


def _gemm_seconds_per_token(gpu: GpuSpec, llm: LlmSpec, p: str, f: Factors,
                            compute_eff: float) -> float:
    """GEMM time of one token on one GPU (s): 2 x active params at the matmul rate.

    Matmuls run at the peak of the weight precision (next wider format without native
    support). 4-bit weights: by default timed at the FP8 rate; with
    ``fp4_compute_fraction`` set, the quantised share (routed experts of an MoE model,
    all linear layers of a dense one) runs at that fraction of the FP4 peak (never below
    the FP8 rate) and the rest of an MoE model at the FP8 rate.
    """
    flops = 2.0 * llm.active_params_b * 1e9
    peak = gpu.peak_tflops(p) * 1e12
    if p not in ("fp4", "int4"):
        return flops / (compute_eff * peak)
    fp8_peak = gpu.peak_tflops("fp8") * 1e12
    if f.fp4_compute_fraction is None or not gpu.fp4_tflops:
        return flops / (compute_eff * fp8_peak)
    fp4_peak = max(f.fp4_compute_fraction * gpu.fp4_tflops * 1e12, fp8_peak)
    if not llm.is_moe:
        return flops / (compute_eff * fp4_peak)
    exp_active = 2.0 * llm.expert_params_b() * 1e9 * llm.experts_per_token / llm.experts
    exp_active = min(exp_active, flops)
    return exp_active / (compute_eff * fp4_peak) + (flops - exp_active) / (compute_eff * fp8_peak)


@dataclass(frozen=True, slots=True)
class _Common:
    """Quantities of one estimate call that do not depend on the replica candidate."""

    w_ne: float
    w_e: float
    kv_tok: float
    ctx: float
    lin_t: float  # GEMM seconds per token on one GPU (2 x active params / rate)
    dec_attn_t: float  # decode attention seconds per token on one GPU
    pre_cmp: float  # prefill compute GPU-seconds per prompt token
    m: float
    verify: float
    hit: float
    pexp: float
    cscale: float
    usable: float
    bw: float
    log_miss: float
    chunk_per_n: float  # aggregated: prompt tokens per emitted token x m (0 if disaggregated)
    aggregated: bool
    in_len: float
    out_len: float
    b_cap_gpu: float
    b_cap_rep: float
    pd_ratio: float | None


def _common(
    gpu: GpuSpec, llm: LlmSpec, p: str, input_len: int, output_len: int, f: Factors,
    eff: Efficiency,
) -> _Common:
    kv_tok = llm.kv_bytes(f.kv_bytes_per_element)
    ctx = float(input_len) + 0.5 * float(output_len)
    kv_elem = (f.kv_bytes_per_element if f.kv_bytes_per_element is not None
               else PRECISION_BYTES.get(_norm_precision(llm.kv_precision or "bf16"), 2.0))
    # attention math at BF16 (FP8 only with ``fp8_attention``, FP8 KV and FP8 support)
    attn_peak = (gpu.fp8_tflops if (f.fp8_attention and kv_elem <= 1.0 and gpu.fp8_tflops)
                 else gpu.bf16_tflops) * 1e12
    lin_t = _gemm_seconds_per_token(gpu, llm, p, f, eff.compute)
    attn_rate = min(eff.compute * f.attn_scale(), 1.0) * attn_peak
    m = max(1.0, float(f.mtp_tokens_per_step))
    if f.mtp_verify_tokens:
        verify = float(max(int(f.mtp_verify_tokens), 1))
    else:
        verify = float(math.ceil(m - 1e-9)) if m > 1.0 else 1.0
    # prefill: compute, attention averaged over causal positions (context L/2), joined
    # with the layout's collectives by the same p-norm as decode
    pre_attn = llm.attention_flops_per_token(0.5 * input_len, decode=False)
    w_ne, w_e = _weight_bytes(llm, p)
    aggregated = f.serving == "aggregated"
    k_over_e = (llm.experts_per_token / llm.experts) if llm.is_moe else 1.0
    return _Common(
        w_ne=w_ne, w_e=w_e, kv_tok=kv_tok, ctx=ctx,
        lin_t=lin_t,
        dec_attn_t=llm.attention_flops_per_token(ctx, decode=True) / attn_rate,
        pre_cmp=lin_t + pre_attn / attn_rate,
        m=m, verify=verify,
        hit=min(max(f.prefix_cache_hit, 0.0), 0.999),
        pexp=f.overlap_p(), cscale=f.comm_scale(),
        usable=gpu.hbm_gb * 1e9 * (1.0 - f.hbm_reserve_frac),
        bw=eff.bw * gpu.hbm_tb_s * 1e12,
        log_miss=verify * math.log1p(-k_over_e) if llm.is_moe else 0.0,
        # chunked prefill (aggregated): each step emits b x m output tokens and must
        # prefill (in / out) prompt tokens for each of them
        chunk_per_n=m * (float(input_len) / float(output_len)) if aggregated else 0.0,
        aggregated=aggregated, in_len=float(input_len), out_len=float(output_len),
        b_cap_gpu=float(f.max_batch_per_gpu) if f.max_batch_per_gpu else math.inf,
        b_cap_rep=float(f.max_batch_per_replica) if f.max_batch_per_replica else math.inf,
        pd_ratio=(f.prefill_decode_ratio if not aggregated else None),
    )


def _contexts(cm: _Common, gpu: GpuSpec, llm: LlmSpec, n: int, f: Factors) -> list[_Ctx]:
    ranks = n * max(int(gpu.ranks_per_package or 1), 1)
    c_tok = (cm.lin_t + cm.dec_attn_t) / n
    t0 = f.step_overhead_s(llm, ranks)
    b_cap = min(cm.b_cap_gpu * n, cm.b_cap_rep)
    chunk = cm.chunk_per_n / n
    bw = cm.bw
    out = []
    for lay in _layouts(gpu, llm, cm.w_ne, cm.w_e, n, cm.kv_tok, cm.ctx, f):
        room = cm.usable - lay.w_fix - lay.w_exp
        b_mem = room / lay.kv_seq if lay.kv_seq > 0 else (math.inf if room > 0 else 0.0)
        pre_com = cm.cscale * n * lay.comm_tok / lay.link
        in_rate = 1.0 / _pnorm(cm.pre_cmp, pre_com, 0.0, cm.pexp) / (1.0 - cm.hit)
        com_tok = cm.cscale * lay.comm_tok / lay.link
        out.append(_Ctx(
            lay=lay, n=n, ranks=ranks, bw=bw,
            mem_fix=(lay.w_fix + (0.0 if llm.is_moe else lay.w_exp)) / bw,
            mem_exp=(lay.w_exp / bw) if llm.is_moe else 0.0,
            mem_seq=lay.kv_seq / bw,
            log_miss=cm.log_miss,
            cmp_seq=cm.verify * c_tok + chunk * cm.pre_cmp,
            com_seq=cm.verify * com_tok + chunk * pre_com,
            pre_cmp=cm.pre_cmp, pre_com=pre_com,
            verify=cm.verify, m=cm.m, in_rate=in_rate,
            b_mem=max(b_mem, 0.0), b_cap=b_cap, t0=t0, p=cm.pexp,
            aggregated=cm.aggregated, in_len=cm.in_len, out_len=cm.out_len,
            pd_ratio=cm.pd_ratio,
        ))
    return out


def estimate(
    gpu: GpuSpec,
    llm: LlmSpec,
    precision: str,
    tokens_per_s_per_user: float,
    input_len: int,
    output_len: int,
    factors: Factors | None = None,
) -> ThroughputEstimate:
    """Throughput, power and energy per GPU at a per-user decode speed.

    Parameters
    ----------
    gpu : GpuSpec
    llm : LlmSpec
    precision : str
        Weight precision (``bf16``, ``fp8``, ``int8``, ``fp4``, ...).
    tokens_per_s_per_user : float
        Required decode speed seen by each user (tokens/s); 1 / time per output token.
    input_len, output_len : int
        Mean prompt and completion lengths (tokens).
    factors : Factors, optional
        Modelling choices and efficiencies (default: calibrated constants).

    Returns
    -------
    ThroughputEstimate
        ``feasible`` is False (and the rates 0) when no candidate replica can meet the
        per-user speed or hold the weights.

    Notes
    -----
    Candidates are (replica size, layout) pairs: sizes from the smallest power-of-two
    GPU count whose HBM holds the weights and a KV cache of ``min_kv_frac`` of HBM, by
    doublings (MoE: up to the scale-up domain and ``scaleout_ep_gpus``); layouts ``tp``
    and, for MoE, data-parallel or grouped tensor-parallel attention with expert
    parallelism. ``replica_policy`` picks one. Decode: the largest batch whose step time
    ``||(t_mem, t_compute, t_comm)||_p + overhead`` meets the speed and whose KV fits.
    Prefill (disaggregated) runs on its own pool: the best prefill rate of the
    candidates. See docs/throughput.md.
    """
    if tokens_per_s_per_user <= 0:
        raise ValueError("tokens_per_s_per_user must be > 0")
    if input_len < 0 or output_len <= 0:
        raise ValueError("input_len must be >= 0 and output_len > 0")
    f = factors or Factors()
    p = _norm_precision(precision)
    eff = f.efficiency_for(gpu)
    fam = gpu_family(gpu)
    target = 1.0 / float(tokens_per_s_per_user)

    if f.gpus_per_replica:
        ladder = [int(f.gpus_per_replica)]
    else:
        ladder = _replica_ladder(gpu, llm, _min_replica(gpu, llm, p, f), f)

    cm = _common(gpu, llm, p, input_len, output_len, f, eff)
    cands = [(n, c) for n in ladder for c in _contexts(cm, gpu, llm, n, f)]
    # prefill replicas are sized on their own (disaggregated pools): the best prefill
    # rate over the same candidates, whichever decode candidate wins
    in_rate = max(c.in_rate for _, c in cands if c.b_mem > 0) if any(
        c.b_mem > 0 for _, c in cands) else cands[0][1].in_rate
    best: tuple[_Ctx, float, str] | None = None
    best_total = best_out = -1.0
    found_n: int | None = None
    for n, c in cands:
        if found_n is not None and n != found_n and f.replica_policy == "smallest":
            break
        b, limit = _solve_batch(c, target)
        if b <= 0:
            continue
        out, tot = _rates(c, b, in_rate)[:2]
        # most total tokens per GPU; ties (e.g. a fixed prefill pool sets the pace) go to
        # the faster decode candidate
        if tot > best_total * (1.0 + 1e-9) or (
                tot >= best_total * (1.0 - 1e-9) and out > best_out * (1.0 + 1e-9)):
            best, best_total, best_out = (c, b, limit), max(tot, best_total), out
        found_n = n
    if best is None:
        c = cands[0][1]
        why = "memory" if c.b_mem <= 0 else "latency"
        logger.debug("infeasible: %s %s %s at %.1f tok/s/user (%s)", gpu.id, llm.id, p,
                     tokens_per_s_per_user, why)
        return _infeasible(gpu, llm, p, fam, c, why, eff, in_rate)

    c, b, limit = best
    step, t_mem, t_cmp, t_com = _step(c, b)
    n = c.n
    out_rate, total, f_pre, _ = _rates(c, b, in_rate)
    in_len, out_len = float(input_len), float(output_len)

    # utilisation of the datasheet roofline: busy share of the step x efficiency
    u_dec = min(1.0, max(eff.bw * t_mem / step, eff.compute * t_cmp / step))
    u_pre = min(1.0, eff.compute)
    idle, full = gpu.idle_power_kw_per_gpu, gpu.power_kw_per_gpu
    kw_dec = idle + (full - idle) * u_dec
    kw_pre = idle + (full - idle) * u_pre
    kw = f_pre * kw_pre + (1.0 - f_pre) * kw_dec
    j_tok = kw * 1000.0 / total
    bound = max((t_mem, "hbm-bandwidth"), (t_cmp, "compute"), (t_com, "interconnect"))[1]
    return ThroughputEstimate(
        gpu_id=gpu.id,
        llm_id=llm.id,
        precision=p,
        family=fam,
        feasible=True,
        limit=limit,
        gpus_per_replica=n,
        nodes_per_replica=max(1, math.ceil(n / max(gpu.gpus_per_node, 1))),
        batch_per_replica=b,
        output_tokens_per_s_per_gpu=out_rate,
        input_tokens_per_s_per_gpu=in_rate,
        total_tokens_per_s_per_gpu=total,
        delivered_output_tokens_per_s_per_gpu=total * out_len / (in_len + out_len),
        tokens_per_s_per_user=1.0 / _tpot(c, b),
        decode_step_ms=step * 1000.0,
        decode_bound=bound,
        weight_gb_per_gpu=(c.lay.w_fix + c.lay.w_exp) / 1e9,
        kv_gb_per_gpu=b * c.lay.kv_seq / 1e9,
        decode_utilisation=u_dec,
        prefill_utilisation=u_pre,
        decode_kw_per_gpu=kw_dec,
        prefill_kw_per_gpu=kw_pre,
        kw_per_gpu=kw,
        joules_per_output_token=kw_dec * 1000.0 / out_rate,
        joules_per_token=j_tok,
        tokens_per_kwh=3.6e6 / j_tok,
        eta_bw=eff.bw,
        eta_compute=eff.compute,
        decode_layout=c.lay.name,
    )


def _infeasible(
    gpu: GpuSpec, llm: LlmSpec, p: str, fam: str, c: _Ctx, why: str, eff: Efficiency,
    in_rate: float,
) -> ThroughputEstimate:
    n = c.n
    return ThroughputEstimate(
        gpu_id=gpu.id, llm_id=llm.id, precision=p, family=fam, feasible=False,
        limit=why, gpus_per_replica=n,
        nodes_per_replica=max(1, math.ceil(n / max(gpu.gpus_per_node, 1))),
        batch_per_replica=0.0, output_tokens_per_s_per_gpu=0.0,
        input_tokens_per_s_per_gpu=in_rate if why != "memory" else 0.0,
        total_tokens_per_s_per_gpu=0.0, delivered_output_tokens_per_s_per_gpu=0.0,
        tokens_per_s_per_user=0.0, decode_step_ms=math.inf, decode_bound="none",
        weight_gb_per_gpu=(c.lay.w_fix + c.lay.w_exp) / 1e9, kv_gb_per_gpu=0.0,
        decode_utilisation=0.0, prefill_utilisation=0.0,
        decode_kw_per_gpu=gpu.idle_power_kw_per_gpu, prefill_kw_per_gpu=gpu.idle_power_kw_per_gpu,
        kw_per_gpu=gpu.idle_power_kw_per_gpu, joules_per_output_token=math.inf,
        joules_per_token=math.inf, tokens_per_kwh=0.0, eta_bw=eff.bw, eta_compute=eff.compute,
        decode_layout=c.lay.name,
    )

# --------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------


def _opt_float(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def load_gpu_specs(path: str | Path) -> dict[str, GpuSpec]:
    """Read ``data/gpus.csv`` into ``{id: GpuSpec}`` (empty cells -> None)."""
    df = pd.read_csv(path)
    out: dict[str, GpuSpec] = {}
    for r in df.to_dict("records"):
        gid = str(r["id"]).strip()
        out[gid] = GpuSpec(
            id=gid,
            bf16_tflops=float(r["bf16_tflops"]),
            fp8_tflops=_opt_float(r.get("fp8_tflops")),
            fp4_tflops=_opt_float(r.get("fp4_tflops")),
            hbm_gb=float(r["hbm_gb"]),
            hbm_tb_s=float(r["hbm_tb_s"]),
            power_kw_per_gpu=float(r["power_kw_per_gpu"]),
            idle_power_kw_per_gpu=float(r["idle_power_kw_per_gpu"]),
            gpus_per_node=int(r.get("gpus_per_node") or 8),
            scaleup_domain_gpus=int(r.get("scaleup_domain_gpus") or 8),
            vendor=str(r.get("vendor") or ""),
        )
    return out


def llm_spec_from_card(card: Mapping[str, Any], llm_id: str | None = None) -> LlmSpec:
    """Build an :class:`LlmSpec` from a parsed model card (``architecture`` / ``serving``)."""
    arch = dict(card.get("architecture") or {})
    serv = dict(card.get("serving") or {})
    lid = str(card.get("id") or llm_id or "")

    def i(key: str, default: int = 0) -> int:
        v = _opt_float(arch.get(key))
        return int(v) if v is not None else default

    return LlmSpec(
        id=lid,
        total_params_b=float(arch["total_params_b"]),
        active_params_b=float(arch.get("active_params_b") or arch["total_params_b"]),
        layers=i("layers"),
        attention=str(arch.get("attention") or "gqa").lower(),
        q_heads=i("q_heads"),
        kv_heads=i("kv_heads"),
        head_dim=i("head_dim", 128),
        kv_lora_rank=i("kv_lora_rank"),
        rope_dim=i("rope_dim"),
        experts=i("experts"),
        experts_per_token=i("experts_per_token"),
        shared_experts=i("shared_experts"),
        context_len=i("context_len", 131072),
        kv_bytes_per_token=_opt_float(serv.get("kv_bytes_per_token")),
        hidden_size=i("hidden_size"),
        weight_gb=_opt_float(serv.get("weight_gb")),
        card_precision=str(serv["precision"]) if serv.get("precision") else None,
        kv_precision=str(serv["kv_precision"]) if serv.get("kv_precision") else None,
    )


def load_llm_specs(models_dir: str | Path) -> dict[str, LlmSpec]:
    """Read every ``<id>.yaml`` card in ``models_dir`` into ``{id: LlmSpec}``.

    Cards without an ``architecture`` block are skipped with a warning.
    """
    out: dict[str, LlmSpec] = {}
    for p in sorted(Path(models_dir).glob("*.y*ml")):
        card = yaml.safe_load(p.read_text()) or {}
        if "architecture" not in card:
            logger.warning("skipping %s: no architecture block", p)
            continue
        spec = llm_spec_from_card(card, llm_id=p.stem)
        out[spec.id or p.stem] = spec
    return out


# --------------------------------------------------------------------------------------
# Benchmarks and calibration
# --------------------------------------------------------------------------------------

BENCHMARK_COLUMNS = (
    "id", "gpu", "llm", "precision", "tokens_per_s_per_user", "input_len", "output_len",
    "metric", "value", "gpus", "source", "notes",
)
METRICS = ("output_tokens_per_s_per_gpu", "input_tokens_per_s_per_gpu", "total_tokens_per_s_per_gpu")
_TAG_RE = re.compile(r"\[model:([^\]]*)\]")


def load_benchmarks(path: str | Path) -> pd.DataFrame:
    """Read ``data/benchmarks.csv`` and check its columns and metrics."""
    df = pd.read_csv(path, comment=None)
    missing = [c for c in BENCHMARK_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    bad = sorted(set(df["metric"]) - set(METRICS))
    if bad:
        raise ValueError(f"{path}: unknown metrics {bad}")
    if df["id"].duplicated().any():
        raise ValueError(f"{path}: duplicate ids {df.loc[df['id'].duplicated(), 'id'].tolist()}")
    return df


def parse_tags(notes: Any) -> dict[str, str]:
    """Machine-readable settings of a benchmark row: ``[model: key=value; ...]`` in notes.

    Keys: ``serving`` (aggregated|disaggregated), ``mtp`` (tokens per step),
    ``mtp_verify`` (tokens verified per step = 1 + draft tokens), ``cache_hit`` (share),
    ``kv`` (bf16|fp8 KV precision), ``replica`` (decode GPUs per replica, the measured
    configuration), ``replica_max`` (widest replica the benchmark ran), ``layout``
    (tp|dp-ep), ``attn`` (fp8: FP8 attention kernels), ``batch_per_gpu`` (measured
    concurrency / GPUs), ``conc_max`` (top of the concurrency sweep, per replica),
    ``pd`` (prefill GPUs:decode GPUs of a disaggregated deployment), ``exclude``
    (reason; the row is kept in the file but left out of the fit).
    """
    if not isinstance(notes, str):
        return {}
    return dict(_parse_tags_cached(notes))


@functools.lru_cache(maxsize=1024)
def _parse_tags_cached(notes: str) -> tuple[tuple[str, str], ...]:
    m = _TAG_RE.search(notes)
    if not m:
        return ()
    out: dict[str, str] = {}
    for part in m.group(1).split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip()
    return tuple(out.items())


def row_factors(row: Mapping[str, Any], base: Factors | None = None) -> Factors:
    """Factors reproducing a benchmark row's configuration (from its notes tags)."""
    f = base or Factors()
    t = parse_tags(row.get("notes"))
    kw: dict[str, Any] = {}
    if "serving" in t:
        kw["serving"] = t["serving"]
    if "mtp" in t:
        kw["mtp_tokens_per_step"] = float(t["mtp"])
    if "cache_hit" in t:
        kw["prefix_cache_hit"] = float(t["cache_hit"])
    if "kv" in t:
        kw["kv_bytes_per_element"] = PRECISION_BYTES[_norm_precision(t["kv"])]
    if "replica" in t:
        kw["gpus_per_replica"] = int(t["replica"])
    if "batch_per_gpu" in t:
        kw["max_batch_per_gpu"] = float(t["batch_per_gpu"])
    if "replica_max" in t:
        kw["max_replica_gpus"] = int(t["replica_max"])
    if "conc_max" in t:
        kw["max_batch_per_replica"] = float(t["conc_max"])
    if "mtp_verify" in t:
        kw["mtp_verify_tokens"] = int(float(t["mtp_verify"]))
    if "layout" in t:
        kw["layout"] = t["layout"]
    if "attn" in t:
        kw["fp8_attention"] = _norm_precision(t["attn"]) == "fp8"
    if "pd" in t:
        # prefill GPUs : decode GPUs of the deployed configuration
        a, b = (float(x) for x in t["pd"].split(":"))
        kw["prefill_decode_ratio"] = a / b
    return replace(f, **kw)


def _row_estimate(
    row: Mapping[str, Any], gpus: Mapping[str, GpuSpec], llms: Mapping[str, LlmSpec],
    base: Factors,
) -> float:
    gpu, llm = gpus[str(row["gpu"])], llms[str(row["llm"])]
    f = row_factors(row, base)
    speed = _opt_float(row.get("tokens_per_s_per_user")) or 20.0
    est = estimate(gpu, llm, str(row["precision"]), speed, int(row["input_len"]),
                   int(row["output_len"]), f)
    metric = str(row["metric"])
    if metric == "output_tokens_per_s_per_gpu" and f.serving == "aggregated":
        # aggregated serving: measured output rate includes the GPUs' prefill time
        return est.delivered_output_tokens_per_s_per_gpu
    return float(getattr(est, metric))


#: Global fitted parameters (name, start value, lower, upper). ``a_bw`` / ``a_c``: logits
#: of the bandwidth / compute efficiency; ``log_tau``: log of the step overhead (us per
#: layer and collective stage); ``log_pm1``: log(p - 1) of the overlap exponent;
#: ``log_comm``: log of the all-to-all time multiplier.
_GLOBALS: tuple[tuple[str, float, float, float], ...] = (
    ("a_bw", 0.0, -12.0, 12.0),
    ("a_c", -0.5, -12.0, 12.0),
    ("log_tau", math.log(10.0), math.log(0.1), math.log(1000.0)),
    ("log_pm1", 0.0, math.log(0.02), math.log(40.0)),
    ("log_comm", 0.0, math.log(0.01), math.log(20.0)),
    ("log_attn", 0.0, math.log(0.05), math.log(20.0)),
)


@dataclass(frozen=True)
class _Param:
    """Fit parameterisation.

    theta = [free globals..., d_1..d_F]; for family f: eta_bw = sigmoid(a_bw + d_f),
    eta_c = sigmoid(a_c + d_f) (so both stay in (0, 1) and ``d_f`` is close to a
    log-multiplier for small eta). Globals not in ``free`` are held at ``fixed`` values.
    """

    families: tuple[str, ...]
    free: tuple[str, ...] = ("a_bw", "a_c", "log_tau", "log_pm1", "log_comm", "log_attn")
    fixed: tuple[tuple[str, float], ...] = ()

    @property
    def size(self) -> int:
        return len(self.free) + len(self.families)

    def full(self, theta: np.ndarray) -> dict[str, float]:
        g = {name: x0 for name, x0, _, _ in _GLOBALS}
        g.update(dict(self.fixed))
        for i, name in enumerate(self.free):
            g[name] = float(theta[i])
        return g

    def offsets(self, theta: np.ndarray) -> np.ndarray:
        return np.asarray(theta[len(self.free):], dtype=float)

    def table(self, theta: np.ndarray) -> dict[str, Efficiency]:
        def sig(x: float) -> float:
            return 1.0 / (1.0 + math.exp(-x))

        g = self.full(theta)
        d = self.offsets(theta)
        return {fam: Efficiency(bw=sig(g["a_bw"] + d[i]), compute=sig(g["a_c"] + d[i]))
                for i, fam in enumerate(self.families)}

    def tau_us(self, theta: np.ndarray) -> float:
        return float(math.exp(self.full(theta)["log_tau"]))

    def overlap_p(self, theta: np.ndarray) -> float:
        return 1.0 + float(math.exp(self.full(theta)["log_pm1"]))

    def comm_scale(self, theta: np.ndarray) -> float:
        return float(math.exp(self.full(theta)["log_comm"]))

    def attn_scale(self, theta: np.ndarray) -> float:
        return float(math.exp(self.full(theta)["log_attn"]))

    def apply(self, theta: np.ndarray, base: Factors) -> Factors:
        return replace(base, efficiency=self.table(theta),
                       step_overhead_us_per_layer=self.tau_us(theta),
                       overlap_exponent=self.overlap_p(theta),
                       ep_comm_scale=self.comm_scale(theta),
                       attention_compute_scale=self.attn_scale(theta))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lim = {name: (lo, hi) for name, _, lo, hi in _GLOBALS}
        lo = [lim[n][0] for n in self.free] + [-12.0] * len(self.families)
        hi = [lim[n][1] for n in self.free] + [12.0] * len(self.families)
        return np.asarray(lo), np.asarray(hi)

    def x0(self, tau_us: float = 10.0, pm1: float = 1.0) -> np.ndarray:
        start = {name: x0 for name, x0, _, _ in _GLOBALS}
        start["log_tau"] = math.log(tau_us)
        start["log_pm1"] = math.log(pm1)
        return np.asarray([start[n] for n in self.free] + [0.0] * len(self.families))


def _residuals(
    theta: np.ndarray, rows: list[dict[str, Any]], gpus: Mapping[str, GpuSpec],
    llms: Mapping[str, LlmSpec], par: _Param, base: Factors, ridge: float,
) -> np.ndarray:
    f = par.apply(theta, base)
    res = []
    for r in rows:
        est = _row_estimate(r, gpus, llms, f)
        res.append(math.log(max(est, 1e-9) / float(r["value"])))
    reg = math.sqrt(ridge) * par.offsets(theta)
    return np.concatenate([np.asarray(res, dtype=float), reg])


def _fit(
    rows: list[dict[str, Any]], gpus: Mapping[str, GpuSpec], llms: Mapping[str, LlmSpec],
    par: _Param, base: Factors, ridge: float, theta0: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    from scipy.optimize import least_squares

    lo, hi = par.bounds()
    starts = ([par.x0(t, q) for t in (3.0, 20.0) for q in (0.1, 1.0, 5.0)] if theta0 is None
              else [np.asarray(theta0, dtype=float)])
    best_x, best_cost = None, math.inf
    for x0 in starts:
        x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
        sol = least_squares(
            _residuals, x0, args=(rows, gpus, llms, par, base, ridge),
            bounds=(lo, hi), diff_step=1e-3, xtol=1e-8, ftol=1e-10, max_nfev=400,
        )
        if sol.cost < best_cost:
            best_x, best_cost = sol.x, float(sol.cost)
    assert best_x is not None
    return best_x, best_cost


def _fit_rows(benchmarks: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for r in benchmarks.to_dict("records"):
        if "exclude" in parse_tags(r.get("notes")):
            continue
        rows.append(r)
    return rows


def fit_efficiencies(
    benchmarks: pd.DataFrame,
    gpus: Mapping[str, GpuSpec],
    llms: Mapping[str, LlmSpec],
    *,
    base: Factors | None = None,
    ridge: float = 0.05,
    par: _Param | None = None,
) -> tuple[dict[str, Efficiency], dict[str, Any]]:
    """Least-squares fit of the efficiency factors in log space.

    Minimises sum(log(estimate / measured)**2) + ridge * sum(d_f**2) over the
    parameters of :class:`_Param`: six globals (``a_bw``, ``a_c``, ``log_tau``,
    ``log_pm1``, ``log_comm``, ``log_attn``) and one offset per family (11 with the
    five families).

    Parameters
    ----------
    benchmarks : DataFrame
        Rows of ``data/benchmarks.csv``; rows tagged ``exclude=...`` are skipped.
    gpus, llms : Mapping
        Specs for the ids used by the rows.
    base : Factors, optional
        Modelling choices other than the fitted factors.
    ridge : float
        Weight of the penalty on each family offset ``d_f`` (log units); it pulls a
        family with few rows toward the global factors.

    Returns
    -------
    (dict[str, Efficiency], dict)
        Fitted factors per family and info: ``theta``, ``step_overhead_us_per_layer``,
        ``overlap_exponent``, ``ep_comm_scale``, ``attention_compute_scale``,
        ``n_params``, ``n_rows``, ``cost``, ``ridge``, ``param``.
    """
    base = base or Factors()
    rows = _fit_rows(benchmarks)
    par = par or _Param(FAMILIES)
    theta, cost = _fit(rows, gpus, llms, par, base, ridge)
    return par.table(theta), {
        "theta": theta, "step_overhead_us_per_layer": par.tau_us(theta),
        "overlap_exponent": par.overlap_p(theta), "ep_comm_scale": par.comm_scale(theta),
        "attention_compute_scale": par.attn_scale(theta),
        "n_params": par.size, "n_rows": len(rows), "cost": cost, "ridge": ridge,
        "param": par,
    }


def _loo_starts(
    rows: list[dict[str, Any]], gpus: Mapping[str, GpuSpec], llms: Mapping[str, LlmSpec],
    par: _Param, base: Factors, ridge: float, theta: np.ndarray,
) -> dict[str, np.ndarray]:
    """Start points for the leave-one-out refits: one Gauss-Newton step per left-out row.

    Dropping row i from a least-squares fit moves the optimum by about
    (J'J)^-1 J_i' r_i (J: Jacobian of the residuals, r_i: the row's residual). The
    Jacobian is taken with a wide finite-difference step because the residuals are
    only piecewise smooth (replica and layout switches, batch caps); the refit then
    starts there, so it does not stall on the kink the full fit sits on.
    """
    r0 = _residuals(theta, rows, gpus, llms, par, base, ridge)
    h = 0.02
    cols = []
    for k in range(len(theta)):
        t2 = np.array(theta, dtype=float)
        t2[k] += h
        cols.append((_residuals(t2, rows, gpus, llms, par, base, ridge) - r0) / h)
    jac = np.stack(cols, axis=1)
    hess = jac.T @ jac + 1e-6 * np.eye(len(theta))
    out = {}
    for i, r in enumerate(rows):
        out[r["id"]] = np.asarray(theta, dtype=float) + np.linalg.solve(hess, jac[i] * r0[i])
    return out


def _refit_without(
    others: list[dict[str, Any]], gpus: Mapping[str, GpuSpec], llms: Mapping[str, LlmSpec],
    par: _Param, base: Factors, ridge: float, theta: np.ndarray, shifted: np.ndarray | None,
) -> np.ndarray:
    """Refit without one row, from its shifted start (else from the full fit).

    The refit from the full fit is run as well when the shifted start ends above the
    cost of the full-fit parameters themselves.
    """
    if shifted is not None:
        th, cost = _fit(others, gpus, llms, par, base, ridge, theta0=shifted)
        cost0 = 0.5 * float(np.sum(_residuals(theta, others, gpus, llms, par, base, ridge) ** 2))
        if cost <= cost0:
            return th
    th0, cost0 = _fit(others, gpus, llms, par, base, ridge, theta0=theta)
    if shifted is not None and cost < cost0:
        return th
    return th0


def calibrate(
    benchmarks: pd.DataFrame,
    gpus: Mapping[str, GpuSpec],
    llms: Mapping[str, LlmSpec],
    *,
    base: Factors | None = None,
    ridge: float = 0.05,
    loo: bool = True,
    par: _Param | None = None,
) -> pd.DataFrame:
    """Refit the factors and report per-row in-sample and leave-one-out errors.

    Returns
    -------
    DataFrame
        One row per benchmark with ``family``, ``metric``, ``measured``,
        ``estimate_constants`` (with the module constants), ``estimate`` (refitted),
        ``rel_error`` = estimate / measured - 1, ``loo_estimate`` (refit without the
        row, then predict it), ``loo_rel_error`` and ``excluded``. ``attrs`` holds
        the refit (``efficiency``, ``step_overhead_us_per_layer``, ``overlap_exponent``,
        ``ep_comm_scale``, ``attention_compute_scale``), ``summary`` (median |rel err|
        and max |log2 err|, in-sample and leave-one-out) and ``info``.

    Each leave-one-out refit starts from the full fit moved by one Gauss-Newton step
    for the dropped row (:func:`_loo_starts`), so it does not stall on the kink of the
    piecewise-smooth objective that the full fit sits on.
    """
    base = base or Factors()
    par = par or _Param(FAMILIES)
    eff, info = fit_efficiencies(benchmarks, gpus, llms, base=base, ridge=ridge, par=par)
    f_fit = par.apply(info["theta"], base)
    f_const = replace(base, efficiency=None, step_overhead_us_per_layer=None,
                      overlap_exponent=None,
                      ep_comm_scale=None, attention_compute_scale=None)
    fit_rows = _fit_rows(benchmarks)
    shifts = _loo_starts(fit_rows, gpus, llms, par, base, ridge, info["theta"]) if loo else {}
    out = []
    for r in benchmarks.to_dict("records"):
        excluded = "exclude" in parse_tags(r.get("notes"))
        measured = float(r["value"])
        e_fit = _row_estimate(r, gpus, llms, f_fit)
        e_const = _row_estimate(r, gpus, llms, f_const)
        loo_est = math.nan
        if loo and not excluded:
            others = [x for x in fit_rows if x["id"] != r["id"]]
            th = _refit_without(others, gpus, llms, par, base, ridge, info["theta"],
                                shifts.get(r["id"]))
            loo_est = _row_estimate(r, gpus, llms, par.apply(th, base))
        out.append({
            "id": r["id"], "gpu": r["gpu"], "llm": r["llm"], "precision": r["precision"],
            "family": gpu_family(gpus[str(r["gpu"])]), "metric": r["metric"],
            "measured": measured, "estimate_constants": e_const, "estimate": e_fit,
            "rel_error": e_fit / measured - 1.0,
            "loo_estimate": loo_est,
            "loo_rel_error": (loo_est / measured - 1.0) if not math.isnan(loo_est) else math.nan,
            "excluded": excluded,
        })
    df = pd.DataFrame(out)
    inc = df[~df["excluded"]]
    df.attrs["efficiency"] = eff
    df.attrs["step_overhead_us_per_layer"] = info["step_overhead_us_per_layer"]
    df.attrs["overlap_exponent"] = info["overlap_exponent"]
    df.attrs["ep_comm_scale"] = info["ep_comm_scale"]
    df.attrs["attention_compute_scale"] = info["attention_compute_scale"]
    df.attrs["info"] = info
    summ = {
        "rows": int(len(inc)),
        "n_params": int(info["n_params"]),
        "median_abs_rel_error": float(np.median(np.abs(inc["rel_error"]))),
        "max_abs_log2_error": float(np.max(np.abs(np.log2(inc["estimate"] / inc["measured"])))),
        "loo_median_abs_rel_error": math.nan,
        "loo_max_abs_log2_error": math.nan,
    }
    if loo:
        summ["loo_median_abs_rel_error"] = float(np.nanmedian(np.abs(inc["loo_rel_error"])))
        summ["loo_max_abs_log2_error"] = float(
            np.nanmax(np.abs(np.log2(inc["loo_estimate"] / inc["measured"]))))
    df.attrs["summary"] = summ
    return df


def _format_constants(
    eff: Mapping[str, Efficiency], tau: float, summary: Mapping[str, float], date: str,
    overlap_p: float = 2.0, comm_scale: float = 1.0, attn_scale: float = 1.0,
) -> str:
    lines = [
        f'CALIBRATION_DATE = "{date}"',
        f"CALIBRATION_ROWS = {summary['rows']}",
        f"CALIBRATION_MEDIAN_ABS_REL_ERROR = {summary['median_abs_rel_error']:.4f}",
        f"CALIBRATION_MAX_ABS_LOG2_ERROR = {summary['max_abs_log2_error']:.4f}",
        f"CALIBRATION_LOO_MEDIAN_ABS_REL_ERROR = {summary['loo_median_abs_rel_error']:.4f}",
        f"CALIBRATION_LOO_MAX_ABS_LOG2_ERROR = {summary['loo_max_abs_log2_error']:.4f}",
        "CALIBRATED_EFFICIENCY: dict[str, Efficiency] = {",
    ]
    for fam in FAMILIES:
        e = eff[fam]
        lines.append(f'    "{fam}": Efficiency(bw={e.bw:.4f}, compute={e.compute:.4f}),')
    lines.append("}")
    g_bw = float(np.exp(np.mean([np.log(eff[f].bw) for f in FAMILIES])))
    g_c = float(np.exp(np.mean([np.log(eff[f].compute) for f in FAMILIES])))
    lines.append(f"DEFAULT_EFFICIENCY = Efficiency(bw={g_bw:.4f}, compute={g_c:.4f})")
    lines.append(f"CALIBRATED_STEP_OVERHEAD_US_PER_LAYER = {tau:.3f}")
    lines.append(f"CALIBRATED_OVERLAP_EXPONENT = {overlap_p:.4f}")
    lines.append(f"CALIBRATED_EP_COMM_SCALE = {comm_scale:.4f}")
    lines.append(f"CALIBRATED_ATTENTION_COMPUTE_SCALE = {attn_scale:.4f}")
    return "\n".join(lines)


def _main(argv: Iterable[str] | None = None) -> int:  # pragma: no cover - maintenance tool
    import argparse
    import datetime as _dt
    import sys

    ap = argparse.ArgumentParser(description="Refit throughput efficiencies and print constants.")
    from optimizer.resources import data_dir, models_dir

    ap.add_argument("--benchmarks", default=str(data_dir() / "benchmarks.csv"))
    ap.add_argument("--gpus", default=str(data_dir() / "gpus.csv"))
    ap.add_argument("--models", default=str(models_dir()))
    ap.add_argument("--table", action="store_true", help="also print the per-row table")
    a = ap.parse_args(list(argv) if argv is not None else None)
    df = calibrate(load_benchmarks(a.benchmarks), load_gpu_specs(a.gpus), load_llm_specs(a.models))
    out = sys.stdout
    out.write(_format_constants(df.attrs["efficiency"], df.attrs["step_overhead_us_per_layer"],
                                df.attrs["summary"], _dt.date.today().isoformat(),
                                df.attrs["overlap_exponent"], df.attrs["ep_comm_scale"],
                                df.attrs["attention_compute_scale"]) + "\n")
    if a.table:
        with pd.option_context("display.width", 200, "display.max_rows", 200):
            out.write(df.drop(columns=["excluded"]).to_string(
                index=False, float_format=lambda x: f"{x:.3g}") + "\n")
    return 0


__all__ = [
    "CALIBRATED_EFFICIENCY",
    "CALIBRATION_DATE",
    "DEFAULT_EFFICIENCY",
    "FAMILIES",
    "INTERCONNECT",
    "PRECISION_BYTES",
    "RANKS_PER_PACKAGE",
    "Efficiency",
    "Factors",
    "GpuSpec",
    "LlmSpec",
    "ThroughputEstimate",
    "calibrate",
    "estimate",
    "fit_efficiencies",
    "gpu_family",
    "llm_spec_from_card",
    "load_benchmarks",
    "load_gpu_specs",
    "load_llm_specs",
    "min_replica_gpus",
    "parse_tags",
    "row_factors",
]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
