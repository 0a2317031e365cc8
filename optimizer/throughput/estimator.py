"""The estimator's entry points: :func:`estimate` and :func:`min_replica_gpus` hand an accelerator to
its rule, the HBM roofline (:mod:`~optimizer.throughput.roofline`) or, for chips that keep the
weights in on-chip SRAM (``GpuSpec.weights_on_chip``), the LPU rule (:mod:`~optimizer.throughput.lpu`).

Both rules sit below this module, so neither imports the other.
"""

from __future__ import annotations

from optimizer.throughput import lpu, roofline
from optimizer.throughput.hardware import GpuSpec, LlmSpec
from optimizer.throughput.roofline import Factors, ThroughputEstimate


def estimate(
    gpu: GpuSpec,
    llm: LlmSpec,
    precision: str,
    tokens_per_s_per_user: float,
    input_len: int,
    output_len: int,
    factors: Factors | None = None,
) -> ThroughputEstimate:
    """Throughput, power and energy per GPU at a per-user decode speed (see
    :func:`optimizer.throughput.roofline.estimate`; LPUs: :func:`optimizer.throughput.lpu.estimate`)."""
    rule = lpu.estimate if gpu.weights_on_chip else roofline.estimate
    return rule(gpu, llm, precision, tokens_per_s_per_user, input_len, output_len, factors)


def min_replica_gpus(gpu: GpuSpec, llm: LlmSpec, precision: str, factors: Factors | None = None) -> int:
    """Smallest deployable replica (GPUs, or chips of an LPU) for ``llm`` at ``precision``."""
    if gpu.weights_on_chip:
        return lpu.min_replica_chips(gpu, llm, precision, factors)
    return roofline.min_replica_gpus(gpu, llm, precision, factors)
