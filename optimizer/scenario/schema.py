"""The scenario format: pydantic models of a validated :class:`Scenario`, YAML read safely, and
the messages that report what is wrong with a file.

Every problem in a file is collected and reported together, one line each, naming the file, the
field path and the offending value (``tiny.yaml: sites.texas.grid_limit_mw: must be >= 0, got -5``).
This module is the bottom of the scenario layer: it imports nothing of the package but its errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from optimizer.errors import ScenarioError, did_you_mean
from optimizer.technologies import TECHNOLOGIES

NonNeg = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
Series = float | list[float]
"""A scalar (constant over time) or one value per modelled hour (``time.steps`` values)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


MAX_STEPS = 8784
"""Most modelled hours in one scenario (a leap year)."""


def _is_timestamp(v: Any) -> bool:
    try:
        return not pd.isna(pd.Timestamp(v))
    except (ValueError, TypeError, OverflowError):
        return False


def _iso(v: Any) -> Any:
    """YAML reads 2025-07-01 as a date: accept it as text."""
    return v.isoformat() if isinstance(v, dt.date | dt.datetime) else v


class TimeSpec(_Strict):
    """Modelled hours: ``steps`` hours from ``start``, or whole UTC days (``days`` from ``start``,
    or a list of ``dates``)."""

    steps: int = Field(24, ge=1, le=MAX_STEPS, description="number of modelled hours")
    weight: Positive | None = Field(
        None, description="hours of the year each modelled hour stands for (default 8760 / steps)"
    )
    start: str = Field("2025-01-01T00:00", description="UTC timestamp (or date) of the first modelled hour")
    days: int | None = Field(None, ge=1, le=MAX_STEPS // 24, description="whole days from start (sets steps = 24 x days)")
    dates: list[str] | None = Field(None, min_length=1, max_length=MAX_STEPS // 24,
                                    description="whole UTC days to model (sets steps)")
    year: int | None = Field(None, ge=1900, le=2200,
                             description="model every day of this year (365 days; 29 February is left out)")
    resolution: str = Field("1h", description="time step; only 1h is supported")
    representative_days: int | None = Field(
        None, ge=1, le=365, description="aggregate the modelled days into this many typical days (tsam)")
    day_weights: list[Positive] | None = Field(
        None, description="days of the year each modelled day stands for (set by representative_days)")

    @model_validator(mode="before")
    @classmethod
    def _fill_steps(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "start" in data:
            data["start"] = _iso(data["start"])
        if isinstance(data.get("dates"), list):
            data["dates"] = [_iso(d) for d in data["dates"]]
        year = data.get("year")
        if isinstance(year, int) and not isinstance(year, bool) and 1900 <= year <= 2200:
            if data.get("dates") is not None or data.get("days") is not None:
                raise ValueError("give year, or days (with start), or dates, not more than one")
            days = pd.date_range(f"{year}-01-01", f"{year}-12-31", freq="D")
            data["dates"] = [d.strftime("%Y-%m-%d") for d in days if not (d.month == 2 and d.day == 29)]
        implied = None
        if isinstance(data.get("days"), int) and not isinstance(data.get("days"), bool):
            implied, what = 24 * data["days"], f"time.days ({data['days']})"
        if isinstance(data.get("dates"), list):
            if data.get("days") is not None:
                raise ValueError("give either days (with start) or dates, not both")
            implied, what = 24 * len(data["dates"]), f"{len(data['dates'])} time.dates"
        if implied is not None:
            if "steps" in data and data["steps"] != implied:
                raise ValueError(f"steps ({data['steps']}) disagrees with {what} = {implied} hours")
            data["steps"] = implied
        return data

    @field_validator("start")
    @classmethod
    def _start_is_timestamp(cls, v: str) -> str:
        if not _is_timestamp(v):
            raise ValueError(f"not a date or timestamp, got {v!r}")
        return v

    @field_validator("dates")
    @classmethod
    def _dates_are_days(cls, v: list[str] | None) -> list[str] | None:
        for i, d in enumerate(v or []):
            if not _is_timestamp(d):
                raise ValueError(f"item {i} is not a date, got {d!r}")
        return v

    @field_validator("resolution")
    @classmethod
    def _hourly(cls, v: str) -> str:
        if v not in ("1h", "h", "60min"):
            raise ValueError(f"only hourly steps (1h) are supported, got {v!r}")
        return v

    @model_validator(mode="after")
    def _day_weights_fit(self) -> TimeSpec:
        if self.day_weights is not None:
            if self.steps % 24:
                raise ValueError("day_weights need whole days (steps a multiple of 24)")
            if len(self.day_weights) != self.steps // 24:
                raise ValueError(f"day_weights has {len(self.day_weights)} values for {self.steps // 24} modelled days")
            if self.weight is not None:
                raise ValueError("give weight or day_weights, not both")
        return self

    @property
    def weight_h(self) -> float:
        """Mean hours of the year one modelled hour stands for."""
        return float(self.weights_h().mean())

    def weights_h(self) -> np.ndarray:
        """Hours of the year each modelled hour stands for (one value per step)."""
        if self.day_weights is not None:
            return np.repeat(np.asarray(self.day_weights, float), 24)
        return np.full(self.steps, self.weight if self.weight is not None else 8760.0 / self.steps)

    @property
    def contiguous(self) -> bool:
        """Hours follow each other (storage is cyclic over the period, else per day); the 29 February
        that ``time: {year}`` leaves out does not count as a gap."""
        idx = self.index()
        step = np.diff(idx.values)
        before = idx[:-1]
        leap_skip = (before.month == 2) & (before.day == 28) & (before.hour == 23) & (step == np.timedelta64(25, "h"))
        return bool(((step == np.timedelta64(1, "h")) | leap_skip).all())

    def day_of_step(self) -> np.ndarray:
        """Day number (0, 1, ...) of each modelled hour: its calendar day's rank in date order."""
        days = self.index().normalize()
        _, inverse = np.unique(days.values, return_inverse=True)
        return inverse

    def index(self) -> pd.DatetimeIndex:
        """UTC timestamps (tz-naive) of the modelled hours."""
        if self.dates:
            days = [pd.date_range(pd.Timestamp(d).normalize(), periods=24, freq="h") for d in self.dates]
            return pd.DatetimeIndex(pd.concat([d.to_series() for d in days]).values, name="time")
        start = pd.Timestamp(self.start)
        start = start.tz_convert("UTC").tz_localize(None) if start.tzinfo else start
        return pd.date_range(start, periods=self.steps, freq="h", name="time")


class Finance(_Strict):
    discount_rate: float = Field(0.08, ge=0, le=1, description="real discount rate, fraction per year")


class Generator(_Strict):
    """On-site solar PV or wind: capacity in MW is a continuous investment decision."""

    capex_usd_per_mw: NonNeg = Field(description="installed cost, USD per MW (AC)")
    lifetime_years: Positive = Field(25.0, description="life for annualising, years")
    fixed_om_usd_per_mw_year: NonNeg = Field(0.0, description="fixed O&M, USD per MW-year")
    max_mw: NonNeg | None = Field(None, description="most capacity the site allows, MW (None = no limit)")
    capacity_factor: Series | None = Field(
        None, description="output per MW installed, 0..1 (catalog sites: from optimizer.profiles)")

    @field_validator("capacity_factor")
    @classmethod
    def _unit_interval(cls, v: Series | None) -> Series | None:
        if v is not None:
            _check_series(v, lambda x: 0 <= x <= 1, "must be within 0..1")
        return v


class Battery(_Strict):
    """On-site battery: energy (MWh) and power (MW) are continuous investment decisions."""

    capex_usd_per_mwh: NonNeg = Field(description="energy-related installed cost, USD per MWh")
    capex_usd_per_mw: NonNeg = Field(0.0, description="power-related installed cost, USD per MW")
    lifetime_years: Positive = Field(15.0, description="life for annualising, years")
    round_trip_efficiency: float = Field(0.88, gt=0, le=1, description="energy out / energy in")
    max_mwh: NonNeg | None = Field(None, description="most energy capacity, MWh (None = no limit)")


class Site(_Strict):
    """A candidate data-center site in one grid region."""

    country: str = Field(min_length=2, description="ISO 3166-1 alpha-2 country code")
    grid_limit_mw: NonNeg = Field(description="most the facility may draw from the grid, MW")
    energy_price_usd_per_mwh: Series = Field(description="grid energy price, USD/MWh")
    carbon_kg_per_mwh: Series = Field(0.0, description="grid carbon intensity, kg CO2/MWh")
    pue: Series = Field(1.3, description="power usage effectiveness, facility / IT power")
    build_cost_usd: NonNeg = Field(0.0, description="one-off cost of opening the site, USD")
    build_cost_usd_per_mw: NonNeg = Field(0.0, description="facility cost per MW of IT capacity, USD/MW")
    lifetime_years: Positive = Field(15.0, description="facility life for annualising, years")
    lat: float | None = Field(None, ge=-90, le=90, description="latitude, degrees (for derived latency)")
    lon: float | None = Field(None, ge=-180, le=180, description="longitude, degrees (for derived latency)")
    state_funded: bool = Field(False, description="state-funded site (China's 2025-11 domestic-chip rule)")
    solar: Generator | None = Field(None, description="on-site solar PV option")
    wind: Generator | None = Field(None, description="on-site wind option")
    battery: Battery | None = Field(None, description="on-site battery option")
    export_price_usd_per_mwh: Series | None = Field(
        None, description="price paid for on-site generation sent to the grid, directly or through the battery; "
        "grid power is never sold back (docs/math.md, export_onsite); may exceed the energy price (None = no export)")
    name: str | None = None

    @property
    def has_onsite(self) -> bool:
        """The site may build on-site supply or storage."""
        return self.battery is not None or any(getattr(self, t.kind) is not None for t in TECHNOLOGIES)

    @field_validator("carbon_kg_per_mwh")
    @classmethod
    def _carbon_nonneg(cls, v: Series) -> Series:
        _check_series(v, lambda x: x >= 0, "must be >= 0")
        return v

    @field_validator("pue")
    @classmethod
    def _pue_ge_one(cls, v: Series) -> Series:
        _check_series(v, lambda x: x >= 1, "must be >= 1")
        return v


class Gpu(_Strict):
    """An accelerator type, bought as nodes of ``gpus_per_node``."""

    gpus_per_node: int = Field(ge=1, description="accelerators per server node")
    capex_usd_per_gpu: NonNeg = Field(description="all-in IT capex per accelerator, USD")
    lifetime_years: Positive = Field(5.0, description="depreciation life, years")
    power_kw_per_gpu: Positive = Field(description="all-in IT draw at full load, kW per GPU")
    idle_power_kw_per_gpu: NonNeg = Field(0.0, description="all-in IT draw when idle, kW per GPU")
    available_in: list[str] | None = Field(None, description="countries it may be installed in; None = everywhere")
    made_in: str | None = Field(None, description="country of the vendor (for '*foreign' policy rules)")
    available_from: str | None = Field(
        None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="first month it can be installed, YYYY-MM (not before the scenario's first modelled month)")
    bf16_tflops: Positive | None = Field(None, description="dense BF16 TFLOPS")
    fp8_tflops: Positive | None = Field(None, description="dense FP8 TFLOPS (None = no native FP8)")
    fp4_tflops: Positive | None = Field(None, description="dense FP4 TFLOPS (None = no native FP4)")
    hbm_gb: Positive | None = Field(None, description="HBM capacity, GB")
    hbm_tb_s: Positive | None = Field(None, description="HBM bandwidth, TB/s")
    scaleup_domain_gpus: int | None = Field(None, ge=1, description="GPUs in one scale-up (NVLink-class) domain")
    name: str | None = None


class Throughput(_Strict):
    """One deployment of an LLM on an accelerator and its per-GPU rates at the LLM's service level.

    Rates omitted are estimated at this deployment (:mod:`optimizer.throughput`). Disaggregated:
    ``output_tokens_per_s`` per decode GPU, ``input_tokens_per_s`` per prefill GPU; aggregated: the
    output rate of a GPU that also prefills. Input rates are compute rates: per input token that is
    not a prefix-cache hit (``llms.<id>.cache_hit_share``)."""

    name: str = Field("default", min_length=1, description="deployment name, e.g. node, rack, wide-ep")
    output_tokens_per_s: Positive | None = Field(None, description="output tokens/s per decode GPU")
    input_tokens_per_s: Positive | None = Field(
        None, description="prefill compute rate, uncached input tokens/s per prefill GPU")
    serving: Literal["aggregated", "disaggregated"] = Field(
        "disaggregated", description="aggregated: prefill and decode on the same GPUs; disaggregated: "
                                     "separate prefill and decode pools")
    gpus_per_replica: int | None = Field(
        None, ge=1, description="GPUs of the decode pool (disaggregated) or of the whole replica (aggregated)")
    nodes_per_replica: int | None = Field(
        None, ge=1, description="the same in nodes (gpus_per_replica = nodes x gpus_per_node); default 1 node")
    prefill_gpus: int | None = Field(
        None, ge=0, description="GPUs of the prefill pool per replica (disaggregated; default: the "
                                "estimator's best prefill pool, 0 when rates are stated)")
    layout: Literal["best", "tp", "dp-ep"] = Field("best", description="decode layout (estimator)")
    mtp_tokens_per_step: float | None = Field(
        None, ge=1.0, description="tokens per decode step with multi-token prediction (default: the LLM's)")
    kv_precision: str | None = Field(None, description="KV-cache precision (default: the card's)")
    node_scope: bool = Field(False, description="aggregated: the estimator may split the replica's GPUs into "
                                                "smaller replicas (best layout within them)")
    source: str | None = Field(None, description="measured: / derived: / estimated: and where from")

    @model_validator(mode="after")
    def _one_size(self) -> Throughput:
        if self.gpus_per_replica is not None and self.nodes_per_replica is not None:
            raise ValueError("give gpus_per_replica or nodes_per_replica, not both")
        if (self.output_tokens_per_s is None) != (self.input_tokens_per_s is None):
            raise ValueError("give both output_tokens_per_s and input_tokens_per_s, or neither (estimated)")
        return self

    def replica_gpus(self, gpus_per_node: int) -> int:
        """GPUs bought per replica: decode pool (or the whole replica) plus the prefill pool."""
        decode = self.gpus_per_replica or (self.nodes_per_replica or 1) * gpus_per_node
        return int(decode + ((self.prefill_gpus or 0) if self.serving == "disaggregated" else 0))


def _deployment_list(v: Any) -> Any:
    """A gpu's throughput given as one mapping (one deployment) or a list of them."""
    if isinstance(v, Mapping):
        return [v]
    if not isinstance(v, list):
        raise ValueError(f"must be a deployment (a mapping of its fields) or a list of deployments, got {v!r}")
    return v


Deployments = Annotated[list[Throughput], BeforeValidator(_deployment_list)]
"""One deployment (a mapping) or a list of them, read as a list."""


SERVICE_TIERS = {"batch": 5.0, "chat": 20.0, "fast": 100.0}
"""Output tokens/s per user of the named service tiers."""


class Llm(_Strict):
    """An LLM workload."""

    input_per_output: NonNeg = Field(description="input tokens per output token")
    max_rtt_ms: Positive | None = Field(None, description="network round-trip limit site↔market, ms")
    throughput: dict[str, Deployments] = Field(
        default_factory=dict, description="by gpu id: one deployment (a mapping) or a list of deployments, "
                                          "each with a distinct name")
    cache_hit_share: float = Field(0.0, ge=0, lt=1, description="share of input tokens served from the "
                                                                 "prefix cache (no prefill compute)")
    mtp_tokens_per_step: float = Field(1.0, ge=1.0, description="tokens per decode step with multi-token "
                                                                "prediction of deployments that state none")
    tokens_per_s_per_user: Positive | None = Field(None, description="service level: output tokens/s per user")
    service_tier: str | None = Field(
        None, description=f"named service level ({', '.join(f'{k} = {v:g}' for k, v in SERVICE_TIERS.items())} "
                          "tokens/s per user); sets tokens_per_s_per_user")
    card: str | None = Field(None, description="model card (models/<id>.yaml) whose architecture the "
                                               "throughput estimator uses for pairs without a stated throughput")
    precision: str | None = Field(None, description="serving precision of the weights (bf16, fp8, fp4, int8)")
    request_output_tokens: int = Field(1000, ge=1, description="output tokens per request (estimator)")
    deferrable_share: float = Field(0.0, ge=0, le=1, description="share of each day's demand that may be "
                                                                  "served at any hour of the same day (batch)")
    name: str | None = None

    @field_validator("throughput")
    @classmethod
    def _distinct_names(cls, v: dict[str, list[Throughput]]) -> dict[str, list[Throughput]]:
        for g, ds in v.items():
            names = [d.name for d in ds]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{g}: deployment names must be distinct, {dup[0]!r} repeats")
        return v

    @field_validator("service_tier")
    @classmethod
    def _known_tier(cls, v: str | None) -> str | None:
        if v is not None and v not in SERVICE_TIERS:
            raise ValueError(f"must be one of {', '.join(SERVICE_TIERS)}, got {v!r}")
        return v


class Price(_Strict):
    """List prices of one LLM in one market, USD per million tokens."""

    input: NonNeg = Field(description="input tokens that miss the prefix cache, USD/Mtok")
    output: NonNeg = Field(description="output tokens, USD/Mtok")
    cached_input: NonNeg | None = Field(None, description="input tokens served from the prefix cache, USD/Mtok "
                                                          "(None: the input price)")
    source: str | None = Field(None, description="where the prices come from")


class Market(_Strict):
    """A demand region."""

    country: str = Field(min_length=2, description="ISO 3166-1 alpha-2 country code")
    demand_output_tokens_per_s: dict[str, Series] = Field(
        default_factory=dict, description="mean output tokens/s by llm id, scalar or series"
    )
    served_from: list[str] | None = Field(None, description="countries allowed to serve it; None = any")
    unserved_penalty_usd_per_mtok: NonNeg | None = Field(
        None, description="penalty per million unserved tokens (overrides the scenario's)"
    )
    lat: float | None = Field(None, ge=-90, le=90, description="latitude, degrees")
    lon: float | None = Field(None, ge=-180, le=180, description="longitude, degrees")
    timezone: str | None = Field(None, description="IANA time zone")
    price_usd_per_mtok: dict[str, Price] = Field(
        default_factory=dict, description="list prices by llm id (an LLM with a card and no price here takes the "
                                          "card's reference price of data/api_prices.csv)")
    name: str | None = None

    @field_validator("demand_output_tokens_per_s")
    @classmethod
    def _demand_nonneg(cls, v: dict[str, Series]) -> dict[str, Series]:
        for series in v.values():
            _check_series(series, lambda x: x >= 0, "must be >= 0")
        return v


class Carbon(_Strict):
    """Carbon price, caps and hourly matching (location-based emissions of grid imports)."""

    price_usd_per_t: NonNeg = Field(0.0, description="carbon price in the objective, USD per tonne CO2")
    cap_t_per_year: NonNeg | None = Field(None, description="annual cap on emissions of all sites, t CO2")
    cap_t_per_year_by_country: dict[str, NonNeg] = Field(default_factory=dict,
                                                         description="annual caps by site country, t CO2")
    hourly_matching: float = Field(0.0, ge=0, le=1, description="share of each hour's facility load covered by "
                                                                "on-site carbon-free supply (solar, wind, battery)")


class SupplyCap(_Strict):
    """At most ``max_gpus`` accelerators of the listed types at all sites of one country."""

    gpus: list[str] = Field(min_length=1)
    country: str = Field(min_length=2)
    max_gpus: int = Field(ge=0)
    source: str | None = None


DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "normal": ("mean", "sd"),
    "lognormal": ("median", "sigma"),
}
"""The distributions of an ``uncertainty:`` entry and their parameters (normal and lognormal also
take ``low`` and ``high`` as optional truncation bounds)."""

_DIST_PARAMS = ("low", "high", "mode", "mean", "sd", "median", "sigma")


class Distribution(_Strict):
    """An uncertain input of ``tokenomics sweep --samples``: a distribution and where it comes from.

    uniform {low, high}; triangular {low, mode, high}; normal {mean, sd, optional low/high truncation};
    lognormal {median, sigma of the log, optional low/high truncation}. The nominal value (the
    one-at-a-time base case) is the midpoint, mode, mean or median."""

    distribution: str = Field(description=f"one of {', '.join(DISTRIBUTIONS)}")
    low: float | None = Field(None, description="lower bound (uniform, triangular) or truncation (normal, lognormal)")
    high: float | None = Field(None, description="upper bound (uniform, triangular) or truncation (normal, lognormal)")
    mode: float | None = Field(None, description="triangular: most likely value")
    mean: float | None = Field(None, description="normal: mean (before truncation)")
    sd: float | None = Field(None, description="normal: standard deviation (before truncation)")
    median: float | None = Field(None, description="lognormal: median")
    sigma: float | None = Field(None, description="lognormal: standard deviation of the log")
    source: str = Field(min_length=1, description="where the range comes from, or 'assumed: ...' / 'derived: ...'")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for k in data:
                if k not in cls.model_fields:
                    hint = did_you_mean(str(k), cls.model_fields, cutoff=0.6)
                    raise ValueError(f"unknown key {k!r}{hint}; allowed: {', '.join(cls.model_fields)}")
        return data

    @field_validator("distribution")
    @classmethod
    def _known_distribution(cls, v: str) -> str:
        if v not in DISTRIBUTIONS:
            raise ValueError(f"must be one of {', '.join(DISTRIBUTIONS)}, got {v!r}"
                             f"{did_you_mean(v, DISTRIBUTIONS)}")
        return v

    @field_validator("source")
    @classmethod
    def _source_text(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("source must say where the range comes from (or 'assumed: ...')")
        return v

    @model_validator(mode="after")
    def _parameters(self) -> Distribution:
        d = self.distribution
        need = DISTRIBUTIONS[d]
        optional = ("low", "high") if d in ("normal", "lognormal") else ()
        for p in _DIST_PARAMS:
            given = getattr(self, p) is not None
            if p in need and not given:
                raise ValueError(f"a {d} distribution needs {', '.join(need)}: {p} is missing")
            if given and p not in need and p not in optional:
                takes = ", ".join(need) + (" (and optional low, high)" if optional else "")
                raise ValueError(f"{p} is not a parameter of a {d} distribution (it takes {takes})")
        lo, hi = self.low, self.high
        if lo is not None and hi is not None and not lo < hi:
            raise ValueError(f"low must be < high, got low {lo:g} and high {hi:g}")
        if self.sd is not None and self.sd <= 0:
            raise ValueError(f"sd must be > 0, got {self.sd:g}")
        if self.sigma is not None and self.sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {self.sigma:g}")
        if self.median is not None and self.median <= 0:
            raise ValueError(f"median must be > 0 (lognormal values are positive), got {self.median:g}")
        if d == "lognormal" and lo is not None and lo <= 0:
            raise ValueError(f"low must be > 0 (lognormal values are positive; leave it out for no lower bound), "
                             f"got {lo:g}")
        centre = {"triangular": "mode", "normal": "mean", "lognormal": "median"}.get(d)
        if centre is not None:
            c = getattr(self, centre)
            if (lo is not None and c < lo) or (hi is not None and c > hi):
                raise ValueError(f"{centre} must be within low..high, got {c:g} outside "
                                 f"{'-inf' if lo is None else f'{lo:g}'}..{'inf' if hi is None else f'{hi:g}'}")
        return self

    @property
    def nominal(self) -> float:
        """The value of the one-at-a-time base case: midpoint, mode, mean or median."""
        if self.distribution == "uniform":
            return (float(self.low) + float(self.high)) / 2  # type: ignore[arg-type]
        return float({"triangular": self.mode, "normal": self.mean, "lognormal": self.median}[self.distribution])


def _pattern_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


class ScaleGroup(Distribution):
    """A factor drawn once per case and multiplied into every value its ``applies_to`` patterns match
    (:func:`optimizer.scenario.scales.apply_scales`), e.g. every throughput of an accelerator family."""

    applies_to: Annotated[list[str], BeforeValidator(_pattern_list)] = Field(
        min_length=1, description="dot paths with * wildcards into the resolved scenario, "
                                  "e.g. sites.*.energy_price_usd_per_mwh or llms.*.throughput.gb200")

    @field_validator("applies_to")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for p in v:
            if not p or any(not part for part in p.split(".")):
                raise ValueError(f"{p!r} is not a dot path (e.g. sites.*.energy_price_usd_per_mwh)")
        return v

    @model_validator(mode="after")
    def _positive(self) -> ScaleGroup:
        d = self.distribution
        if d in ("uniform", "triangular") and self.low is not None and self.low <= 0:
            raise ValueError(f"low must be > 0 (scale factors are > 0), got {self.low:g}")
        if d == "normal" and (self.low is None or self.low <= 0):
            raise ValueError("a normal scale factor needs a truncation low > 0 (scale factors are > 0)")
        return self


class Uncertainty(BaseModel):
    """The ``uncertainty:`` block: distributions of dot-keys (as ``--set`` takes them) and of
    ``scale:`` factors applied to groups of values, sampled by ``tokenomics sweep --samples``."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, frozen=True)
    __pydantic_extra__: dict[str, Distribution] = Field(init=False)  # type: ignore[assignment]

    scale: dict[str, ScaleGroup] = Field(
        default_factory=dict, description="scale factors by group name, each with applies_to patterns")

    @model_validator(mode="before")
    @classmethod
    def _dot_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        keys = [k for k in data if k != "scale"]
        for k in keys:
            if not isinstance(k, str) or any(not part for part in k.split(".")):
                raise ValueError(f"{k!r} is not a dot-key (e.g. sites.us-ercot.energy_price_usd_per_mwh)")
            if "*" in k:
                raise ValueError(f"{k}: wildcards belong in scale: groups (applies_to), not in dot-keys")
            if k.startswith("scale."):
                raise ValueError(f"{k}: scale groups go under scale: (scale: {{{k[6:]}: ...}})")
        for k1 in keys:
            for k2 in keys:
                if k2.startswith(k1 + "."):
                    raise ValueError(f"{k1} and {k2} overlap (one contains the other)")
        groups = data.get("scale")
        if isinstance(groups, dict):
            for g in groups:
                if not isinstance(g, str) or not g or "." in g:
                    raise ValueError(f"scale: group name {g!r} must be non-empty text without dots")
        return data

    @property
    def keys(self) -> dict[str, Distribution]:
        """The dot-keys and their distributions."""
        return dict(self.__pydantic_extra__ or {})

    @property
    def variables(self) -> dict[str, Distribution]:
        """Every uncertain variable by its sweep name: the dot-keys and ``scale.<group>``, sorted."""
        out: dict[str, Distribution] = {**self.keys, **{f"scale.{g}": d for g, d in self.scale.items()}}
        return dict(sorted(out.items()))


class Scenario(_Strict):
    """A complete planning problem, validated. Build inputs with :func:`optimizer.inputs.build_inputs`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    name: str = Field(min_length=1)
    description: str | None = None
    time: TimeSpec = Field(default_factory=TimeSpec)
    finance: Finance = Field(default_factory=Finance)
    sites: dict[str, Site]
    gpus: dict[str, Gpu]
    llms: dict[str, Llm]
    markets: dict[str, Market]
    latency_ms: dict[str, dict[str, NonNeg]] = Field(
        default_factory=dict, description="round-trip ms by site then market; unlisted pairs have no route"
    )
    unserved_penalty_usd_per_mtok: NonNeg | None = Field(
        None, description="penalty per million unserved tokens; None = all demand must be served"
    )
    policy: str | list[str] | None = Field(None, description="chip-policy rule set id(s) in data/policies")
    supply_caps: list[SupplyCap] = Field(default_factory=list, description="accelerator supply limits by country")
    carbon: Carbon = Field(default_factory=Carbon, description="carbon price, caps, hourly matching")
    uncertainty: Uncertainty | None = Field(
        None, description="distributions of uncertain inputs, sampled by tokenomics sweep --samples")
    source_file: str | None = Field(None, exclude=True, description="where it was read from")

    def to_yaml(self) -> str:
        """The validated scenario as a YAML string (for results attrs)."""
        return yaml.safe_dump(self.model_dump(mode="json", exclude={"source_file"}), sort_keys=False)


def _check_series(v: Series, ok: Any, message: str) -> None:
    values = v if isinstance(v, list) else [v]
    for i, x in enumerate(values):
        if not ok(x):
            where = f"[{i}]" if isinstance(v, list) else ""
            raise ValueError(f"{message}{where and ' (item ' + where[1:-1] + ')'}, got {x!r}")


# --------------------------------------------------------------------------- error reporting


def _loc_to_path(loc: Iterable[Any]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p in ("float", "list[float]", "function-after[_check_series]"):
            continue
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts)


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Known keys of the schema object at ``loc`` (for close-match hints)."""
    model: Any = Scenario
    for p in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(str(p))
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        elif args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
            model = args[-1]  # dict[str, Model]: skip the id
            continue
        else:
            return []
    return list(model.model_fields) if isinstance(model, type) else []


def format_error(err: Mapping[str, Any], file: str) -> str:
    """One pydantic error as a line of the file's report: ``file: field.path: what is wrong, got value``."""
    loc = tuple(err["loc"])
    path = _loc_to_path(loc)
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        known = _fields_at(_strip_ids(loc[:-1]))
        hint = did_you_mean(key, known, cutoff=0.6)
        allowed = f"; allowed: {', '.join(known)}" if known and not hint else ""
        return f"{file}: {path}: unknown key{hint}{allowed}"
    if kind == "missing":
        return f"{file}: {path}: required field is missing"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()))
        return f"{file}: {path}: must be {op} {bound:g}, got {value!r}"
    if kind == "finite_number":
        return f"{file}: {path}: must be a finite number, got {value!r}"
    if kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        return f"{file}: {path}: {msg}"
    if kind in ("float_type", "float_parsing", "int_type", "int_parsing", "int_from_float"):
        what = "a whole number" if kind.startswith("int") else "a number"
        return f"{file}: {path}: must be {what}, got {value!r}"
    if kind in ("dict_type", "model_type"):
        return f"{file}: {path}: must be a mapping of keys to values, got {value!r}"
    if kind == "list_type":
        return f"{file}: {path}: must be a list, got {value!r}"
    if kind == "string_type" and isinstance(value, bool):
        return (f"{file}: {path}: must be text, got {value!r} (YAML reads NO, YES, ON, OFF as booleans: "
                f"quote the value, e.g. \"NO\")")
    return f"{file}: {path}: {err['msg']}, got {value!r}"


