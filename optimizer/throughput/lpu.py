"""Weights in on-chip SRAM across many chips (Groq LPU): throughput, replica, power and energy per chip.

An LPU holds no weights in HBM: each chip has a few hundred MB of SRAM (``sram_mb`` in
``data/gpus.csv``), so a replica spreads the model over hundreds of chips and every token passes
through all of them, layer by layer, over chip-to-chip links. The HBM roofline does not describe
that machine (its weight read per chip is a few microseconds; the step is set by the per-layer
latency of the pipeline), so :func:`optimizer.throughput.estimator.estimate` and
:func:`~optimizer.throughput.estimator.min_replica_gpus` hand accelerators with ``weights_on_chip``
to :func:`estimate` and :func:`min_replica_chips` here. The rule (docs/throughput.md, "On-chip-SRAM
accelerators (LPU)"):

* **Replica**: the fewest chips, in whole nodes, whose SRAM holds the weights in at most
  :data:`SRAM_WEIGHT_SHARE` of it: ``n = ceil(W / (S x share) / node) x node``. The KV cache of
  the batch lives in the rest of the usable SRAM (``n x S x (1 - SRAM_RESERVE_FRAC) - W``);
  an accelerator that also has attached memory (``hbm_gb > 0``) keeps the KV cache there instead
  (none in the catalog: both Groq chips have no HBM or DRAM).
* **Decode step** for ``b`` sequences per replica: ``t(b) = L x tau + max(t_mem, t_compute,
  t_link)``, with ``tau`` the per-layer latency of the chip-to-chip pipeline
  (``layer_latency_us``), ``t_mem`` the chip's share of the weights (MoE: the experts the batch
  touches) and of the KV cache over its SRAM bandwidth, ``t_compute`` the chip's share of
  ``2 x active params`` plus attention FLOPs at its peak, ``t_link`` the activations a chip
  exchanges with the other chips of its layers (the roofline's tensor-parallel all-reduce bytes,
  8 B per hidden element per token, plus the expert-parallel dispatch of MoE layers) over its
  chip-to-chip bandwidth (``scaleup_gb_s``); the three overlap fully (statically scheduled
  streams). Per-user speed ``m / t(b)`` (``m`` tokens per step with multi-token prediction).
* **Batch**: the largest ``b`` whose speed meets the target and whose KV cache fits; throughput
  per chip ``b x m / t(b) / n``.
* **Prefill**: compute-bound on the same kind of replica, ``efficiency x peak / FLOPs per
  uncached prompt token`` per chip.
* **Power**: per chip, idle plus the busy share of the step times (full - idle), as the roofline.

No constant is fitted here: the per-layer latency and the SRAM figures are per-accelerator data
with sources in ``data/gpus.csv``; the four constants below are named and documented.

Units: FLOPs and bytes are plain counts; MB = 1e6 B; TFLOPS = 1e12 FLOP/s; TB/s = 1e12 B/s;
power in kW; energy in J; time in s unless the name says ms or us.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from optimizer.throughput.hardware import GpuSpec, LlmSpec, _norm_precision
from optimizer.throughput.roofline import (
    _EP_BYTES_PER_ELEMENT,
    _TP_ALLREDUCE_BYTES_PER_ELEMENT,
    Factors,
    ThroughputEstimate,
    _weight_bytes,
)

#: Largest share of a chip's SRAM the weights may fill when the replica is sized; the rest holds
#: the KV cache, activations and the program. derived: Groq served Llama 2 70B (69 GB at 8-bit)
#: on a 576-chip system of 230 MB chips: 69 / (576 x 0.23) = 0.52 (docs/throughput.md).
SRAM_WEIGHT_SHARE = 0.5

#: Share of a chip's SRAM not usable for weights or KV cache (program, activations, buffers).
#: assumed: the HBM reserve of the roofline (Factors.hbm_reserve_frac = 0.10).
SRAM_RESERVE_FRAC = 0.10

#: Achieved fraction of the datasheet SRAM bandwidth. assumed: compiler-scheduled streams with no
#: caches or contention (Groq, 'Inside the LPU: Deconstructing Groq's Speed', 2025-08-01); the
#: weight read of a chip is microseconds against a step of milliseconds, so the value barely
#: matters.
SRAM_BW_EFFICIENCY = 0.9

#: Achieved fraction of the datasheet tensor peak (decode and prefill). assumed: inside the range
#: of the calibrated GEMM efficiencies of the GPU families (0.61-0.84,
#: data/throughput_calibration.yaml); no LPU measurement to fit it.
COMPUTE_EFFICIENCY = 0.8

FAMILY = "groq-lpu"
"""Family reported by the estimates of this rule (no calibrated efficiency pair is used)."""
LAYOUT = "sram-pipeline"
"""Decode layout reported: weights split over the replica's chips, one pass through all of them."""


