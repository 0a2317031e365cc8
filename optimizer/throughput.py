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

Units: FLOPs and bytes are plain counts; TFLOPS = 1e12 FLOP/s; TB/s = 1e12 B/s;
GB = 1e9 B; power in kW; energy in J; time in s unless the name says ms.
"""

from __future__ import annotations

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
        Fraction of peak dense tensor FLOP/s achieved by prefill and by the compute term
        of a decode step (dimensionless, 0-1].
    """

    bw: float
    compute: float


# --- calibrated constants -------------------------------------------------------------
# Fitted by ``fit_efficiencies`` over data/benchmarks.csv (least squares on log(estimate /
# measured), 8 free parameters: a global bandwidth and a global compute efficiency, one
# offset per family shared by both (weak ridge), and the per-layer step overhead tau).
# Errors: median |estimate / measured - 1| and max |log2(estimate / measured)| over the
# rows, in-sample and leave-one-out (docs/throughput.md has the per-row table; the
# targets of <= 20 % median and <= 2x per row are NOT met by this calibration).
# Regenerate with ``python -m optimizer.throughput`` and paste the printed block here.
# CALIBRATION-BEGIN
CALIBRATION_DATE = "2026-11-29"
CALIBRATION_ROWS = 41
CALIBRATION_MEDIAN_ABS_REL_ERROR = 0.3615
CALIBRATION_MAX_ABS_LOG2_ERROR = 1.9680
CALIBRATION_LOO_MEDIAN_ABS_REL_ERROR = 0.3763
CALIBRATION_LOO_MAX_ABS_LOG2_ERROR = 2.3728
CALIBRATED_EFFICIENCY: dict[str, Efficiency] = {
    "nvidia-hopper": Efficiency(bw=0.4771, compute=0.2705),
    "nvidia-blackwell": Efficiency(bw=0.4932, compute=0.2834),
    "amd-cdna3": Efficiency(bw=0.3165, compute=0.1584),
    "amd-cdna4": Efficiency(bw=0.5177, compute=0.3038),
    "huawei-ascend": Efficiency(bw=0.4287, compute=0.2337),
}
DEFAULT_EFFICIENCY = Efficiency(bw=0.4402, compute=0.2439)
CALIBRATED_STEP_OVERHEAD_US_PER_LAYER = 9.76
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
        multi-token prediction (1.0 = off). Each step verifies ``ceil(m)`` tokens.
    prefix_cache_hit : float
        Share of input tokens served from a prefix cache (no prefill compute).
    kv_bytes_per_element : float | None
        Override the card's KV precision (B/element, e.g. 1 for FP8 KV).
    gpus_per_replica : int | None
        Force the replica size (GPUs) instead of sizing it.
    max_replica_gpus : int
        Largest replica considered.
    fp4_compute_fraction : float | None
        Share of the datasheet FP4 tensor peak credited to FP4 matmuls (never below the
        FP8 rate). None (default) -> FP4 matmuls are timed at the FP8 rate: FP4 weights
        halve the bytes read, but a fitted fraction collapsed to the FP8 floor (see
        docs/throughput.md), since attention, routers and non-expert layers stay wider.
    replica_policy : {"best", "smallest"}
        Candidate replica sizes are the smallest deployable one (``n_min``: weights plus
        ``min_kv_frac`` of HBM) and up to ``replica_doublings`` power-of-two multiples of
        it inside the scale-up domain. "best" (default) takes the candidate with the
        highest total tokens/s per GPU, which keeps throughput monotone in the per-user
        speed; "smallest" takes the first candidate that meets the speed (throughput can
        then jump up where the replica grows).
    replica_doublings : int
        How many doublings of ``n_min`` are candidates (default 1: ``n_min`` and
        ``2 n_min``). Wider replicas look ever better to a model without communication
        bandwidth costs, so the default stays narrow.
    max_batch_per_gpu : float | None
        Cap on concurrent sequences per GPU (e.g. a benchmark's concurrency / GPUs).
    step_overhead_us_per_layer : float | None
        Fixed time per decode step per layer and per collective stage (kernel launches,
        synchronisation, collective latency), in microseconds; the step pays
        ``tau x layers x (1 + log2(GPUs per replica))``. None -> the calibrated constant.
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
    step_overhead_us_per_layer: float | None = None
    replica_policy: Literal["best", "smallest"] = "best"
    replica_doublings: int = 1
    fp4_compute_fraction: float | None = None

    def step_overhead_s(self, llm: LlmSpec, gpus: int) -> float:
        """Fixed decode-step overhead (s): tau x layers x (1 + log2(gpus per replica)).

        The log term stands for the latency of the per-layer collectives (tensor-parallel
        all-reduce or expert-parallel dispatch/combine), which grows with the group size.
        """
        us = (CALIBRATED_STEP_OVERHEAD_US_PER_LAYER if self.step_overhead_us_per_layer is None
              else self.step_overhead_us_per_layer)
        return max(us, 0.0) * 1e-6 * llm.layers * (1.0 + math.log2(max(gpus, 1)))

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

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of all fields."""
        return asdict(self)


# --------------------------------------------------------------------------------------
# Core model
# --------------------------------------------------------------------------------------


def _weight_bytes(llm: LlmSpec, precision: str) -> tuple[float, float]:
    """(always-read bytes, routed-expert bytes) of the weights at ``precision`` (B)."""
    p = _norm_precision(precision)
    total_b = llm.total_params_b * 1e9
    if llm.weight_gb and llm.card_precision and _norm_precision(llm.card_precision) == p:
        total = float(llm.weight_gb) * 1e9
    else:
        total = total_b * PRECISION_BYTES[p]
    expert_share = llm.expert_params_b() / llm.total_params_b if llm.total_params_b else 0.0
    return total * (1.0 - expert_share), total * expert_share


@dataclass(frozen=True)
class _Ctx:
    """Pre-computed per-call quantities (all per replica unless noted)."""

    n: int
    w_dense: float
    w_expert: float
    kv_tok: float
    ctx: float
    bw: float  # B/s per replica, after efficiency
    lin_rate: float  # FLOP/s per replica at precision, after efficiency
    attn_rate: float  # FLOP/s per replica for attention (bf16), after efficiency
    lin_flops_tok: float
    attn_flops_tok: float
    k_over_e: float
    is_moe: bool
    verify: float  # tokens processed per sequence per step
    m: float  # tokens emitted per sequence per step
    in_rate: float  # input tok/s per replica (prefill phase, cache hits included)
    kv_room: float  # B per replica available for KV
    b_cap: float  # sequences per replica allowed by max_batch_per_gpu
    t0: float  # fixed step overhead (s)
    aggregated: bool
    in_len: float
    out_len: float


def _step(c: _Ctx, b: float) -> tuple[float, float, float]:
    """Decode step time (s), memory time and compute time for ``b`` sequences per replica."""
    tokens = b * c.verify
    if c.is_moe:
        touched = 1.0 - (1.0 - c.k_over_e) ** max(tokens, 0.0)
    else:
        touched = 1.0
    bytes_ = c.w_dense + c.w_expert * touched + b * c.ctx * c.kv_tok
    t_mem = bytes_ / c.bw
    t_cmp = tokens * (c.lin_flops_tok / c.lin_rate + c.attn_flops_tok / c.attn_rate)
    if c.aggregated:
        # chunked prefill rides in the same steps: each step emits b x m output tokens
        # and must prefill (in / out) prompt tokens for each of them
        t_cmp += b * c.m * (c.in_len / c.out_len) / c.in_rate
    return max(t_mem, t_cmp) + c.t0, t_mem, t_cmp


def _tpot(c: _Ctx, b: float) -> float:
    """Time per output token seen by one user (s) with ``b`` sequences per replica."""
    return _step(c, b)[0] / c.m


def _solve_batch(c: _Ctx, target_tpot: float) -> tuple[float, str]:
    """Largest batch per replica meeting ``target_tpot`` and fitting in KV memory."""
    b_mem = c.kv_room / (c.ctx * c.kv_tok) if c.ctx * c.kv_tok > 0 else math.inf
    if b_mem <= 0:
        return 0.0, "memory"
    cap_limit = "memory"
    if c.b_cap < b_mem:
        b_mem, cap_limit = c.b_cap, "batch-cap"
    eps = min(1e-6, b_mem)
    if _tpot(c, eps) > target_tpot:
        return 0.0, "latency"
    if _tpot(c, b_mem) <= target_tpot:
        return b_mem, cap_limit
    lo, hi = eps, b_mem
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _tpot(c, mid) <= target_tpot:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-6 * hi:
            break
    return lo, "latency"


def _total_rate(c: _Ctx, b: float) -> float:
    """Total (input + output) tokens/s per GPU for requests of the context's shape."""
    step = _step(c, b)[0]
    out_rate = b * c.m / step / c.n
    if c.aggregated:
        return out_rate * (c.in_len + c.out_len) / c.out_len
    t_req = (c.in_len * c.n / c.in_rate if c.in_len > 0 else 0.0) + c.out_len / out_rate
    return (c.in_len + c.out_len) / t_req


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


def _replica_ladder(gpu: GpuSpec, n_min: int, f: Factors) -> list[int]:
    """Candidate replica sizes: n_min, then up to ``replica_doublings`` doublings.

    A replica larger than the scale-up domain is only used when the weights need it
    (``n_min``); wider replicas stay inside the domain, because communication over the
    scale-out network is not modelled.
    """
    cap = max(n_min, min(gpu.scaleup_domain_gpus, f.max_replica_gpus,
                         n_min * 2 ** max(f.replica_doublings, 0)))
    out = [n_min]
    n = n_min * 2
    while n <= cap:
        out.append(n)
        n *= 2
    return out


def _context(
    gpu: GpuSpec, llm: LlmSpec, precision: str, n: int, input_len: int, output_len: int,
    f: Factors, eff: Efficiency,
) -> _Ctx:
    p = _norm_precision(precision)
    w_dense, w_expert = _weight_bytes(llm, p)
    kv_tok = llm.kv_bytes(f.kv_bytes_per_element)
    ctx = float(input_len) + 0.5 * float(output_len)
    lin_peak = gpu.peak_tflops(p) * 1e12
    if p in ("fp4", "int4"):
        fp8_peak = gpu.peak_tflops("fp8")
        if f.fp4_compute_fraction is None or not gpu.fp4_tflops:
            lin_peak = fp8_peak * 1e12
        else:
            lin_peak = max(f.fp4_compute_fraction * gpu.fp4_tflops, fp8_peak) * 1e12
    kv_elem = (f.kv_bytes_per_element if f.kv_bytes_per_element is not None
               else PRECISION_BYTES.get(_norm_precision(llm.kv_precision or "bf16"), 2.0))
    # attention math runs at FP8 when the KV cache is FP8 and the part supports it
    attn_peak = (gpu.fp8_tflops if (kv_elem <= 1.0 and gpu.fp8_tflops) else gpu.bf16_tflops) * 1e12
    lin_rate = n * eff.compute * lin_peak
    attn_rate = n * eff.compute * attn_peak
    lin_flops_tok = 2.0 * llm.active_params_b * 1e9
    m = max(1.0, float(f.mtp_tokens_per_step))
    verify = float(math.ceil(m - 1e-9)) if m > 1.0 else 1.0
    # prefill: compute bound, attention averaged over causal positions (context L/2)
    hit = min(max(f.prefix_cache_hit, 0.0), 0.999)
    pre_attn = llm.attention_flops_per_token(0.5 * input_len, decode=False)
    t_tok = lin_flops_tok / lin_rate + pre_attn / attn_rate
    in_rate = (1.0 / t_tok) / (1.0 - hit)
    kv_room = n * gpu.hbm_gb * 1e9 * (1.0 - f.hbm_reserve_frac) - (w_dense + w_expert)
    return _Ctx(
        n=n,
        w_dense=w_dense,
        w_expert=w_expert,
        kv_tok=kv_tok,
        ctx=ctx,
        bw=n * eff.bw * gpu.hbm_tb_s * 1e12,
        lin_rate=lin_rate,
        attn_rate=attn_rate,
        lin_flops_tok=lin_flops_tok,
        attn_flops_tok=llm.attention_flops_per_token(ctx, decode=True),
        k_over_e=(llm.experts_per_token / llm.experts) if llm.is_moe else 1.0,
        is_moe=llm.is_moe,
        verify=verify,
        m=m,
        in_rate=in_rate,
        kv_room=kv_room,
        b_cap=(f.max_batch_per_gpu * n) if f.max_batch_per_gpu else math.inf,
        t0=f.step_overhead_s(llm, n),
        aggregated=f.serving == "aggregated",
        in_len=float(input_len),
        out_len=float(output_len),
    )


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
        ``feasible`` is False (and the rates 0) when no replica in the ladder can meet
        the per-user speed or hold the weights.

    Notes
    -----
    Replica: candidates are the smallest power-of-two GPU count whose HBM holds the
    weights and a KV cache of ``min_kv_frac`` of HBM, and its doubling(s) within the
    scale-up domain; ``replica_policy`` picks one. Decode: the largest batch whose step
    time max(bytes / (eta_bw x BW), FLOPs / (eta_c x peak)) + fixed overhead meets the
    speed and whose KV fits.
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
        ladder = _replica_ladder(gpu, _min_replica(gpu, llm, p, f), f)

    best: tuple[_Ctx, float, str] | None = None
    best_total = -1.0
    for n in ladder:
        c = _context(gpu, llm, p, n, input_len, output_len, f, eff)
        b, limit = _solve_batch(c, target)
        if b <= 0:
            continue
        if f.replica_policy == "smallest":
            best = (c, b, limit)
            break
        tot = _total_rate(c, b)
        if tot > best_total * (1.0 + 1e-9):
            best, best_total = (c, b, limit), tot
    if best is None:
        c = _context(gpu, llm, p, ladder[0], input_len, output_len, f, eff)
        why = "memory" if c.kv_room <= 0 else "latency"
        logger.debug("infeasible: %s %s %s at %.1f tok/s/user (%s)", gpu.id, llm.id, p,
                     tokens_per_s_per_user, why)
        return _infeasible(gpu, llm, p, fam, c, why, eff)

    c, b, limit = best
    step, t_mem, t_cmp = _step(c, b)
    n = c.n
    out_rate = b * c.m / step / n
    in_rate = c.in_rate / n
    in_len, out_len = float(input_len), float(output_len)
    if c.aggregated:
        # prefill already inside the decode steps
        total = out_rate * (in_len + out_len) / out_len
        f_pre = 0.0
    else:
        t_req = (in_len / in_rate if in_len > 0 else 0.0) + out_len / out_rate
        total = (in_len + out_len) / t_req
        f_pre = (in_len / in_rate) / t_req if in_len > 0 else 0.0

    # utilisation of the datasheet roofline: busy share of the step x efficiency
    u_dec = min(1.0, max(eff.bw * t_mem / step, eff.compute * t_cmp / step))
    u_pre = min(1.0, eff.compute)
    idle, full = gpu.idle_power_kw_per_gpu, gpu.power_kw_per_gpu
    kw_dec = idle + (full - idle) * u_dec
    kw_pre = idle + (full - idle) * u_pre
    kw = f_pre * kw_pre + (1.0 - f_pre) * kw_dec
    j_tok = kw * 1000.0 / total
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
        decode_bound="hbm-bandwidth" if t_mem >= t_cmp else "compute",
        weight_gb_per_gpu=(c.w_dense + c.w_expert) / n / 1e9,
        kv_gb_per_gpu=b * c.ctx * c.kv_tok / n / 1e9,
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
    )


