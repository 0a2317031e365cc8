"""The bundled catalogs (``data/*.csv``, ``models/*.yaml``) as tables, with the hourly profiles
of their sites and markets, throughput estimates for their ids and the estimator's calibration.

Scenario files draw entries from these tables by id (``include:``); that resolution is
:mod:`optimizer.scenario.references`. This module knows nothing of scenario files.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from optimizer import throughput as tp
from optimizer.catalogs import policies
from optimizer.errors import ScenarioError, did_you_mean
from optimizer.resources import data_dir, models_dir

DATA = data_dir()
"""The bundled ``data/`` folder (inside the installed package, or the checkout's; optimizer.resources)."""
MODELS = models_dir()
"""The bundled ``models/`` folder."""

SITE_FIELDS = ("country", "grid_limit_mw", "energy_price_usd_per_mwh", "carbon_kg_per_mwh", "pue",
               "build_cost_usd", "build_cost_usd_per_mw", "lifetime_years", "lat", "lon", "state_funded", "name")
GPU_FIELDS = ("gpus_per_node", "capex_usd_per_gpu", "lifetime_years", "power_kw_per_gpu", "idle_power_kw_per_gpu",
              "made_in", "bf16_tflops", "fp8_tflops", "fp4_tflops", "hbm_gb", "hbm_tb_s", "scaleup_domain_gpus", "name",
              "available_from")
MARKET_FIELDS = ("country", "lat", "lon", "timezone", "name")
SITE_SERIES = ("energy_price_usd_per_mwh", "carbon_kg_per_mwh", "pue")


# --------------------------------------------------------------------------- tables


@functools.cache
def _csv(name: str) -> pd.DataFrame:
    df = pd.read_csv(DATA / name, index_col="id", keep_default_na=False, na_values=[""])
    return df


def sites() -> pd.DataFrame:
    """Candidate sites (``data/sites.csv``), indexed by id."""
    return _csv("sites.csv")


def gpus() -> pd.DataFrame:
    """Accelerators (``data/gpus.csv``), indexed by id."""
    return _csv("gpus.csv")


def markets() -> pd.DataFrame:
    """Demand markets (``data/markets.csv``), indexed by id."""
    return _csv("markets.csv")


def latency_overrides() -> pd.DataFrame:
    """Cross-border minimum RTTs (``data/latency_overrides.csv``)."""
    return pd.read_csv(DATA / "latency_overrides.csv")


@functools.cache
def llm_cards() -> dict[str, dict[str, Any]]:
    """LLM workload cards (``models/*.yaml``) by id."""
    return {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(MODELS.glob("*.yaml"))}


@functools.cache
def api_prices() -> pd.DataFrame:
    """API list prices per LLM and provider (``data/api_prices.csv``), USD per million tokens."""
    return pd.read_csv(DATA / "api_prices.csv")


def reference_price(card: str) -> dict[str, Any] | None:
    """The reference list price of an LLM card (the ``reference`` row of ``data/api_prices.csv``) as a
    scenario price entry (``input``, ``output``, ``cached_input`` when published, ``source``), or None."""
    df = api_prices()
    rows = df[(df["llm"] == card) & df["reference"].astype(str).str.lower().eq("true")]
    if rows.empty:
        return None
    r = rows.iloc[0]
    out = {"input": float(r["input_usd_per_mtok"]), "output": float(r["output_usd_per_mtok"])}
    if pd.notna(r["cached_input_usd_per_mtok"]):
        out["cached_input"] = float(r["cached_input_usd_per_mtok"])
    out["source"] = f"data/api_prices.csv: {r['provider']}, {r['date']} ({r['source']})"
    return out


def _source_text(source: Any) -> str:
    """A card's source entry as one line: text as is, ``{title, url, date}`` joined by commas."""
    if isinstance(source, dict):
        return ", ".join(str(source[k]) for k in ("title", "url", "date") if source.get(k))
    return str(source)


def llms() -> pd.DataFrame:
    """LLM cards as a table (architecture and serving fields flattened), indexed by id. Each
    sourced field is followed by ``<field>_source`` from the card's ``sources:`` map, as in the
    CSV catalogs; ``architecture_source`` covers the architecture fields and ``throughput_source``
    the card's throughput table (each entry of which carries its own ``source`` in the card)."""
    rows = []
    for lid, card in llm_cards().items():
        sources = dict(card.get("sources") or {})
        row = {"name": card.get("name", lid)}
        row.update(card.get("architecture", {}))
        if "architecture" in sources:
            row["architecture_source"] = _source_text(sources.pop("architecture"))
        for k, v in (card.get("serving") or {}).items():
            row[k] = v
            if k in sources:
                row[f"{k}_source"] = _source_text(sources.pop(k))
        row["throughput_gpus"] = " ".join(card.get("throughput", {}))
        row.update({f"{k}_source": _source_text(v) for k, v in sources.items()})  # throughput, others
        rows.append(pd.Series(row, name=lid))
    df = pd.DataFrame(rows)
    df.index.name = "id"
    return df


def policy_table() -> pd.DataFrame:
    """Bundled chip-policy rule sets, one row each."""
    rows = []
    for pid in policies.available():
        rs = policies.load(pid)
        rows.append({"id": pid, "name": rs.name, "effective": rs.effective, "rules": len(rs.rules),
                     "quantity_caps": len(rs.quantity_caps)})
    return pd.DataFrame(rows).set_index("id")


def table(kind: str) -> pd.DataFrame:
    """The catalog ``kind`` (sites, gpus, llms, markets, policies) as a DataFrame."""
    return {"sites": sites, "gpus": gpus, "llms": llms, "markets": markets, "policies": policy_table}[kind]()


@functools.cache
def profiles(year: int) -> xr.Dataset:
    """Hourly profiles of every catalog site and market for ``year`` (cached on disk)."""
    # imported here, not above: pvlib (~0.15 s) loads only when a run needs catalog profiles
    from optimizer.catalogs.profiles import load_profiles

    return load_profiles(sites(), markets(), year)


def _estimator_specs(gpu: str, llm: str) -> tuple[tp.GpuSpec, tp.LlmSpec]:
    if gpu not in gpus().index:
        raise ScenarioError(f"--gpu: unknown accelerator id {gpu!r}{did_you_mean(gpu, gpus().index)}")
    if llm not in llm_cards():
        raise ScenarioError(f"--llm: unknown LLM id {llm!r}{did_you_mean(llm, llm_cards())}")
    return gpu_spec(gpu, {k: _plain(v) for k, v in gpus().loc[gpu].items()}), tp.llm_spec_from_card(llm_cards()[llm], llm)


def card_cache_hit_share(llm: str) -> float:
    """The card's prefix-cache hit share (``serving.cache_hit_share``; 0 when it states none)."""
    return float((llm_cards()[llm].get("serving") or {}).get("cache_hit_share") or 0.0)


def card_mtp(llm: str) -> float:
    """The card's multi-token prediction default (``serving.mtp_tokens_per_step``; 1 = off)."""
    return float((llm_cards()[llm].get("serving") or {}).get("mtp_tokens_per_step") or 1.0)


def estimate_throughput(
    gpu: str, llm: str, precision: str | None = None, tokens_per_s_per_user: float = 20.0,
    input_len: int = 4096, output_len: int = 1024, deployment: tp.Deployment | dict[str, Any] | None = None,
    cache_hit_share: float | None = None,
) -> Any:
    """Throughput estimate (:class:`optimizer.throughput.ThroughputEstimate`) for catalog ids: at
    ``deployment`` (a :class:`~optimizer.throughput.Deployment`, or its fields, where a missing or None
    ``mtp_tokens_per_step`` means the card's), or the estimator's best deployment (named in the
    estimate) when None. ``cache_hit_share`` None: the card's."""
    gspec, spec = _estimator_specs(gpu, llm)
    hit = card_cache_hit_share(llm) if cache_hit_share is None else cache_hit_share
    if not isinstance(deployment, tp.Deployment):
        deployment = tp.Deployment.from_entry(deployment or {}, gspec.gpus_per_node, card_mtp(llm))
    return tp.estimate_deployment(gspec, spec, deployment, precision or spec.card_precision or "bf16",
                                  tokens_per_s_per_user, input_len, output_len, hit)


def deployment_estimates(
    gpu: str, llm: str, precision: str | None = None, tokens_per_s_per_user: float = 20.0,
    input_len: int = 4096, output_len: int = 1024, cache_hit_share: float | None = None,
) -> list[tuple[tp.Deployment, Any]]:
    """Every candidate deployment of ``llm`` on ``gpu`` with its estimate: the card's deployments,
    the planner's candidates (``node``, ``rack`` / ``wide-ep``) and every replica size of the
    estimator's ladder, aggregated and disaggregated (``agg-N`` / ``disagg-N``)."""
    gspec, spec = _estimator_specs(gpu, llm)
    p = precision or spec.card_precision or "bf16"
    hit = card_cache_hit_share(llm) if cache_hit_share is None else cache_hit_share
    mtp = card_mtp(llm)
    deps = [tp.Deployment.from_entry(x, gspec.gpus_per_node, mtp) for x in _card_deployments(llm, gpu)]
    names = {d.name for d in deps}
    deps += [replace(d, mtp_tokens_per_step=mtp) for d in tp.candidate_deployments(gspec, spec, p) if d.name not in names]
    n = tp.min_replica_gpus(gspec, spec, p)
    top = max(gspec.scaleup_domain_gpus, tp.WIDE_EP_DECODE_NODES * gspec.gpus_per_node if spec.is_moe else 0, n)
    while n <= top:
        deps += [tp.Deployment(f"agg-{n}", n, "aggregated", mtp_tokens_per_step=mtp),
                 tp.Deployment(f"disagg-{n}", n, "disaggregated", mtp_tokens_per_step=mtp)]
        n *= 2
    return [(d, tp.estimate_deployment(gspec, spec, d, p, tokens_per_s_per_user, input_len, output_len, hit))
            for d in deps]


def _card_deployments(llm: str, gpu: str) -> list[dict[str, Any]]:
    t = (llm_cards()[llm].get("throughput") or {}).get(gpu)
    return [t] if isinstance(t, dict) else list(t or [])


def calibration() -> pd.DataFrame:
    """Refit the estimator on ``data/benchmarks.csv``: per-row estimate, measurement, errors."""
    return tp.calibrate(tp.load_benchmarks(DATA / "benchmarks.csv"), tp.load_gpu_specs(DATA / "gpus.csv"),
                        tp.load_llm_specs(MODELS))


# --------------------------------------------------------------------------- rows


def _plain(v: Any) -> Any:
    """numpy/pandas scalars to plain Python; NaN to None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def record(row: pd.Series, fields: Iterable[str]) -> dict[str, Any]:
    """The ``fields`` of one catalog row that have a value, as plain Python (the start of a scenario
    entry drawn from the catalog)."""
    return {k: _plain(row[k]) for k in fields if k in row.index and _plain(row[k]) is not None}


def gpu_spec(gid: str, g: dict[str, Any]) -> tp.GpuSpec | None:
    """The estimator's view of an accelerator given as a mapping of its fields (a catalog row, a
    scenario entry), or None when its specs are not given."""
    # weights-on-chip accelerators (LPUs: sram_mb in the row, or the bundled catalog's by id) have no HBM
    on_chip = isinstance(g.get("sram_mb"), int | float) or gid.lower() in tp.hardware.ON_CHIP
    need = ("bf16_tflops", "power_kw_per_gpu") if on_chip else ("bf16_tflops", "hbm_gb", "hbm_tb_s", "power_kw_per_gpu")
    if any(not isinstance(g.get(k), int | float) for k in need):
        return None
    vendor = str(g.get("vendor") or g.get("name") or "").split(" ")[0]
    return tp.GpuSpec(
        id=gid, bf16_tflops=float(g["bf16_tflops"]), fp8_tflops=g.get("fp8_tflops"), fp4_tflops=g.get("fp4_tflops"),
        hbm_gb=float(g.get("hbm_gb") or 0.0), hbm_tb_s=float(g.get("hbm_tb_s") or 0.0),
        power_kw_per_gpu=float(g["power_kw_per_gpu"]),
        idle_power_kw_per_gpu=float(g.get("idle_power_kw_per_gpu") or 0.0),
        gpus_per_node=int(g.get("gpus_per_node") or 8), scaleup_domain_gpus=int(g.get("scaleup_domain_gpus") or 8),
        vendor=vendor,
        # links, ranks and family: the catalog row's columns; a scenario entry has none, so the
        # spec takes them from the bundled gpus.csv by id
        scaleup_gb_s=_num_or_none(g.get("scaleup_gb_s")), scaleout_gb_s=_num_or_none(g.get("scaleout_gb_s")),
        ranks_per_package=int(g["ranks_per_package"]) if isinstance(g.get("ranks_per_package"), int | float) else None,
        family=g["family"] if isinstance(g.get("family"), str) else None,
        # on-chip SRAM and availability: the row's columns, else the bundled gpus.csv by id
        sram_mb=_num_or_none(g.get("sram_mb")), sram_tb_s=_num_or_none(g.get("sram_tb_s")),
        layer_latency_us=_num_or_none(g.get("layer_latency_us")),
        available_from=g["available_from"] if isinstance(g.get("available_from"), str) else None,
    )


def _num_or_none(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None

