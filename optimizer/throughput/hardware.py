"""Hardware and model facts for the throughput estimator: accelerators and LLM architectures.

:class:`GpuSpec` is one accelerator as in ``data/gpus.csv`` (datasheet rates, HBM, power, node and
scale-up domain, link bandwidths, ranks per package, family); :class:`LlmSpec` is one LLM's
architecture as in ``models/<id>.yaml``. Every per-accelerator number lives in ``data/gpus.csv``
with its source; nothing here is calibrated. The links, ranks and family of a ``GpuSpec`` built
without them (e.g. from a scenario's ``gpus:`` entry) come from the bundled ``gpus.csv`` by id.

Units: TFLOPS = 1e12 FLOP/s; TB/s = 1e12 B/s; GB = 1e9 B; GB/s = 1e9 B/s; power in kW.
"""

from __future__ import annotations

import csv
import functools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from optimizer.resources import data_dir

logger = logging.getLogger(__name__)


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

#: Link bandwidths (GB/s, one direction, per GPU) assumed for an accelerator id that is not in
#: ``data/gpus.csv``: NVLink4-class scale-up and one 400 Gbit/s NIC. Not calibrated.
DEFAULT_SCALEUP_GB_S = 450.0
DEFAULT_SCALEOUT_GB_S = 50.0

GPUS_CSV = "gpus.csv"
"""The accelerator catalog in :func:`optimizer.resources.data_dir`."""


def _hardware_tables(path: Path) -> tuple[dict[str, tuple[float, float]], dict[str, int], dict[str, str]]:
    """(links, ranks, family) by id from the ``scaleup_gb_s``, ``scaleout_gb_s``,
    ``ranks_per_package`` and ``family`` columns of ``gpus.csv`` (rows with empty cells left out)."""
    links: dict[str, tuple[float, float]] = {}
    ranks: dict[str, int] = {}
    family: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            gid = r["id"].strip().lower()
            up, out = r.get("scaleup_gb_s") or "", r.get("scaleout_gb_s") or ""
            if up.strip() and out.strip():
                links[gid] = (float(up), float(out))
            if (r.get("ranks_per_package") or "").strip():
                ranks[gid] = int(r["ranks_per_package"])
            if (r.get("family") or "").strip():
                family[gid] = r["family"].strip()
    return links, ranks, family


INTERCONNECT: dict[str, tuple[float, float]]
"""Per-GPU one-direction link bandwidth in GB/s, (scale-up domain, scale-out NIC), by GPU id: the
``scaleup_gb_s`` and ``scaleout_gb_s`` columns of the bundled ``data/gpus.csv`` (sources there)."""
RANKS_PER_PACKAGE: dict[str, int]
"""Compute dies run as separate ranks by the serving stack, by GPU id (``ranks_per_package`` of
the bundled ``data/gpus.csv``; 2 for Ascend 910C)."""
FAMILY_BY_ID: dict[str, str]
"""Accelerator family by GPU id (``family`` of the bundled ``data/gpus.csv``)."""
INTERCONNECT, RANKS_PER_PACKAGE, FAMILY_BY_ID = _hardware_tables(data_dir() / GPUS_CSV)


def _on_chip_tables(path: Path) -> tuple[dict[str, tuple[float, float, float]], dict[str, str]]:
    """(on-chip SRAM facts, availability) by id: ``sram_mb``, ``sram_tb_s`` and
    ``layer_latency_us`` of the weights-on-chip rows and ``available_from`` (YYYY-MM) of every row
    of ``gpus.csv`` (rows or cells left empty are left out)."""
    on_chip: dict[str, tuple[float, float, float]] = {}
    available: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            gid = r["id"].strip().lower()
            cells = [(r.get(k) or "").strip() for k in ("sram_mb", "sram_tb_s", "layer_latency_us")]
            if all(cells):
                on_chip[gid] = (float(cells[0]), float(cells[1]), float(cells[2]))
            if (r.get("available_from") or "").strip():
                available[gid] = r["available_from"].strip()
    return on_chip, available


