"""Deployments: how an LLM is served on an accelerator, stated explicitly.

A :class:`Deployment` names the GPUs of one replica (the decode pool, or the whole replica when
aggregated), the serving mode, the prefill pool of a disaggregated replica, the decode layout,
multi-token prediction and the KV precision. :func:`estimate_deployment` estimates a deployment
with :func:`~optimizer.throughput.estimator.estimate`; :func:`candidate_deployments` lists the
deployments the planner offers for a pair when a card states none (docs/throughput.md,
"Deployments"):

* ``node``: aggregated serving on the fewest whole nodes that hold the weights (one node where the
  model fits), the best replica layout inside them;
* ``rack`` (MoE models on rack-scale accelerators, a scale-up domain of 32 or more): one scale-up
  domain, disaggregated, two thirds of it decoding and one third prefilling;
* ``wide-ep`` (MoE models elsewhere): disaggregated expert parallelism over the scale-out network,
  decode on 16 nodes (DeepSeek decodes on 18, LMSYS on 9–12), prefill on the pool size with the
  best prefill rate (over the scale-out network the all-to-all makes wide prefill pools slower).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from optimizer.throughput.estimator import estimate, min_replica_gpus
from optimizer.throughput.hardware import PRECISION_BYTES, GpuSpec, LlmSpec, _norm_precision
from optimizer.throughput.roofline import Factors, ThroughputEstimate

ServingName = Literal["aggregated", "disaggregated"]

WIDE_EP_DECODE_NODES = 16
"""Decode nodes of the ``wide-ep`` candidate (DeepSeek: EP144 over 18 nodes; LMSYS: 9–12 nodes)."""
RACK_SCALE_MIN_GPUS = 32
"""Scale-up domains at least this large (GPUs) are rack-scale (NVL72, CloudMatrix384)."""


@dataclass(frozen=True)
class Deployment:
    """One way of serving an LLM on an accelerator.

    ``gpus_per_replica``: GPUs of the decode pool (disaggregated) or of the whole replica
    (aggregated); None lets the estimator size it. ``prefill_gpus``: GPUs of the prefill pool of a
    disaggregated replica (None: the estimator's best prefill size; ignored when aggregated).
    ``layout``: decode layout (``best``, ``tp``, ``dp-ep``). ``mtp_tokens_per_step``: tokens
    emitted per decode step with multi-token prediction (1 = off). ``kv_precision``: None -> the
    card's. ``node_scope``: aggregated replicas stay inside ``gpus_per_replica`` GPUs but may be
    split into several smaller replicas there (the best layout in a node).
    """

    name: str = "best"
    gpus_per_replica: int | None = None
    serving: ServingName = "disaggregated"
    prefill_gpus: int | None = None
    layout: Literal["best", "tp", "dp-ep"] = "best"
    mtp_tokens_per_step: float = 1.0
    kv_precision: str | None = None
    node_scope: bool = False

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], gpus_per_node: int, mtp_tokens_per_step: float = 1.0) -> Deployment:
        """The deployment a throughput entry states (a card's or a scenario's mapping: ``name``,
        ``serving``, ``gpus_per_replica`` or ``nodes_per_replica`` x ``gpus_per_node``, ``prefill_gpus``,
        ``layout``, ``mtp_tokens_per_step`` (default: ``mtp_tokens_per_step``, the LLM's), ``kv_precision``,
        ``node_scope``); its rates, if any, are not part of it."""
        nodes = entry.get("nodes_per_replica")
        return cls(str(entry.get("name") or "default"),
                   entry.get("gpus_per_replica") or (int(nodes) * gpus_per_node if nodes else None),
                   entry.get("serving") or "disaggregated", entry.get("prefill_gpus"), entry.get("layout") or "best",
                   float(entry.get("mtp_tokens_per_step") or mtp_tokens_per_step), entry.get("kv_precision"),
                   bool(entry.get("node_scope")))

    def factors(self, cache_hit_share: float = 0.0, base: Factors | None = None) -> Factors:
        """Estimator factors of this deployment (``cache_hit_share``: share of input tokens served
        from the prefix cache)."""
        f = base or Factors()
        kw: dict = {"serving": self.serving, "mtp_tokens_per_step": float(self.mtp_tokens_per_step),
                    "prefix_cache_hit": float(cache_hit_share), "layout": self.layout}
        if self.kv_precision:
            kw["kv_bytes_per_element"] = PRECISION_BYTES[_norm_precision(self.kv_precision)]
        if self.mtp_tokens_per_step > 1.0:
            kw["mtp_verify_tokens"] = math.ceil(self.mtp_tokens_per_step - 1e-9)
        if self.gpus_per_replica and self.node_scope:
            kw.update(max_replica_gpus=int(self.gpus_per_replica), wide_ep=False, scaleout_ep_gpus=0)
        elif self.gpus_per_replica:
            kw["gpus_per_replica"] = int(self.gpus_per_replica)
        if self.serving == "disaggregated" and self.prefill_gpus:
            kw["prefill_gpus_per_replica"] = int(self.prefill_gpus)
        return replace(f, **kw)

    def replica_gpus(self, est: ThroughputEstimate | None = None) -> int:
        """GPUs bought per replica: the decode pool plus the prefill pool (disaggregated), or the
        whole replica (aggregated); from ``est`` where the deployment leaves a size open."""
        decode = self.gpus_per_replica or (est.gpus_per_replica if est else 1)
        if self.serving == "aggregated":
            return int(decode)
        prefill = self.prefill_gpus or (est.prefill_gpus_per_replica if est else 0)
        return int(decode + prefill)


def estimate_deployment(
    gpu: GpuSpec, llm: LlmSpec, deployment: Deployment, precision: str, tokens_per_s_per_user: float,
    input_len: int, output_len: int, cache_hit_share: float = 0.0, base: Factors | None = None,
) -> ThroughputEstimate:
    """:func:`~optimizer.throughput.estimator.estimate` at ``deployment``."""
    return estimate(gpu, llm, precision, tokens_per_s_per_user, input_len, output_len,
                    deployment.factors(cache_hit_share, base))


def _nodes(gpu: GpuSpec, n_gpus: int) -> int:
    return max(1, math.ceil(n_gpus / max(gpu.gpus_per_node, 1)))


def candidate_deployments(gpu: GpuSpec, llm: LlmSpec, precision: str) -> list[Deployment]:
    """The deployments the planner offers for a pair no card entry describes (module docstring)."""
    gpn = max(gpu.gpus_per_node, 1)
    n_min = min_replica_gpus(gpu, llm, precision)
    nodes = _nodes(gpu, n_min)
    out = [Deployment("node" if nodes == 1 else f"{nodes}-node", gpus_per_replica=nodes * gpn,
                      serving="aggregated", node_scope=True)]
    if not llm.is_moe:
        return out
    domain = max(gpu.scaleup_domain_gpus, 1)
    if domain >= RACK_SCALE_MIN_GPUS and domain >= n_min:
        decode = max(n_min, _nodes(gpu, 2 * domain // 3) * gpn)
        if domain - decode >= n_min:
            out.append(Deployment("rack", gpus_per_replica=decode, serving="disaggregated",
                                  prefill_gpus=domain - decode))
            return out
    decode = max(WIDE_EP_DECODE_NODES * gpn, n_min)
    out.append(Deployment("wide-ep", gpus_per_replica=decode, serving="disaggregated"))
    return out
