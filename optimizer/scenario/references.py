"""References in a scenario file, resolved and checked: catalog entries by id, series files,
demand shares, estimated throughput (:func:`resolve`), then the ids one entry names of another
(:func:`check_references`).

A scenario section may draw entries from a catalog by id and override any field inline::

    sites:
      include: [cn-nmg, us-ercot]                # or: include: all
      defaults: {lifetime_years: 20}             # applied to every included entry
      cn-nmg: {energy_price_usd_per_mwh: 30}     # rescales the hourly profile to a 30 USD/MWh mean

Catalog sites get hourly energy price, carbon intensity and PUE from
:mod:`optimizer.catalogs.profiles` for the scenario's hours; catalog markets get
``baseline_output_tokens_per_s`` and a local-time demand shape, used by ``demand_share: {llm:
fraction}``. A series given as ``{file: prices.csv, column: texas}`` is read from a CSV (first
column timestamps) or NetCDF file and aligned by timestamp. The catalogs themselves are
:mod:`optimizer.catalogs.catalog`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import ValidationError

from optimizer import throughput as tp
from optimizer.catalogs import policies
from optimizer.catalogs.catalog import (
    DATA,
    GPU_FIELDS,
    MARKET_FIELDS,
    SITE_FIELDS,
    SITE_SERIES,
    gpu_spec,
    gpus,
    llm_cards,
    markets,
    profiles,
    record,
    reference_price,
    sites,
)
from optimizer.errors import ScenarioError, did_you_mean
from optimizer.scenario.schema import (
    SERVICE_TIERS,
    Gpu,
    Llm,
    Scenario,
    Series,
    Throughput,
    TimeSpec,
    format_error,
)
from optimizer.technologies import TECHNOLOGIES

# --------------------------------------------------------------------------- catalog references


class _Resolver:
    def __init__(self, raw: dict[str, Any], base_dir: Path, file: str):
        self.raw, self.base_dir, self.file = raw, base_dir, file
        self.problems: list[str] = []
        try:
            self.time = TimeSpec.model_validate(raw.get("time") or {})
        except ValidationError as exc:
            raise ScenarioError([format_error({**e, "loc": ("time", *e["loc"])}, file) for e in exc.errors()]) from None
        self.index = self.time.index()

    # ---- helpers
    def problem(self, path: str, msg: str) -> None:
        self.problems.append(f"{self.file}: {path}: {msg}")

    def _profiles(self, path: str) -> xr.Dataset | None:
        years = set(self.index.year)
        if len(years) != 1:
            self.problem(path, f"catalog profiles cover one calendar year; the modelled hours span {sorted(years)}")
            return None
        ds = profiles(years.pop())
        idx = self.index
        if ((idx.month == 2) & (idx.day == 29)).any():
            self.problem(path, "catalog profiles have no 29 February (8760-hour years)")
            return None
        return ds.sel(time=idx)

    def series_from_file(self, path: str, ref: dict[str, Any]) -> list[float] | None:
        """A series from ``{file, column}`` (CSV: first column timestamps) or ``{file, variable,
        select}`` (NetCDF), aligned to the modelled hours by timestamp."""
        allowed = {"file", "column", "variable", "select"}
        if not isinstance(ref.get("file"), str) or set(ref) - allowed:
            self.problem(path, f"a series file reference takes keys {sorted(allowed)}, got {sorted(ref)}")
            return None
        p = Path(ref["file"])
        if not p.is_absolute():
            p = (self.base_dir / p).resolve()
            roots = [self.base_dir.resolve(), DATA.resolve()]
            if not any(p.is_relative_to(r) for r in roots):
                self.problem(path, f"file {ref['file']!r} is outside the scenario's folder and the project's data "
                                   "folder; give an absolute path to use it")
                return None
        if not p.exists():
            self.problem(path, f"file not found: {p}")
            return None
        try:
            if p.suffix in (".nc", ".nc4", ".netcdf"):
                ds = xr.open_dataset(p, engine="h5netcdf")
                name = ref.get("variable") or ref.get("column")
                if name not in ds:
                    self.problem(path, f"{p.name} has no variable {name!r}{did_you_mean(str(name), ds.data_vars)}")
                    return None
                da = ds[name].sel(ref.get("select") or {})
                s = da.to_series()
            else:
                df = pd.read_csv(p, index_col=0, parse_dates=[0])
                col = ref.get("column")
                if col not in df.columns:
                    self.problem(path, f"{p.name} has no column {col!r}{did_you_mean(str(col), df.columns)}")
                    return None
                s = df[col]
        except (ValueError, KeyError, OSError) as exc:
            self.problem(path, f"cannot read {p.name}: {exc}")
            return None
        s.index = pd.DatetimeIndex(s.index)
        if s.index.tz is not None:
            s.index = s.index.tz_convert("UTC").tz_localize(None)
        missing = self.index.difference(s.index)
        if len(missing):
            self.problem(path, f"{p.name} does not cover {len(missing)} of the {len(self.index)} modelled hours "
                               f"(first missing: {missing[0]:%Y-%m-%d %H:%M})")
            return None
        vals = s.loc[self.index].astype(float)
        if not np.isfinite(vals.values).all():
            self.problem(path, f"{p.name} has non-finite values in the modelled hours")
            return None
        return vals.tolist()

    def files_in(self, entry: dict[str, Any], path: str, keys: tuple[str, ...]) -> None:
        for k in keys:
            if isinstance(entry.get(k), dict):
                entry[k] = self.series_from_file(f"{path}.{k}", entry[k])

    # ---- sections
    def section(self, name: str, catalog: pd.DataFrame | dict[str, Any],
                from_catalog: Callable[[str], dict[str, Any]]) -> dict[str, Any] | None:
        val = self.raw.get(name)
        if not isinstance(val, dict):
            return val
        val = dict(val)
        include = val.pop("include", None)
        defaults = val.pop("defaults", None) or {}
        if not isinstance(defaults, dict):
            self.problem(f"{name}.defaults", f"must be a mapping of fields, got {defaults!r}")
            defaults = {}
        if include is None:
            if defaults:
                self.problem(f"{name}.defaults", "applies to catalog entries: add an include list")
            return val
        if include == "all":
            include = list(catalog.index if isinstance(catalog, pd.DataFrame) else catalog)
        if not isinstance(include, list) or not all(isinstance(i, str) for i in include):
            self.problem(f"{name}.include", f"must be a list of catalog ids or 'all', got {include!r}")
            return val
        ids = catalog.index if isinstance(catalog, pd.DataFrame) else list(catalog)
        out: dict[str, Any] = {}
        for cid in include:
            if cid not in ids:
                self.problem(f"{name}.include", f"unknown {name[:-1]} id {cid!r}{did_you_mean(cid, ids)}")
                continue
            entry = self.merge(name, cid, from_catalog(cid), defaults)
            override = val.pop(cid, None) or {}
            if not isinstance(override, dict):
                self.problem(f"{name}.{cid}", f"must be a mapping of fields to override, got {override!r}")
                override = {}
            out[cid] = (entry, override)
        merged: dict[str, Any] = {}
        for cid, (entry, override) in out.items():
            merged[cid] = self.merge(name, cid, entry, override)
        merged.update(val)  # fully inline entries
        return merged

    def merge(self, section: str, cid: str, entry: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
        entry = dict(entry)
        for k, v in override.items():
            if isinstance(v, dict) and isinstance(entry.get(k), dict) and "file" not in v:
                sub = dict(entry[k])
                for kk, vv in v.items():
                    sub[kk] = {**sub[kk], **vv} if isinstance(vv, dict) and isinstance(sub.get(kk), dict) else vv
                entry[k] = sub
            elif section == "sites" and k in SITE_SERIES and isinstance(v, int | float) and not isinstance(v, bool) \
                    and isinstance(entry.get(k), list):
                old = float(sites().loc[cid, k])
                entry[k] = _rescale(k, np.asarray(entry[k]), old, float(v)).round(6).tolist()
            else:
                entry[k] = v
        return entry

    def site(self, sid: str) -> dict[str, Any]:
        row = sites().loc[sid]
        d = record(row, SITE_FIELDS)
        d["state_funded"] = bool(row.get("state_funded", False))
        prof = self._profiles(f"sites.{sid}")
        if prof is not None:
            for k in SITE_SERIES:
                d[k] = prof[k].sel(site=sid).values.round(6).tolist()
        return d

    def gpu(self, gid: str) -> dict[str, Any]:
        row = gpus().loc[gid]
        d = record(row, GPU_FIELDS)
        for k in ("gpus_per_node", "scaleup_domain_gpus"):
            if k in d:
                d[k] = int(d[k])
        return d

    def llm(self, lid: str) -> dict[str, Any]:
        card = llm_cards()[lid]
        sv = card.get("serving", {})
        d: dict[str, Any] = {"name": card.get("name", lid), "card": lid}
        for k in ("input_per_output", "max_rtt_ms", "tokens_per_s_per_user", "precision", "cache_hit_share",
                  "mtp_tokens_per_step"):
            if sv.get(k) is not None:
                d[k] = sv[k]
        d["throughput"] = {g: [dict(x) for x in t] if isinstance(t, list) else dict(t)
                           for g, t in (card.get("throughput") or {}).items()}
        return d

    def capacity_factors(self, sid: str, site: dict[str, Any]) -> None:
        """Capacity factors of each on-site technology (``TECHNOLOGIES``) of a catalog site from the
        hourly profiles (unless given)."""
        for tech in TECHNOLOGIES:
            kind = tech.kind
            gen = site.get(kind)
            if not isinstance(gen, dict):
                continue
            if isinstance(gen.get("capacity_factor"), dict):
                gen["capacity_factor"] = self.series_from_file(f"sites.{sid}.{kind}.capacity_factor",
                                                               gen["capacity_factor"])
            elif gen.get("capacity_factor") is None and sid in sites().index:
                prof = self._profiles(f"sites.{sid}.{kind}")
                if prof is not None:
                    gen["capacity_factor"] = prof[tech.capacity_factor].sel(site=sid).values.round(6).tolist()

    def service_level(self, lid: str, llm: dict[str, Any], stated: set[str]) -> None:
        """Apply ``service_tier``; a card's rates stated for another per-user speed are dropped (the
        estimator refills them at the same deployments), throughput written in the scenario is kept."""
        tier = llm.get("service_tier")
        if tier is None:
            return
        if tier not in SERVICE_TIERS:
            return  # the schema reports it
        target = SERVICE_TIERS[tier]
        card = llm_cards().get(str(llm.get("card")), {})
        card_speed = (card.get("serving") or {}).get("tokens_per_s_per_user")
        explicit = (self.raw.get("llms") or {}).get(lid) if isinstance(self.raw.get("llms"), dict) else None
        if isinstance(explicit, dict) and "tokens_per_s_per_user" in explicit and explicit["tokens_per_s_per_user"] != target:
            self.problem(f"llms.{lid}", f"service_tier {tier!r} means {target:g} tokens/s per user, but "
                                        f"tokens_per_s_per_user is {explicit['tokens_per_s_per_user']!r}")
            return
        llm["tokens_per_s_per_user"] = target
        if card_speed != target and isinstance(llm.get("throughput"), dict):
            llm["throughput"] = {g: t if g in stated or not isinstance(_entries(t), list)
                                 else [_without_rates(x) for x in _entries(t)]
                                 for g, t in llm["throughput"].items()}

    def estimate_missing(self, lid: str, llm: dict[str, Any], gpus_: dict[str, Any]) -> None:
        """Estimate what the LLM's throughput leaves open, with :mod:`optimizer.throughput`: the rates of
        deployments stated without them, and for accelerators with no entry, the candidate deployments
        (:func:`optimizer.throughput.deployment.candidate_deployments`)."""
        card_id = llm.get("card")
        if not isinstance(llm.get("throughput", {}), dict):
            return
        throughput = {g: _entries(t) for g, t in (llm.get("throughput") or {}).items()}
        open_rates = [(g, x) for g, xs in throughput.items() if isinstance(xs, list) for x in xs
                      if isinstance(x, dict) and x.get("output_tokens_per_s") is None]
        if card_id is None:
            for g, x in open_rates:
                self.problem(f"llms.{lid}.throughput.{g}", f"deployment {x.get('name', 'default')!r} states no "
                                                           "rates and the LLM has no card to estimate them from")
            return
        if not isinstance(card_id, str) or card_id not in llm_cards():
            self.problem(f"llms.{lid}.card", f"unknown model card {card_id!r}{did_you_mean(str(card_id), llm_cards())}")
            return
        try:  # estimate only from values the schema accepts; otherwise the schema reports them
            checked = Llm.model_validate({**llm, "throughput": {}})
        except ValidationError:
            return
        if checked.tokens_per_s_per_user is None:
            return
        spec = tp.llm_spec_from_card(llm_cards()[card_id], card_id)
        precision = str(checked.precision or spec.card_precision or "bf16")
        out_len = checked.request_output_tokens
        in_len = max(1, round(checked.input_per_output * out_len))
        for gid, g in gpus_.items():
            if not isinstance(g, dict):
                continue
            try:
                Gpu.model_validate(g)
            except ValidationError:
                continue
            gspec = gpu_spec(gid, g)
            entries = throughput.get(gid)
            if entries is not None and not isinstance(entries, list):
                continue  # not a deployment or a list of them: the schema reports it
            if gspec is None:
                for x in entries or []:
                    if isinstance(x, dict) and x.get("output_tokens_per_s") is None:
                        self.problem(f"llms.{lid}.throughput.{gid}", f"deployment {x.get('name', 'default')!r} "
                                     f"states no rates and gpus.{gid} has no specs to estimate them from")
                continue
            if entries is None:
                entries = [_deployment_entry(d) for d in tp.candidate_deployments(gspec, spec, precision)]
            kept = []
            for x in entries:
                if not isinstance(x, dict) or x.get("output_tokens_per_s") is not None:
                    kept.append(x)
                    continue
                try:
                    dep = Throughput.model_validate(x)
                except ValidationError:
                    kept.append(x)  # the schema reports it
                    continue
                deployment = tp.Deployment.from_entry(dep.model_dump(), gspec.gpus_per_node,
                                                      checked.mtp_tokens_per_step)
                try:
                    est = tp.estimate_deployment(gspec, spec, deployment, precision, checked.tokens_per_s_per_user,
                                                 in_len, out_len, checked.cache_hit_share)
                except (ValueError, KeyError) as exc:
                    self.problem(f"llms.{lid}.throughput.{gid}", f"cannot estimate deployment {dep.name!r}: {exc}")
                    continue
                if not est.feasible or est.output_tokens_per_s_per_gpu <= 0:
                    continue  # this deployment cannot meet the service level
                filled = {**x, "output_tokens_per_s": round(est.output_tokens_per_s_per_gpu, 1),
                          "input_tokens_per_s": round(est.input_tokens_per_s_per_gpu, 1)}
                if dep.gpus_per_replica is None and dep.nodes_per_replica is None:
                    filled["gpus_per_replica"] = int(est.gpus_per_replica)
                if dep.serving == "disaggregated" and dep.prefill_gpus is None:
                    filled["prefill_gpus"] = int(est.prefill_gpus_per_replica)
                basis = f"{x['source']}; " if x.get("source") else ""
                filled["source"] = (
                    f"{basis}estimated: optimizer.throughput at this deployment ({est.deployment}), "
                    f"{checked.tokens_per_s_per_user:g} tokens/s/user, {precision}, {in_len} in / {out_len} out "
                    f"(calibration median error {tp.CALIBRATION_MEDIAN_ABS_REL_ERROR:.0%}, docs/throughput.md)")
                kept.append(filled)
            if kept:
                throughput[gid] = kept
            else:
                throughput.pop(gid, None)
        llm["throughput"] = throughput

    def prices(self, m: dict[str, Any], llms_: dict[str, Any]) -> None:
        """A market's list price of each LLM it demands that has a card and no stated price: the card's
        reference price (``data/api_prices.csv``)."""
        prices = m.get("price_usd_per_mtok")
        if prices is not None and not isinstance(prices, dict):
            return  # the schema reports it
        prices = dict(prices or {})
        demand = m.get("demand_output_tokens_per_s")
        for lid in (demand if isinstance(demand, dict) else {}):
            llm = llms_.get(lid)
            card = llm.get("card") if isinstance(llm, dict) else None
            if lid in prices or not isinstance(card, str):
                continue
            ref = reference_price(card)
            if ref is not None:
                prices[lid] = ref
        if prices:
            m["price_usd_per_mtok"] = prices

    def market(self, mid: str) -> dict[str, Any]:
        row = markets().loc[mid]
        d = record(row, MARKET_FIELDS)
        d["baseline_output_tokens_per_s"] = float(row["demand_output_tokens_per_s"])
        return d

    def demand(self, mid: str, m: dict[str, Any], llm_ids: set[str]) -> None:
        """``demand_share`` (fraction of the market baseline per LLM) into demand series."""
        share = m.pop("demand_share", None)
        baseline = m.pop("baseline_output_tokens_per_s", None)
        if share is None:
            return
        if not isinstance(share, dict):
            self.problem(f"markets.{mid}.demand_share", f"must map llm ids to fractions, got {share!r}")
            return
        if baseline is None:
            self.problem(f"markets.{mid}.demand_share", "needs baseline_output_tokens_per_s (catalog markets have it)")
            return
        if not isinstance(baseline, int | float) or isinstance(baseline, bool) or not np.isfinite(baseline) \
                or baseline < 0:
            self.problem(f"markets.{mid}.baseline_output_tokens_per_s", f"must be a number >= 0, got {baseline!r}")
            return
        shape = np.ones(len(self.index))
        if mid in markets().index and m.get("timezone") == markets().loc[mid, "timezone"]:
            prof = self._profiles(f"markets.{mid}")
            if prof is not None:
                shape = prof["demand_shape"].sel(market=mid).values
        demand = dict(m.get("demand_output_tokens_per_s") or {})
        for lid, frac in share.items():
            if not isinstance(frac, int | float) or isinstance(frac, bool) or not 0 <= frac <= 1e3:  # NaN fails too
                self.problem(f"markets.{mid}.demand_share.{lid}", f"must be a number >= 0, got {frac!r}")
                continue
            if lid not in llm_ids:
                self.problem(f"markets.{mid}.demand_share.{lid}", f"unknown llm id{did_you_mean(lid, llm_ids)}")
                continue
            demand.setdefault(lid, (float(baseline) * frac * shape).round(3).tolist())
        m["demand_output_tokens_per_s"] = demand

    def resolve(self) -> dict[str, Any]:
        out = dict(self.raw)
        sites_ = self.section("sites", sites(), self.site)
        gpus_ = self.section("gpus", gpus(), self.gpu)
        llms_ = self.section("llms", llm_cards(), self.llm)
        markets_ = self.section("markets", markets(), self.market)
        if isinstance(sites_, dict):
            for sid, s in sites_.items():
                if isinstance(s, dict):
                    self.files_in(s, f"sites.{sid}", (*SITE_SERIES, "export_price_usd_per_mwh"))
                    self.capacity_factors(sid, s)
            out["sites"] = sites_
        gpu_ids = set(gpus_) if isinstance(gpus_, dict) else set()
        if isinstance(gpus_, dict):
            out["gpus"] = gpus_
        if isinstance(llms_, dict):
            raw_llms = self.raw.get("llms") if isinstance(self.raw.get("llms"), dict) else {}
            for lid, llm in llms_.items():
                if isinstance(llm, dict):
                    stated = (raw_llms.get(lid) or {}).get("throughput") if isinstance(raw_llms.get(lid), dict) else None
                    self.service_level(lid, llm, set(stated) if isinstance(stated, dict) else set())
                    if isinstance(llm.get("throughput"), dict):
                        llm["throughput"] = {g: t for g, t in llm["throughput"].items() if g in gpu_ids}
                    if isinstance(gpus_, dict):
                        self.estimate_missing(lid, llm, gpus_)
            out["llms"] = llms_
        llm_ids = set(llms_) if isinstance(llms_, dict) else set()
        if isinstance(markets_, dict):
            for mid, m in markets_.items():
                if isinstance(m, dict):
                    self.demand(mid, m, llm_ids)
                    if isinstance(llms_, dict):
                        self.prices(m, llms_)
                    demand = m.get("demand_output_tokens_per_s")
                    if isinstance(demand, dict):
                        self.files_in(demand, f"markets.{mid}.demand_output_tokens_per_s", tuple(demand))
            out["markets"] = markets_
        if self.problems:
            raise ScenarioError(self.problems)
        return out



def _rescale(field: str, series: np.ndarray, old_mean: float, new_mean: float) -> np.ndarray:
    """A catalog profile moved from its annual mean ``old_mean`` to ``new_mean``, shape kept:
    PUE by its overhead above 1, the others by ratio."""
    if field == "pue":
        return 1.0 + (series - 1.0) * ((new_mean - 1.0) / (old_mean - 1.0)) if old_mean > 1 else np.full_like(series, new_mean)
    return series * (new_mean / old_mean) if old_mean != 0 else np.full_like(series, new_mean)


def resolve(raw: dict[str, Any], base_dir: Path, file: str) -> dict[str, Any]:
    """Expand catalog references, demand shares and series files into a plain scenario mapping."""
    return _Resolver(raw, base_dir, file).resolve()


# --------------------------------------------------------------------------- cross references


def check_references(sc: Scenario, file: str) -> list[str]:
    """Problems that need the whole scenario: unknown ids, series lengths. One message each."""
    problems: list[str] = []
    n = sc.time.steps

    def series(path: str, v: Series) -> None:
        if isinstance(v, list) and len(v) != n:
            problems.append(f"{file}: {path}: series has {len(v)} values, time.steps is {n}")

    for sid, site in sc.sites.items():
        for f in ("energy_price_usd_per_mwh", "carbon_kg_per_mwh", "pue"):
            series(f"sites.{sid}.{f}", getattr(site, f))
        if site.export_price_usd_per_mwh is not None:
            series(f"sites.{sid}.export_price_usd_per_mwh", site.export_price_usd_per_mwh)
        for kind in (t.kind for t in TECHNOLOGIES):
            gen = getattr(site, kind)
            if gen is not None:
                if gen.capacity_factor is None:
                    problems.append(f"{file}: sites.{sid}.{kind}.capacity_factor: required for a site outside the "
                                    "catalog (catalog sites take it from the hourly profiles)")
                else:
                    series(f"sites.{sid}.{kind}.capacity_factor", gen.capacity_factor)
    for gid, gpu in sc.gpus.items():
        if gpu.idle_power_kw_per_gpu > gpu.power_kw_per_gpu:
            problems.append(
                f"{file}: gpus.{gid}.idle_power_kw_per_gpu: must be <= power_kw_per_gpu "
                f"({gpu.power_kw_per_gpu}), got {gpu.idle_power_kw_per_gpu}"
            )
    for lid, llm in sc.llms.items():
        for gid in llm.throughput:
            if gid not in sc.gpus:
                problems.append(f"{file}: llms.{lid}.throughput.{gid}: unknown gpu id{did_you_mean(gid, sc.gpus)}")
    for mid, market in sc.markets.items():
        for lid, v in market.demand_output_tokens_per_s.items():
            if lid not in sc.llms:
                problems.append(
                    f"{file}: markets.{mid}.demand_output_tokens_per_s.{lid}: unknown llm id{did_you_mean(lid, sc.llms)}"
                )
            series(f"markets.{mid}.demand_output_tokens_per_s.{lid}", v)
    for sid, row in sc.latency_ms.items():
        if sid not in sc.sites:
            problems.append(f"{file}: latency_ms.{sid}: unknown site id{did_you_mean(sid, sc.sites)}")
        for mid in row:
            if mid not in sc.markets:
                problems.append(f"{file}: latency_ms.{sid}.{mid}: unknown market id{did_you_mean(mid, sc.markets)}")
    policy_ids = [sc.policy] if isinstance(sc.policy, str) else list(sc.policy or [])
    for pid in policy_ids:
        if pid not in policies.available():
            problems.append(f"{file}: policy: unknown rule set {pid!r}{did_you_mean(pid, policies.available())}; "
                            f"available: {', '.join(policies.available())}")
    for i, cap in enumerate(sc.supply_caps):
        for gid in cap.gpus:
            if gid not in sc.gpus:
                problems.append(f"{file}: supply_caps[{i}].gpus: unknown gpu id {gid!r}{did_you_mean(gid, sc.gpus)}")
    for section in ("sites", "gpus", "llms", "markets"):
        if not getattr(sc, section):
            problems.append(f"{file}: {section}: must list at least one entry")
    return problems


def _entries(t: Any) -> Any:
    """A gpu's throughput as a list of deployment entries (a single mapping is one deployment)."""
    return [dict(t)] if isinstance(t, dict) else [dict(x) if isinstance(x, dict) else x for x in t] \
        if isinstance(t, list) else t


def _without_rates(x: Any) -> Any:
    """A deployment entry with its stated rates (and their source) removed, to be estimated."""
    if not isinstance(x, dict):
        return x
    return {k: v for k, v in x.items() if k not in ("output_tokens_per_s", "input_tokens_per_s", "source")}


def _deployment_entry(d: tp.Deployment) -> dict[str, Any]:
    """A candidate deployment as a scenario throughput entry without rates."""
    out: dict[str, Any] = {"name": d.name, "serving": d.serving, "gpus_per_replica": d.gpus_per_replica}
    if d.prefill_gpus:
        out["prefill_gpus"] = d.prefill_gpus
    if d.node_scope:
        out["node_scope"] = True
    if d.mtp_tokens_per_step > 1:
        out["mtp_tokens_per_step"] = d.mtp_tokens_per_step
    return out