@dataclass(frozen=True, slots=True)
class _Replica:
    n: int  # chips per replica
    w: float  # resident weight bytes (all experts)
    w_ne: float  # non-expert weight bytes (read every step)
    w_e: float  # routed-expert bytes (read as far as the batch touches them)
    kv_room: float  # bytes free for the KV cache across the replica
    kv_bw: float  # B/s per chip at which the KV cache is read


_DEFAULT_MAX_REPLICA = Factors().max_replica_gpus


def _sram_bytes(gpu: GpuSpec) -> float:
    return float(gpu.sram_mb or 0.0) * 1e6


def min_replica_chips(gpu: GpuSpec, llm: LlmSpec, precision: str, factors: Factors | None = None) -> int:
    """Chips per replica: the fewest whole nodes whose SRAM holds the weights in at most
    :data:`SRAM_WEIGHT_SHARE` of it."""
    del factors  # same signature as roofline.min_replica_gpus
    if not gpu.weights_on_chip:
        raise ValueError(f"{gpu.id}: no on-chip SRAM given (sram_mb); use the roofline")
    w = sum(_weight_bytes(llm, _norm_precision(precision)))
    node = max(int(gpu.gpus_per_node or 1), 1)
    chips = math.ceil(w / (_sram_bytes(gpu) * SRAM_WEIGHT_SHARE))
    return max(node, math.ceil(chips / node) * node)


def _replica(gpu: GpuSpec, llm: LlmSpec, p: str, f: Factors) -> _Replica:
    w_ne, w_e = _weight_bytes(llm, p)
    w = w_ne + w_e
    if f.gpus_per_replica:
        n = int(f.gpus_per_replica)
    else:
        n = min_replica_chips(gpu, llm, p)
        # a cap set below the chips the weights need leaves too little SRAM (infeasible); the GPU
        # default cap is no limit here: trillion-parameter models need thousands of chips (Groq's
        # software-scheduled network spans up to 10,440 chips, ISCA 2022)
        if f.max_replica_gpus != _DEFAULT_MAX_REPLICA and n > f.max_replica_gpus:
            n = int(f.max_replica_gpus)
    usable = n * _sram_bytes(gpu) * (1.0 - SRAM_RESERVE_FRAC)
    if gpu.hbm_gb and gpu.hbm_gb > 0:
        # attached memory: the KV cache goes there (weights stay in SRAM)
        room = n * gpu.hbm_gb * 1e9 * (1.0 - f.hbm_reserve_frac) if usable >= w else 0.0
        kv_bw = gpu.hbm_tb_s * 1e12 * SRAM_BW_EFFICIENCY  # same achieved share assumed
    else:
        room = usable - w
        kv_bw = float(gpu.sram_tb_s or 0.0) * 1e12 * SRAM_BW_EFFICIENCY
    return _Replica(n, w, w_ne, w_e, max(room, 0.0) if usable >= w else -1.0, kv_bw)