def _infeasible(
    gpu: GpuSpec, llm: LlmSpec, p: str, fam: str, c: _Ctx, why: str, eff: Efficiency,
) -> ThroughputEstimate:
    n = c.n
    return ThroughputEstimate(
        gpu_id=gpu.id, llm_id=llm.id, precision=p, family=fam, feasible=False,
        limit=why, gpus_per_replica=n,
        nodes_per_replica=max(1, math.ceil(n / max(gpu.gpus_per_node, 1))),
        batch_per_replica=0.0, output_tokens_per_s_per_gpu=0.0,
        input_tokens_per_s_per_gpu=c.in_rate / n if why != "memory" else 0.0,
        total_tokens_per_s_per_gpu=0.0, delivered_output_tokens_per_s_per_gpu=0.0,
        tokens_per_s_per_user=0.0, decode_step_ms=math.inf, decode_bound="none",
        weight_gb_per_gpu=(c.w_dense + c.w_expert) / n / 1e9, kv_gb_per_gpu=0.0,
        decode_utilisation=0.0, prefill_utilisation=0.0,
        decode_kw_per_gpu=gpu.idle_power_kw_per_gpu, prefill_kw_per_gpu=gpu.idle_power_kw_per_gpu,
        kw_per_gpu=gpu.idle_power_kw_per_gpu, joules_per_output_token=math.inf,
        joules_per_token=math.inf, tokens_per_kwh=0.0, eta_bw=eff.bw, eta_compute=eff.compute,
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
    ``cache_hit`` (share), ``kv`` (bf16|fp8 KV precision), ``replica`` (GPUs per replica,
    the measured configuration), ``batch_per_gpu`` (measured concurrency / GPUs),
    ``exclude`` (reason; the row is kept in the file but left out of the fit).
    """
    if not isinstance(notes, str):
        return {}
    m = _TAG_RE.search(notes)
    if not m:
        return {}
    out: dict[str, str] = {}
    for part in m.group(1).split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip()
    return out


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


@dataclass(frozen=True)
class _Param:
    """Fit parameterisation (``3 + len(families)`` free parameters).

    theta = [a_bw, a_c, log_tau, d_1..d_F]; for family f:
    eta_bw = sigmoid(a_bw + d_f), eta_c = sigmoid(a_c + d_f) (so both stay in (0, 1) and
    ``d_f`` is close to a log-multiplier for small eta); step overhead = exp(log_tau)
    microseconds per layer and collective stage. All but d_f are shared by the families.
    """

    families: tuple[str, ...]

    @property
    def size(self) -> int:
        return 3 + len(self.families)

    def table(self, theta: np.ndarray) -> dict[str, Efficiency]:
        def sig(x: float) -> float:
            return 1.0 / (1.0 + math.exp(-x))

        out = {}
        for i, fam in enumerate(self.families):
            d = theta[3 + i]
            out[fam] = Efficiency(bw=sig(theta[0] + d), compute=sig(theta[1] + d))
        return out

    def tau_us(self, theta: np.ndarray) -> float:
        return float(math.exp(theta[2]))

    def apply(self, theta: np.ndarray, base: Factors) -> Factors:
        return replace(base, efficiency=self.table(theta),
                       step_overhead_us_per_layer=self.tau_us(theta))

    def x0(self, tau_us: float = 20.0) -> np.ndarray:
        x = np.zeros(self.size)
        x[0], x[1], x[2] = 0.0, -0.5, math.log(tau_us)
        return x


def _residuals(
    theta: np.ndarray, rows: list[dict[str, Any]], gpus: Mapping[str, GpuSpec],
    llms: Mapping[str, LlmSpec], par: _Param, base: Factors, ridge: float,
) -> np.ndarray:
    f = par.apply(theta, base)
    res = []
    for r in rows:
        est = _row_estimate(r, gpus, llms, f)
        res.append(math.log(max(est, 1e-9) / float(r["value"])))
    reg = math.sqrt(ridge) * np.asarray(theta[3:], dtype=float)
    return np.concatenate([np.asarray(res, dtype=float), reg])


def _fit(
    rows: list[dict[str, Any]], gpus: Mapping[str, GpuSpec], llms: Mapping[str, LlmSpec],
    par: _Param, base: Factors, ridge: float, theta0: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    from scipy.optimize import least_squares

    lo = np.full(par.size, -12.0)
    hi = np.full(par.size, 12.0)
    lo[2], hi[2] = math.log(0.1), math.log(1000.0)  # 0.1-1000 us per layer
    starts = ([par.x0(t) for t in (2.0, 20.0, 100.0)] if theta0 is None
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
) -> tuple[dict[str, Efficiency], dict[str, Any]]:
    """Least-squares fit of the efficiency factors in log space.

    Minimises sum(log(estimate / measured)**2) + ridge * sum(d_f**2) over the
    ``3 + len(FAMILIES)`` parameters of :class:`_Param` (8 with the five families).

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
        ``n_params``, ``n_rows``, ``cost``, ``ridge``.
    """
    base = base or Factors()
    rows = _fit_rows(benchmarks)
    par = _Param(FAMILIES)
    theta, cost = _fit(rows, gpus, llms, par, base, ridge)
    return par.table(theta), {
        "theta": theta, "step_overhead_us_per_layer": par.tau_us(theta),
        "n_params": par.size, "n_rows": len(rows), "cost": cost, "ridge": ridge,
    }


def calibrate(
    benchmarks: pd.DataFrame,
    gpus: Mapping[str, GpuSpec],
    llms: Mapping[str, LlmSpec],
    *,
    base: Factors | None = None,
    ridge: float = 0.05,
    loo: bool = True,
) -> pd.DataFrame:
    """Refit the factors and report per-row in-sample and leave-one-out errors.

    Returns
    -------
    DataFrame
        One row per benchmark with ``family``, ``metric``, ``measured``,
        ``estimate_constants`` (with the module constants), ``estimate`` (refitted),
        ``rel_error`` = estimate / measured - 1, ``loo_estimate`` (refit without the
        row, then predict it), ``loo_rel_error`` and ``excluded``. ``attrs`` holds
        ``efficiency`` and ``step_overhead_us_per_layer`` (the refit), ``summary``
        (median |rel err| and max |log2 err|, in-sample and leave-one-out) and ``info``.
    """
    base = base or Factors()
    eff, info = fit_efficiencies(benchmarks, gpus, llms, base=base, ridge=ridge)
    par = _Param(FAMILIES)
    f_fit = par.apply(info["theta"], base)
    f_const = replace(base, efficiency=None, step_overhead_us_per_layer=None)
    fit_rows = _fit_rows(benchmarks)
    out = []
    for r in benchmarks.to_dict("records"):
        excluded = "exclude" in parse_tags(r.get("notes"))
        measured = float(r["value"])
        e_fit = _row_estimate(r, gpus, llms, f_fit)
        e_const = _row_estimate(r, gpus, llms, f_const)
        loo_est = math.nan
        if loo and not excluded:
            others = [x for x in fit_rows if x["id"] != r["id"]]
            th, _ = _fit(others, gpus, llms, par, base, ridge, theta0=info["theta"])
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
    lines.append(f"CALIBRATED_STEP_OVERHEAD_US_PER_LAYER = {tau:.2f}")
    return "\n".join(lines)


def _main(argv: Iterable[str] | None = None) -> int:  # pragma: no cover - maintenance tool
    import argparse
    import datetime as _dt
    import sys

    ap = argparse.ArgumentParser(description="Refit throughput efficiencies and print constants.")
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--benchmarks", default=str(root / "data" / "benchmarks.csv"))
    ap.add_argument("--gpus", default=str(root / "data" / "gpus.csv"))
    ap.add_argument("--models", default=str(root / "models"))
    ap.add_argument("--table", action="store_true", help="also print the per-row table")
    a = ap.parse_args(list(argv) if argv is not None else None)
    df = calibrate(load_benchmarks(a.benchmarks), load_gpu_specs(a.gpus), load_llm_specs(a.models))
    out = sys.stdout
    out.write(_format_constants(df.attrs["efficiency"], df.attrs["step_overhead_us_per_layer"],
                                df.attrs["summary"], _dt.date.today().isoformat()) + "\n")
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
    "PRECISION_BYTES",
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
