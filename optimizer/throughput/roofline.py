"""The roofline estimator: throughput, replica, power and energy per GPU of one LLM on one accelerator.

:func:`estimate` sizes a decode replica (size x layout candidates: tensor parallel, data-parallel
attention with expert parallelism), solves the largest batch that meets a per-user speed and
fits in HBM, and prices prefill, power and energy. Step times join memory, compute and
collective times in a p-norm plus a fixed per-layer overhead (docs/throughput.md).

The fitted constants (efficiency per accelerator family, step overhead, overlap exponent,
collective and attention scales, error figures) are read at import from
``data/throughput_calibration.yaml`` (:func:`load_calibration`), which ``tokenomics calibrate
--write`` rewrites; :class:`Factors` overrides any of them per call.

Units: FLOPs and bytes are plain counts; TFLOPS = 1e12 FLOP/s; TB/s = 1e12 B/s;
GB = 1e9 B; power in kW; energy in J; time in s unless the name says ms.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from optimizer.resources import data_dir
from optimizer.throughput.hardware import (
    PRECISION_BYTES,
    GpuSpec,
    LlmSpec,
    _norm_precision,
    gpu_family,
)

logger = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------------------
# Calibrated constants (data/throughput_calibration.yaml)
# --------------------------------------------------------------------------------------

CALIBRATION_FILE = "throughput_calibration.yaml"
"""The fitted constants in :func:`optimizer.resources.data_dir`."""


def calibration_path() -> Path:
    """The bundled calibration file, ``data/throughput_calibration.yaml``."""
    return data_dir() / CALIBRATION_FILE


@dataclass(frozen=True)
class Calibration:
    """The estimator's fitted constants, as stored in ``data/throughput_calibration.yaml``.

    Fitted by :func:`optimizer.throughput.calibration.fit_efficiencies` over
    ``data/benchmarks.csv``: least squares on log(estimate / measured) with a weak ridge on
    the family offsets; ``parameters`` free parameters (global logits of the HBM-bandwidth and
    GEMM efficiencies, one software offset per accelerator family shared by both, the step
    overhead, the overlap exponent, the collective-time multiplier and the attention-kernel
    efficiency relative to GEMMs). Errors: median |estimate / measured - 1| and max
    |log2(estimate / measured)| over the ``rows`` fitted rows, in-sample and leave-one-out.

    Attributes
    ----------
    date : str
        Day of the fit (ISO).
    rows, parameters : int
        Benchmark rows fitted and free parameters.
    median_abs_rel_error, max_abs_log2_error : float
        In-sample errors.
    loo_median_abs_rel_error, loo_max_abs_log2_error : float
        Leave-one-out errors (NaN when the fit ran without leave-one-out).
    heldout_median_abs_rel_error, heldout_max_abs_log2_error, heldout_groups : float, float, int
        Errors with one whole source (``source_group`` of ``data/benchmarks.csv``) left out of the
        fit at a time and its rows predicted, over ``heldout_groups`` sources (NaN, 0: not run).
    efficiency : Mapping[str, Efficiency]
        Per accelerator family.
    default_efficiency : Efficiency
        For families without their own pair (geometric mean over the families).
    step_overhead_us_per_layer, overlap_exponent, ep_comm_scale, attention_compute_scale : float
        See :class:`Factors`.
    """

    date: str
    rows: int
    parameters: int
    median_abs_rel_error: float
    max_abs_log2_error: float
    loo_median_abs_rel_error: float
    loo_max_abs_log2_error: float
    efficiency: Mapping[str, Efficiency]
    default_efficiency: Efficiency
    step_overhead_us_per_layer: float
    overlap_exponent: float
    ep_comm_scale: float
    attention_compute_scale: float
    heldout_median_abs_rel_error: float = math.nan
    heldout_max_abs_log2_error: float = math.nan
    heldout_groups: int = 0


def _efficiency(x: Any, where: str) -> Efficiency:
    if not isinstance(x, Mapping) or set(x) != {"bw", "compute"}:
        raise ValueError(f"{where}: expected {{bw: ..., compute: ...}}, got {x!r}")
    return Efficiency(bw=float(x["bw"]), compute=float(x["compute"]))


def load_calibration(path: str | Path | None = None) -> Calibration:
    """Read the calibrated constants (default: the bundled ``data/throughput_calibration.yaml``)."""
    path = Path(path) if path is not None else calibration_path()
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(d, Mapping):
        raise ValueError(f"{path}: expected a mapping of calibrated constants")
    optional = ("heldout_median_abs_rel_error", "heldout_max_abs_log2_error", "heldout_groups")
    missing = [k for k in Calibration.__dataclass_fields__ if k not in d and k not in optional]
    unknown = [k for k in d if k not in Calibration.__dataclass_fields__]
    if missing or unknown:
        raise ValueError(f"{path}: missing keys {missing}, unknown keys {unknown}")
    eff = d["efficiency"]
    if not isinstance(eff, Mapping) or not eff:
        raise ValueError(f"{path}: efficiency: expected a mapping of family -> {{bw, compute}}")
    floats = ("median_abs_rel_error", "max_abs_log2_error", "loo_median_abs_rel_error",
              "loo_max_abs_log2_error", "step_overhead_us_per_layer", "overlap_exponent",
              "ep_comm_scale", "attention_compute_scale")
    return Calibration(
        date=str(d["date"]), rows=int(d["rows"]), parameters=int(d["parameters"]),
        efficiency={str(f): _efficiency(e, f"{path}: efficiency.{f}") for f, e in eff.items()},
        default_efficiency=_efficiency(d["default_efficiency"], f"{path}: default_efficiency"),
        **{k: float(d[k]) for k in floats},
        heldout_median_abs_rel_error=float(d.get("heldout_median_abs_rel_error", math.nan)),
        heldout_max_abs_log2_error=float(d.get("heldout_max_abs_log2_error", math.nan)),
        heldout_groups=int(d.get("heldout_groups", 0)),
    )


CALIBRATION = load_calibration()
"""The bundled calibration, read at import; the names below are its fields."""
CALIBRATION_DATE = CALIBRATION.date
CALIBRATION_ROWS = CALIBRATION.rows
CALIBRATION_MEDIAN_ABS_REL_ERROR = CALIBRATION.median_abs_rel_error
CALIBRATION_MAX_ABS_LOG2_ERROR = CALIBRATION.max_abs_log2_error
CALIBRATION_LOO_MEDIAN_ABS_REL_ERROR = CALIBRATION.loo_median_abs_rel_error
CALIBRATION_LOO_MAX_ABS_LOG2_ERROR = CALIBRATION.loo_max_abs_log2_error
CALIBRATED_EFFICIENCY: dict[str, Efficiency] = dict(CALIBRATION.efficiency)
DEFAULT_EFFICIENCY = CALIBRATION.default_efficiency
CALIBRATED_STEP_OVERHEAD_US_PER_LAYER = CALIBRATION.step_overhead_us_per_layer
CALIBRATED_OVERLAP_EXPONENT = CALIBRATION.overlap_exponent
CALIBRATED_EP_COMM_SCALE = CALIBRATION.ep_comm_scale
CALIBRATED_ATTENTION_COMPUTE_SCALE = CALIBRATION.attention_compute_scale


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
        Share of input tokens served from a prefix cache: they need no prefill compute, but
        the uncached tokens behind them attend to them (their mean attention context is
        ``hit x L + (1 - hit) x L / 2`` instead of ``L / 2``). Input rates are compute
        rates: per uncached input token.
    kv_bytes_per_element : float | None
        Override the card's KV precision (B/element, e.g. 1 for FP8 KV).
    gpus_per_replica : int | None
        Force the decode replica size (GPUs) instead of sizing it (aggregated serving: the
        whole replica).
    prefill_gpus_per_replica : int | None
        Disaggregated serving: the prefill pool's size (GPUs of one prefill instance); None
        -> the best prefill rate over the decode candidates' sizes.
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
    prefill_gpus_per_replica: int | None = None
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

    def kv_precision_for(self, llm: LlmSpec) -> str:
        """The KV-cache precision these factors serve ``llm`` at: the card's, or the one
        ``kv_bytes_per_element`` names (``bf16``, ``fp8``, ``fp4``; other sizes as ``<bytes> B``)."""
        if self.kv_bytes_per_element is None:
            return _norm_precision(llm.kv_precision or "bf16")
        names = {2.0: "bf16", 1.0: "fp8", 0.5625: "fp4"}
        return names.get(self.kv_bytes_per_element, f"{self.kv_bytes_per_element:g} B")

    def efficiency_for(self, gpu: GpuSpec) -> Efficiency:
        """Efficiency factors for ``gpu``'s family (default when the family is unknown)."""
        table = CALIBRATED_EFFICIENCY if self.efficiency is None else self.efficiency
        return table.get(gpu_family(gpu), DEFAULT_EFFICIENCY)