@dataclass(frozen=True, slots=True)
class _Step:
    """Per-call constants of the decode step ``t(b) = t_lat + max(t_mem(b), t_cmp(b), t_com(b))``."""

    t_lat: float  # layers x per-layer latency (s)
    mem_fix: float  # s: non-expert (or dense) weight share of a chip over its SRAM bandwidth
    mem_exp: float  # s: routed-expert share of a chip, read as far as touched
    log_miss: float  # verify x log(1 - k/E): log of the chance an expert is untouched, per sequence
    mem_seq: float  # s per sequence: a chip's share of one sequence's KV cache over its bandwidth
    cmp_seq: float  # s per sequence: a chip's share of the step's FLOPs (incl. chunked prefill)
    com_seq: float  # s per sequence: a chip's chip-to-chip traffic over its link bandwidth
    m: float  # tokens emitted per sequence per step


def _t(s: _Step, b: float) -> tuple[float, float, float, float]:
    """(step, memory time, compute time, link time) for ``b`` sequences per replica (s)."""
    t_mem = s.mem_fix + s.mem_seq * b
    if s.mem_exp:
        t_mem += s.mem_exp * -math.expm1(b * s.log_miss)
    t_cmp = s.cmp_seq * b
    t_com = s.com_seq * b
    return s.t_lat + max(t_mem, t_cmp, t_com), t_mem, t_cmp, t_com


def _largest_batch(s: _Step, target_tpot: float, b_max: float) -> float:
    """Largest ``b`` in (0, b_max] with ``t(b) / m <= target`` (0 when even b -> 0 is too slow)."""
    if b_max <= 0 or _t(s, 0.0)[0] / s.m > target_tpot:
        return 0.0
    if _t(s, b_max)[0] / s.m <= target_tpot:
        return b_max
    lo, hi = 0.0, b_max
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _t(s, mid)[0] / s.m <= target_tpot:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-9 * max(hi, 1.0):
            break
    return lo


def _result(**kw: object) -> ThroughputEstimate:
    """The ThroughputEstimate of the rule (every field given)."""
    return ThroughputEstimate(**kw)


