"""Roofline throughput and energy estimates for LLM inference on an accelerator.

A package of three layers, each importing only the one below it:

- :mod:`~optimizer.throughput.hardware`: facts. ``GpuSpec`` (``data/gpus.csv``: datasheet rates,
  links, ranks, family), ``LlmSpec`` (``models/<id>.yaml``), precision bytes, loaders.
- :mod:`~optimizer.throughput.roofline`: the HBM roofline. ``Factors``, ``estimate`` ->
  ``ThroughputEstimate``; its fitted constants are read from ``data/throughput_calibration.yaml``.
  :mod:`~optimizer.throughput.lpu`: the rule for chips that hold the weights in on-chip SRAM.
- :mod:`~optimizer.throughput.estimator`: ``estimate`` and ``min_replica_gpus`` hand each
  accelerator to its rule (the names this package exports).
- :mod:`~optimizer.throughput.deployment`: deployments stated explicitly (``Deployment``: replica
  GPUs, serving mode, prefill pool, layout, MTP, KV precision), ``estimate_deployment`` and the
  ``candidate_deployments`` the planner offers for a pair no card describes.
- :mod:`~optimizer.throughput.calibration`: the fit. ``load_benchmarks`` (``data/benchmarks.csv``),
  ``calibrate`` (refit, in-sample and leave-one-out errors), ``write_calibration`` (what
  ``tokenomics calibrate --write`` runs).

The method, its assumptions and its calibration are documented in ``docs/throughput.md``. Every
name below is importable from ``optimizer.throughput`` (``from optimizer import throughput as tp``).

Public API
----------
GpuSpec, LlmSpec, Factors, Efficiency, ThroughputEstimate, Calibration   frozen dataclasses
estimate(gpu, llm, precision, tokens_per_s_per_user, input_len, output_len, factors)
estimate_deployment(gpu, llm, deployment, precision, speed, input_len, output_len, cache_hit_share)
Deployment.from_entry(entry, gpus_per_node, mtp) -> the deployment a card or scenario entry states
candidate_deployments(gpu, llm, precision) -> node, and rack or wide-ep for MoE models
load_gpu_specs(path)           -> dict[str, GpuSpec]      (data/gpus.csv)
load_llm_specs(models_dir)     -> dict[str, LlmSpec]      (models/*.yaml)
load_benchmarks(path)          -> pd.DataFrame            (data/benchmarks.csv)
calibrate(benchmarks, gpus, llms) -> pd.DataFrame          per-row in-sample and leave-one-out errors
fit_efficiencies(benchmarks, gpus, llms) -> (dict[str, Efficiency], info)
load_calibration(path), calibration_from_fit(df), write_calibration(cal, path)
gpu_family(gpu)                -> accelerator family used to pick the efficiency factors
min_replica_gpus(gpu, llm, precision) -> smallest deployable replica (GPUs)
parse_tags(notes), row_factors(row) -> the configuration a benchmark row states
INTERCONNECT, RANKS_PER_PACKAGE, FAMILY_BY_ID  links, dies run as ranks, family (by GPU id)

Units: FLOPs and bytes are plain counts; TFLOPS = 1e12 FLOP/s; TB/s = 1e12 B/s;
GB = 1e9 B; power in kW; energy in J; time in s unless the name says ms.
"""

from optimizer.throughput.calibration import (
    BENCHMARK_COLUMNS,
    METRICS,
    calibrate,
    calibration_changes,
    calibration_from_fit,
    fit_efficiencies,
    format_calibration,
    load_benchmarks,
    parse_tags,
    read_calibration_if_any,
    row_factors,
    write_calibration,
)
from optimizer.throughput.calibration import _fit_rows as _fit_rows
from optimizer.throughput.calibration import _Param as _Param
from optimizer.throughput.calibration import _row_estimate as _row_estimate
from optimizer.throughput.deployment import (
    RACK_SCALE_MIN_GPUS,
    WIDE_EP_DECODE_NODES,
    Deployment,
    candidate_deployments,
    estimate_deployment,
)
from optimizer.throughput.estimator import estimate, min_replica_gpus
from optimizer.throughput.hardware import (
    DEFAULT_SCALEOUT_GB_S,
    DEFAULT_SCALEUP_GB_S,
    FAMILIES,
    FAMILY_BY_ID,
    INTERCONNECT,
    PRECISION_BYTES,
    RANKS_PER_PACKAGE,
    GpuSpec,
    LlmSpec,
    gpu_family,
    llm_spec_from_card,
    load_gpu_specs,
    load_llm_specs,
)
from optimizer.throughput.hardware import _norm_precision as _norm_precision
from optimizer.throughput.roofline import (
    CALIBRATED_ATTENTION_COMPUTE_SCALE,
    CALIBRATED_EFFICIENCY,
    CALIBRATED_EP_COMM_SCALE,
    CALIBRATED_OVERLAP_EXPONENT,
    CALIBRATED_STEP_OVERHEAD_US_PER_LAYER,
    CALIBRATION,
    CALIBRATION_DATE,
    CALIBRATION_LOO_MAX_ABS_LOG2_ERROR,
    CALIBRATION_LOO_MEDIAN_ABS_REL_ERROR,
    CALIBRATION_MAX_ABS_LOG2_ERROR,
    CALIBRATION_MEDIAN_ABS_REL_ERROR,
    CALIBRATION_ROWS,
    DEFAULT_EFFICIENCY,
    Calibration,
    Efficiency,
    Factors,
    ServingMode,
    ThroughputEstimate,
    calibration_path,
    load_calibration,
)
from optimizer.throughput.roofline import _layouts as _layouts
from optimizer.throughput.roofline import _weight_bytes as _weight_bytes

__all__ = [
    "BENCHMARK_COLUMNS",
    "CALIBRATED_ATTENTION_COMPUTE_SCALE",
    "CALIBRATED_EFFICIENCY",
    "CALIBRATED_EP_COMM_SCALE",
    "CALIBRATED_OVERLAP_EXPONENT",
    "CALIBRATED_STEP_OVERHEAD_US_PER_LAYER",
    "CALIBRATION",
    "CALIBRATION_DATE",
    "CALIBRATION_LOO_MAX_ABS_LOG2_ERROR",
    "CALIBRATION_LOO_MEDIAN_ABS_REL_ERROR",
    "CALIBRATION_MAX_ABS_LOG2_ERROR",
    "CALIBRATION_MEDIAN_ABS_REL_ERROR",
    "CALIBRATION_ROWS",
    "DEFAULT_EFFICIENCY",
    "DEFAULT_SCALEOUT_GB_S",
    "DEFAULT_SCALEUP_GB_S",
    "FAMILIES",
    "FAMILY_BY_ID",
    "INTERCONNECT",
    "METRICS",
    "PRECISION_BYTES",
    "RANKS_PER_PACKAGE",
    "Calibration",
    "Deployment",
    "RACK_SCALE_MIN_GPUS",
    "WIDE_EP_DECODE_NODES",
    "candidate_deployments",
    "estimate_deployment",
    "Efficiency",
    "Factors",
    "GpuSpec",
    "LlmSpec",
    "ServingMode",
    "ThroughputEstimate",
    "calibrate",
    "calibration_changes",
    "calibration_from_fit",
    "calibration_path",
    "estimate",
    "fit_efficiencies",
    "format_calibration",
    "gpu_family",
    "llm_spec_from_card",
    "load_benchmarks",
    "load_calibration",
    "load_gpu_specs",
    "load_llm_specs",
    "min_replica_gpus",
    "parse_tags",
    "read_calibration_if_any",
    "row_factors",
    "write_calibration",
]