@dataclass(frozen=True)
class ThroughputEstimate:
    """Operating point of one (accelerator, LLM, precision, per-user speed, request shape).

    Rates are per GPU. Disaggregated serving: ``output_tokens_per_s_per_gpu`` is the rate
    of a decode GPU, ``input_tokens_per_s_per_gpu`` the compute rate of a prefill GPU
    (uncached input tokens per second; prefix-cache hits need no prefill compute);
    ``total_tokens_per_s_per_gpu`` = (in + out) / (in (1 - hit) / input_rate + out /
    output_rate) for requests of the given shape (pools sized to the load), and
    ``delivered_output_tokens_per_s_per_gpu`` its output share. Aggregated serving: the
    output rate is what a GPU of the replica emits while also prefilling (chunked prefill).
    ``kw_per_gpu`` is the time-weighted mean power over prefill and decode. The deployment
    is stated by ``serving``, ``gpus_per_replica`` (decode pool, or the whole replica when
    aggregated), ``prefill_gpus_per_replica``, ``decode_layout`` (``tp``, ``dp-ep``,
    ``tp4-ep``, ...), ``mtp_tokens_per_step``, ``kv_precision`` and ``cache_hit_share``;
    :attr:`deployment` says it in words.
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
    serving: str = "disaggregated"
    prefill_gpus_per_replica: int = 0
    mtp_tokens_per_step: float = 1.0
    kv_precision: str = "bf16"
    cache_hit_share: float = 0.0

    @property
    def deployment(self) -> str:
        """The deployment in words, e.g. ``disaggregated: decode 144 GPUs dp-ep, prefill 32 GPUs,
        MTP 1.8, KV bf16``."""
        pool = (f"decode {self.gpus_per_replica} GPUs {self.decode_layout}, prefill "
                f"{self.prefill_gpus_per_replica} GPUs" if self.serving == "disaggregated"
                else f"{self.gpus_per_replica} GPUs {self.decode_layout}")
        return (f"{self.serving}: {pool}, MTP {self.mtp_tokens_per_step:g}, KV {self.kv_precision}, "
                f"cache hits {self.cache_hit_share:.0%}")

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of all fields and the deployment in words."""
        return {**asdict(self), "deployment": self.deployment}




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
    in_rate: float  # uncached input tok/s per GPU (prefill phase compute rate)
    b_mem: float  # sequences per replica that fit in KV memory
    b_cap: float  # sequences per replica allowed by the batch caps
    t0: float  # fixed step overhead (s)
    p: float  # overlap exponent
    aggregated: bool
    in_len: float
    out_len: float
    pd_ratio: float | None
    hit: float  # share of input tokens served from the prefix cache


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
    t_pre = in_len * (1.0 - c.hit) / in_rate  # prefill GPU-seconds per request (hits need none)
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
    hit = min(max(f.prefix_cache_hit, 0.0), 0.999)
    # uncached prompt tokens follow the cached prefix: mean context hit x L + (1 - hit) x L / 2
    pre_attn = llm.attention_flops_per_token((hit + 0.5 * (1.0 - hit)) * input_len, decode=False)
    w_ne, w_e = _weight_bytes(llm, p)
    aggregated = f.serving == "aggregated"
    k_over_e = (llm.experts_per_token / llm.experts) if llm.is_moe else 1.0
    return _Common(
        w_ne=w_ne, w_e=w_e, kv_tok=kv_tok, ctx=ctx,
        lin_t=lin_t,
        dec_attn_t=llm.attention_flops_per_token(ctx, decode=True) / attn_rate,
        pre_cmp=lin_t + pre_attn / attn_rate,
        m=m, verify=verify,
        hit=hit,
        pexp=f.overlap_p(), cscale=f.comm_scale(),
        usable=gpu.hbm_gb * 1e9 * (1.0 - f.hbm_reserve_frac),
        bw=eff.bw * gpu.hbm_tb_s * 1e12,
        log_miss=verify * math.log1p(-k_over_e) if llm.is_moe else 0.0,
        # chunked prefill (aggregated): each step emits b x m output tokens and must
        # prefill (in / out) prompt tokens for each of them
        chunk_per_n=m * (float(input_len) * (1.0 - hit) / float(output_len)) if aggregated else 0.0,
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
        in_rate = 1.0 / _pnorm(cm.pre_cmp, pre_com, 0.0, cm.pexp)
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
            pd_ratio=cm.pd_ratio, hit=cm.hit,
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
    # prefill replicas are sized on their own (disaggregated pools): at the stated prefill
    # pool size, or the best prefill rate over the candidate sizes (the decode ladder's, or
    # the sizes the estimator would search when the decode size is forced), whichever decode
    # candidate wins
    if f.prefill_gpus_per_replica and not cm.aggregated:
        pre_cands = _contexts(cm, gpu, llm, int(f.prefill_gpus_per_replica), f)
    elif f.gpus_per_replica and not cm.aggregated:
        pre_ladder = _replica_ladder(gpu, llm, _min_replica(gpu, llm, p, f), f)
        pre_cands = [c for n in pre_ladder for c in _contexts(cm, gpu, llm, n, f)]
    else:
        pre_cands = [c for _, c in cands]
    pre = max((c for c in pre_cands if c.b_mem > 0), key=lambda c: c.in_rate, default=pre_cands[0])
    in_rate = pre.in_rate
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
        return _infeasible(gpu, llm, p, fam, c, why, eff, in_rate, _deployment_fields(f, llm, cm, pre.n))

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
        **_deployment_fields(f, llm, cm, pre.n),
    )


def _deployment_fields(f: Factors, llm: LlmSpec, cm: _Common, prefill_n: int) -> dict[str, Any]:
    """The deployment fields of an estimate (serving mode, prefill pool, MTP, KV, cache hits)."""
    return {"serving": "aggregated" if cm.aggregated else "disaggregated",
            "prefill_gpus_per_replica": 0 if cm.aggregated else int(prefill_n),
            "mtp_tokens_per_step": cm.m, "kv_precision": f.kv_precision_for(llm), "cache_hit_share": cm.hit}


def _infeasible(
    gpu: GpuSpec, llm: LlmSpec, p: str, fam: str, c: _Ctx, why: str, eff: Efficiency,
    in_rate: float, deployment: dict[str, Any],
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
        decode_layout=c.lay.name, **deployment,
    )