def estimate(
    gpu: GpuSpec,
    llm: LlmSpec,
    precision: str,
    tokens_per_s_per_user: float,
    input_len: int,
    output_len: int,
    factors: Factors | None = None,
) -> ThroughputEstimate:
    """Throughput, power and energy per chip of a weights-in-SRAM accelerator at a per-user speed.

    Same arguments and result as :func:`optimizer.throughput.roofline.estimate` (rates are per
    chip; ``gpus_per_replica`` is chips per replica, ``decode_layout`` is ``sram-pipeline``,
    ``family`` is ``groq-lpu``). Of :class:`Factors` it honours ``gpus_per_replica``,
    ``max_replica_gpus``, ``serving``, ``mtp_tokens_per_step`` / ``mtp_verify_tokens``,
    ``prefix_cache_hit``, ``kv_bytes_per_element``, ``max_batch_per_gpu`` /
    ``max_batch_per_replica`` and ``prefill_gpus_per_replica``; the calibrated GPU efficiencies,
    layouts and overheads do not apply. ``feasible`` is False (rates 0) when the replica cannot
    hold the weights (``limit`` ``memory``) or even one sequence is slower than the target
    (``latency``). See the module docstring and docs/throughput.md.
    """
    if tokens_per_s_per_user <= 0:
        raise ValueError("tokens_per_s_per_user must be > 0")
    if input_len < 0 or output_len <= 0:
        raise ValueError("input_len must be >= 0 and output_len > 0")
    if not gpu.weights_on_chip or not gpu.sram_tb_s or gpu.layer_latency_us is None:
        raise ValueError(f"{gpu.id}: the LPU rule needs sram_mb, sram_tb_s and layer_latency_us (data/gpus.csv)")
    f = factors or Factors()
    p = _norm_precision(precision)
    rep = _replica(gpu, llm, p, f)
    n = rep.n

    m = max(1.0, float(f.mtp_tokens_per_step))
    verify = float(max(int(f.mtp_verify_tokens), 1)) if f.mtp_verify_tokens else (
        float(math.ceil(m - 1e-9)) if m > 1.0 else 1.0)
    hit = min(max(f.prefix_cache_hit, 0.0), 0.999)
    aggregated = f.serving == "aggregated"
    in_len, out_len = float(input_len), float(output_len)
    ctx = in_len + 0.5 * out_len
    kv_seq = llm.kv_bytes(f.kv_bytes_per_element) * ctx  # bytes per sequence, whole replica

    peak = gpu.peak_tflops(p) * 1e12 * COMPUTE_EFFICIENCY  # matmul rate per chip
    attn_peak = gpu.bf16_tflops * 1e12 * COMPUTE_EFFICIENCY  # attention math at BF16
    dec_s_tok = 2.0 * llm.active_params_b * 1e9 / peak + llm.attention_flops_per_token(ctx, decode=True) / attn_peak
    pre_ctx = (hit + 0.5 * (1.0 - hit)) * in_len
    pre_s_tok = 2.0 * llm.active_params_b * 1e9 / peak + llm.attention_flops_per_token(pre_ctx, decode=False) / attn_peak
    in_rate = 1.0 / pre_s_tok  # uncached prompt tokens per second per chip
    chunk = m * (in_len * (1.0 - hit) / out_len) if aggregated else 0.0  # prompt tokens per sequence per step

    sram_bw = float(gpu.sram_tb_s) * 1e12 * SRAM_BW_EFFICIENCY
    k_over_e = (llm.experts_per_token / llm.experts) if llm.is_moe else 1.0
    # chip-to-chip bytes per token and chip: every chip of a layer's group takes part in the layer's
    # all-reduces (8 B per hidden element per token over the L layers it shares with n / L chips);
    # an MoE token's k expert dispatches spread over the replica
    h = float(llm.hidden_size or 0)
    link = float(gpu.scaleup_gb_s or 0.0) * 1e9
    com_tok = _TP_ALLREDUCE_BYTES_PER_ELEMENT * h
    if llm.is_moe:
        com_tok += _EP_BYTES_PER_ELEMENT * h * llm.experts_per_token * llm.layers / n
    step = _Step(
        t_lat=llm.layers * float(gpu.layer_latency_us) * 1e-6,
        mem_fix=(rep.w_ne if llm.is_moe else rep.w) / n / sram_bw,
        mem_exp=(rep.w_e / n / sram_bw) if llm.is_moe else 0.0,
        log_miss=verify * math.log1p(-k_over_e) if llm.is_moe else 0.0,
        mem_seq=kv_seq / n / rep.kv_bw if rep.kv_bw > 0 else math.inf,
        cmp_seq=(verify * dec_s_tok + chunk * pre_s_tok) / n,
        com_seq=(verify + chunk) * com_tok / link if link > 0 and n > 1 else 0.0,
        m=m,
    )
    b_mem = rep.kv_room / kv_seq if kv_seq > 0 else (math.inf if rep.kv_room > 0 else 0.0)
    b_cap = min(float(f.max_batch_per_gpu) * n if f.max_batch_per_gpu else math.inf,
                float(f.max_batch_per_replica) if f.max_batch_per_replica else math.inf)
    limit = "memory" if b_mem <= b_cap else "batch-cap"
    b_max = min(b_mem, b_cap)
    target = 1.0 / float(tokens_per_s_per_user)
    b = _largest_batch(step, target, b_max) if rep.kv_room >= 0 and b_max > 0 else 0.0
    if b > 0 and b < b_max:
        limit = "latency"

    prefill_n = int(f.prefill_gpus_per_replica) if f.prefill_gpus_per_replica else n
    deployment = {
        "serving": "aggregated" if aggregated else "disaggregated",
        "prefill_gpus_per_replica": 0 if aggregated else prefill_n,
        "mtp_tokens_per_step": m, "kv_precision": f.kv_precision_for(llm), "cache_hit_share": hit,
    }
    common = {
        "gpu_id": gpu.id, "llm_id": llm.id, "precision": p, "family": FAMILY,
        "gpus_per_replica": n, "nodes_per_replica": max(1, math.ceil(n / max(gpu.gpus_per_node, 1))),
        "eta_bw": SRAM_BW_EFFICIENCY, "eta_compute": COMPUTE_EFFICIENCY, "decode_layout": LAYOUT,
        "weight_gb_per_gpu": rep.w / n / 1e9, **deployment,
    }
    idle, full = gpu.idle_power_kw_per_gpu, gpu.power_kw_per_gpu
    if b <= 0:
        why = "memory" if rep.kv_room < 0 or b_max <= 0 else "latency"
        return _result(
            **common, feasible=False, limit=why, batch_per_replica=0.0, output_tokens_per_s_per_gpu=0.0,
            input_tokens_per_s_per_gpu=in_rate if why != "memory" else 0.0, total_tokens_per_s_per_gpu=0.0,
            delivered_output_tokens_per_s_per_gpu=0.0, tokens_per_s_per_user=0.0, decode_step_ms=math.inf,
            decode_bound="none", kv_gb_per_gpu=0.0, decode_utilisation=0.0, prefill_utilisation=0.0,
            decode_kw_per_gpu=idle, prefill_kw_per_gpu=idle, kw_per_gpu=idle,
            joules_per_output_token=math.inf, joules_per_token=math.inf, tokens_per_kwh=0.0,
        )

    t, t_mem, t_cmp, t_com = _t(step, b)
    out_rate = b * m / t / n
    if aggregated:
        total, f_pre = out_rate * (in_len + out_len) / out_len, 0.0
    elif in_len <= 0:
        total, f_pre = out_rate, 0.0
    else:
        t_pre, t_dec = in_len * (1.0 - hit) / in_rate, out_len / out_rate  # chip-seconds per request
        total, f_pre = (in_len + out_len) / (t_pre + t_dec), t_pre / (t_pre + t_dec)
    # busy share of the step at datasheet rates (the pipeline latency is idle time for a chip)
    u_dec = min(1.0, max(SRAM_BW_EFFICIENCY * t_mem / t, COMPUTE_EFFICIENCY * t_cmp / t))
    u_pre = COMPUTE_EFFICIENCY
    kw_dec = idle + (full - idle) * u_dec
    kw_pre = idle + (full - idle) * u_pre
    kw = f_pre * kw_pre + (1.0 - f_pre) * kw_dec
    j_tok = kw * 1000.0 / total
    bound = max((step.t_lat, "layer-latency"), (t_mem, "sram-bandwidth"), (t_cmp, "compute"),
                (t_com, "interconnect"))[1]
    return _result(
        **common, feasible=True, limit=limit, batch_per_replica=b, output_tokens_per_s_per_gpu=out_rate,
        input_tokens_per_s_per_gpu=in_rate, total_tokens_per_s_per_gpu=total,
        delivered_output_tokens_per_s_per_gpu=total * out_len / (in_len + out_len),
        tokens_per_s_per_user=m / t, decode_step_ms=t * 1000.0, decode_bound=bound,
        kv_gb_per_gpu=b * kv_seq / n / 1e9,  # in SRAM, or in the attached memory when the chip has it
        decode_utilisation=u_dec, prefill_utilisation=u_pre, decode_kw_per_gpu=kw_dec,
        prefill_kw_per_gpu=kw_pre, kw_per_gpu=kw, joules_per_output_token=kw_dec * 1000.0 / out_rate,
        joules_per_token=j_tok, tokens_per_kwh=3.6e6 / j_tok,
    )


def max_tokens_per_s_per_user(gpu: GpuSpec, llm: LlmSpec, precision: str, input_len: int = 1024,
                              output_len: int = 512, factors: Factors | None = None) -> float:
    """Fastest per-user decode speed of the rule (one sequence per replica), tokens/s: the figure
    to compare with a provider's published tokens/s per user."""
    f = replace(factors or Factors(), max_batch_per_replica=1e-9)
    return estimate(gpu, llm, precision, 1e-3, input_len, output_len, f).tokens_per_s_per_user


__all__ = [
    "COMPUTE_EFFICIENCY",
    "FAMILY",
    "LAYOUT",
    "SRAM_BW_EFFICIENCY",
    "SRAM_RESERVE_FRAC",
    "SRAM_WEIGHT_SHARE",
    "estimate",
    "max_tokens_per_s_per_user",
    "min_replica_chips",
]