ON_CHIP: dict[str, tuple[float, float, float]]
"""Accelerators that hold the weights in on-chip SRAM (Groq LPUs), by GPU id: (SRAM per chip in
MB, SRAM bandwidth per chip in TB/s, per-layer latency in microseconds), the ``sram_mb``,
``sram_tb_s`` and ``layer_latency_us`` columns of the bundled ``data/gpus.csv`` (sources there;
the estimation rule is :mod:`optimizer.throughput.lpu`)."""
AVAILABLE_FROM: dict[str, str]
"""First month an accelerator can be installed (YYYY-MM), by GPU id: ``available_from`` of the
bundled ``data/gpus.csv`` (first shipments, or the announced date for roadmap parts)."""
ON_CHIP, AVAILABLE_FROM = _on_chip_tables(data_dir() / GPUS_CSV)


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
        HBM capacity (GB = 1e9 B); 0 for accelerators without HBM (weights-on-chip LPUs).
    hbm_tb_s : float
        HBM bandwidth (TB/s = 1e12 B/s); 0 without HBM.
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
        Infinity Fabric, UB) and across it (InfiniBand / RoCE NIC); columns of
        ``data/gpus.csv``. None (default) -> :data:`INTERCONNECT` by id
        (:data:`DEFAULT_SCALEUP_GB_S` / :data:`DEFAULT_SCALEOUT_GB_S` for unknown ids).
    ranks_per_package : int | None
        Compute dies that software runs as separate ranks (2 for Ascend 910C, whose two
        dies are separate NPUs to the serving stack); data-parallel attention holds one
        copy of the non-expert weights per rank. None -> :data:`RANKS_PER_PACKAGE` by id
        (1 for unknown ids).
    family : str | None
        Accelerator family (selects the efficiency factors, :func:`gpu_family`). None ->
        :data:`FAMILY_BY_ID` by id; unknown ids stay None and :func:`gpu_family` decides
        from the vendor and FP4 support.
    sram_mb, sram_tb_s, layer_latency_us : float | None
        Weights-on-chip accelerators only (Groq LPU): on-chip SRAM per chip (MB = 1e6 B) that
        holds the weights, its bandwidth (TB/s) and the per-layer latency of the chip-to-chip
        pipeline (microseconds). None -> :data:`ON_CHIP` by id (None for GPUs). With
        ``sram_mb`` set, :attr:`weights_on_chip` is True and
        :func:`optimizer.throughput.estimate` uses :mod:`optimizer.throughput.lpu`.
    available_from : str | None
        First month it can be installed (YYYY-MM). None -> :data:`AVAILABLE_FROM` by id.
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
    family: str | None = None
    sram_mb: float | None = None
    sram_tb_s: float | None = None
    layer_latency_us: float | None = None
    available_from: str | None = None

    def __post_init__(self) -> None:
        # links, ranks and family not given: from the bundled gpus.csv by id (INTERCONNECT,
        # RANKS_PER_PACKAGE, FAMILY_BY_ID; the defaults and one rank for unknown ids)
        gid = self.id.lower()
        up, out = INTERCONNECT.get(gid, (DEFAULT_SCALEUP_GB_S, DEFAULT_SCALEOUT_GB_S))
        if self.scaleup_gb_s is None:
            object.__setattr__(self, "scaleup_gb_s", up)
        if self.scaleout_gb_s is None:
            object.__setattr__(self, "scaleout_gb_s", out)
        if self.ranks_per_package is None:
            object.__setattr__(self, "ranks_per_package", RANKS_PER_PACKAGE.get(gid, 1))
        if self.family is None:
            object.__setattr__(self, "family", FAMILY_BY_ID.get(gid))
        # on-chip SRAM facts and availability not given: the bundled gpus.csv by id
        sram = ON_CHIP.get(gid)
        for k, v in zip(("sram_mb", "sram_tb_s", "layer_latency_us"), sram or (None, None, None), strict=True):
            if getattr(self, k) is None and v is not None:
                object.__setattr__(self, k, v)
        if self.available_from is None:
            object.__setattr__(self, "available_from", AVAILABLE_FROM.get(gid))

    @property
    def weights_on_chip(self) -> bool:
        """True when the weights live in on-chip SRAM spread over many chips (``sram_mb`` set):
        estimated by :mod:`optimizer.throughput.lpu` instead of the HBM roofline."""
        return bool(self.sram_mb and self.sram_mb > 0)

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

    The spec's ``family`` (``data/gpus.csv``, or the bundled catalog's by id) if set; otherwise
    the vendor and FP4 support decide.
    """
    if gpu.family:
        return gpu.family
    v = gpu.vendor.lower()
    if "huawei" in v or gpu.id.lower().startswith("ascend"):
        return "huawei-ascend"
    if "amd" in v:
        return "amd-cdna4" if gpu.fp4_tflops else "amd-cdna3"
    if "nvidia" in v:
        return "nvidia-blackwell" if gpu.fp4_tflops else "nvidia-hopper"
    return "generic"


def _opt_float(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _opt_int(x: Any) -> int | None:
    v = _opt_float(x)
    return None if v is None else int(v)


def _opt_str(x: Any) -> str | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return str(x).strip() or None


def load_gpu_specs(path: str | Path) -> dict[str, GpuSpec]:
    """Read ``data/gpus.csv`` into ``{id: GpuSpec}`` (empty cells -> None; a file without the
    ``scaleup_gb_s``, ``scaleout_gb_s``, ``ranks_per_package`` or ``family`` columns gets them
    from the bundled catalog by id, as :class:`GpuSpec` does)."""
    df = pd.read_csv(path)
    out: dict[str, GpuSpec] = {}
    for r in df.to_dict("records"):
        gid = str(r["id"]).strip()
        out[gid] = GpuSpec(
            id=gid,
            bf16_tflops=float(r["bf16_tflops"]),
            fp8_tflops=_opt_float(r.get("fp8_tflops")),
            fp4_tflops=_opt_float(r.get("fp4_tflops")),
            hbm_gb=_opt_float(r.get("hbm_gb")) or 0.0,  # empty: no HBM (weights-on-chip accelerators)
            hbm_tb_s=_opt_float(r.get("hbm_tb_s")) or 0.0,
            power_kw_per_gpu=float(r["power_kw_per_gpu"]),
            idle_power_kw_per_gpu=float(r["idle_power_kw_per_gpu"]),
            gpus_per_node=int(r.get("gpus_per_node") or 8),
            scaleup_domain_gpus=int(r.get("scaleup_domain_gpus") or 8),
            vendor=str(r.get("vendor") or ""),
            scaleup_gb_s=_opt_float(r.get("scaleup_gb_s")),
            scaleout_gb_s=_opt_float(r.get("scaleout_gb_s")),
            ranks_per_package=_opt_int(r.get("ranks_per_package")),
            family=_opt_str(r.get("family")),
            sram_mb=_opt_float(r.get("sram_mb")),
            sram_tb_s=_opt_float(r.get("sram_tb_s")),
            layer_latency_us=_opt_float(r.get("layer_latency_us")),
            available_from=_opt_str(r.get("available_from")),
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