def _strip_ids(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop user ids from a location so it names schema fields only."""
    out: list[Any] = []
    model: Any = Scenario
    skip_next = False
    for p in loc:
        if skip_next:
            skip_next = False
            continue
        out.append(p)
        if isinstance(model, type) and issubclass(model, BaseModel) and str(p) in model.model_fields:
            ann = model.model_fields[str(p)].annotation
            args = getattr(ann, "__args__", ())
            if getattr(ann, "__origin__", None) is dict and args and isinstance(args[-1], type):
                model, skip_next = args[-1], True
            elif isinstance(ann, type):
                model = ann
    return tuple(out)


def _dedupe_union_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A ``Series`` (float | list) reports one error per union branch; keep the most useful."""
    by_path: dict[str, list[dict[str, Any]]] = {}
    for e in errors:
        by_path.setdefault(_loc_to_path(e["loc"]), []).append(e)
    kept: list[dict[str, Any]] = []
    for group in by_path.values():
        if len(group) > 1:
            specific = [e for e in group if e["type"] not in ("list_type", "float_type", "float_parsing")]
            group = specific[:1] or [group[0]]
        kept.extend(group)
    return kept


def validation_messages(exc: ValidationError, file: str) -> list[str]:
    """Every problem of a failed :meth:`Scenario.model_validate`, one line each (:func:`format_error`)."""
    return [format_error(e, file) for e in _dedupe_union_errors(exc.errors())]  # type: ignore[arg-type]


# --------------------------------------------------------------------------- reading


def read_yaml(path: Path) -> Any:
    """Read YAML with the safe loader; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read file: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{path.name}:{where}: malformed YAML: {problem}") from None


def json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario format."""
    schema = Scenario.model_json_schema()
    schema["properties"].pop("source_file", None)
    return schema
