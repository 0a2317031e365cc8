"""Deterministic hourly regional profiles (prices, carbon, weather, PUE, renewables, demand).

Everything here is *synthetic but documented*: each hourly profile is derived from an
annual-mean catalog value (``data/sites.csv``), the site's latitude/longitude, or the
market's time zone, with fixed shape parameters and fixed random seeds. No network access
is needed. The formulas, parameters and their basis are documented in ``docs/profiles.md``.

Public API
----------
build_profiles(sites, markets, year)      -> xr.Dataset (always 8760 hourly UTC steps)
load_profiles(sites, markets, year, ...)  -> same, cached as NetCDF in the user cache folder
                                             ($TOKENOMICS_CACHE_DIR, else ~/.cache/tokenomics)
"""

from __future__ import annotations

import hashlib
import logging
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import xarray as xr
from scipy.signal import lfilter
from scipy.special import ndtr

from optimizer.resources import atomic_write
from optimizer.resources import cache_dir as default_cache_dir

logger = logging.getLogger(__name__)

#: Bump whenever a formula or parameter below changes; it is part of the cache key.
PROFILE_VERSION = "1"

HOURS_PER_YEAR = 8760
DAYS_PER_YEAR = 365

SITE_COLUMNS = (
    "country",
    "lat",
    "lon",
    "energy_price_usd_per_mwh",
    "carbon_kg_per_mwh",
    "pue",
)
#: Optional site column overriding the default wind capacity-factor target.
OPTIONAL_SITE_COLUMNS = ("wind_cf_mean",)
MARKET_COLUMNS = ("lat", "lon", "timezone")
SITE_VARIABLES = ("energy_price_usd_per_mwh", "carbon_kg_per_mwh", "temperature_c", "pue", "solar_cf", "wind_cf")
"""The (site, time) variables of the profile Dataset."""

# --------------------------------------------------------------------------------------
# Shape parameters (all assumed; see docs/profiles.md for their basis)
# --------------------------------------------------------------------------------------

#: Relative wholesale-price weight of each hour of *local apparent solar time*
#: (index h = hour [h, h+1)); evening peak ~19:00, night trough ~04:00. Normalised to
#: mean 1 at import time.
PRICE_HOURLY_WEIGHTS = np.array(
    [
        0.92, 0.87, 0.84, 0.82, 0.81, 0.84, 0.92, 1.02, 1.06, 1.05, 1.02, 1.00,
        0.98, 0.97, 0.98, 1.00, 1.05, 1.13, 1.20, 1.22, 1.17, 1.08, 1.00, 0.95,
    ]
)  # fmt: skip
PRICE_HOURLY_WEIGHTS = PRICE_HOURLY_WEIGHTS / PRICE_HOURLY_WEIGHTS.mean()

#: Winter-only (heating) seasonal price amplitude: 0 below 20 deg |lat|, 0.10 above 50.
PRICE_HEATING_AMP = 0.10
#: Semi-annual (winter + summer cooling) seasonal price amplitude, max value.
PRICE_BIMODAL_AMP = 0.05
#: Day of year (0-based) of the seasonal price peak in the northern hemisphere (~15 Jan).
PRICE_WINTER_PEAK_DOY = 14.0
#: Midday price dip depth per unit of mean clear-sky solar CF, and its cap.
PRICE_DIP_PER_CF = 1.2
PRICE_DIP_MAX = 0.40
#: Relative price change per unit of wind-CF anomaly (more wind -> cheaper).
PRICE_WIND_COUPLING = 0.25

#: Carbon midday dip depth per unit of mean clear-sky solar CF, and its cap.
CARBON_DIP_PER_CF = 1.0
CARBON_DIP_MAX = 0.35
#: Fraction of the price daily shape that carbon intensity follows (evening peakers).
CARBON_PRICE_SHAPE_COUPLING = 0.3
#: Relative carbon change per unit of wind-CF anomaly.
CARBON_WIND_COUPLING = 0.25

#: Temperature model: annual mean T = T0 - slope * max(|lat| - lat0, 0)  [deg C].
TEMP_MEAN_EQUATOR_C = 27.0
TEMP_MEAN_LAT0_DEG = 12.0
TEMP_MEAN_SLOPE_C_PER_DEG = 0.45
#: Seasonal half-amplitude A = a0 + a1 * max(|lat| - 10, 0), capped  [deg C].
TEMP_SEASON_AMP_BASE_C = 1.0
TEMP_SEASON_AMP_SLOPE_C_PER_DEG = 0.25
TEMP_SEASON_AMP_MAX_C = 14.0
#: Day of year (0-based) of the coldest day in the northern hemisphere (~20 Jan).
TEMP_COLDEST_DOY_NORTH = 19.0
#: Diurnal half-amplitude [deg C] and hour of the daily maximum (local apparent solar time).
TEMP_DIURNAL_AMP_C = 4.0
TEMP_DIURNAL_PEAK_HOUR = 15.0
#: Synoptic (weather-system) daily anomaly: std-dev [deg C] and day-to-day AR(1) coefficient.
TEMP_SYNOPTIC_STD_C = 2.5
TEMP_SYNOPTIC_AR1 = 0.7

#: PUE free-cooling model: flat below the threshold, + slope per deg C above it.
PUE_THRESHOLD_C = 18.0
PUE_SLOPE_PER_C = 0.01
PUE_MIN = 1.0

#: PV model: performance ratio (DC+AC losses, soiling, temperature) and STC irradiance.
PV_PERFORMANCE_RATIO = 0.86
PV_STC_IRRADIANCE_W_M2 = 1000.0
PV_ALBEDO = 0.25
#: Mean daily cloud factor (fraction of clear-sky POA energy) vs |lat| (piecewise linear).
CLOUD_LAT_NODES_DEG = np.array([0.0, 10.0, 25.0, 35.0, 50.0, 65.0, 90.0])
CLOUD_MEAN_FACTOR = np.array([0.65, 0.70, 0.85, 0.80, 0.65, 0.60, 0.60])
#: Beta-distribution concentration of the daily cloud factor (lower = more variable).
CLOUD_BETA_CONCENTRATION = 6.0
CLOUD_FACTOR_MIN = 0.1

#: Wind model: generic turbine power curve [m/s] and default annual-mean CF target.
WIND_CUT_IN_MS = 3.0
WIND_RATED_MS = 12.0
WIND_CUT_OUT_MS = 25.0
WIND_CF_TARGET = 0.30
WIND_WEIBULL_K = 2.0
#: Hourly AR(1) coefficient of the standard-normal driver (decorrelation ~ 1.4 days).
WIND_AR1 = 0.97
#: Seasonal (winter-high) and diurnal (night-high at hub height) relative amplitudes.
WIND_SEASONAL_AMP = 0.15
WIND_DIURNAL_AMP = 0.06
WIND_DIURNAL_PEAK_HOUR = 1.0

#: Relative demand weight of each *local clock* hour [h, h+1) in the market's time zone.
#: Assumed diurnal curve of interactive internet/inference traffic: trough ~04:00,
#: broad peak 14:00-21:00 (~2.8x trough). Normalised to mean 1 at import time.
DEMAND_HOURLY_WEIGHTS = np.array(
    [
        0.85, 0.70, 0.58, 0.50, 0.47, 0.50, 0.60, 0.75, 0.92, 1.05, 1.13, 1.18,
        1.20, 1.22, 1.26, 1.27, 1.27, 1.26, 1.25, 1.27, 1.30, 1.28, 1.18, 1.02,
    ]
)  # fmt: skip
DEMAND_HOURLY_WEIGHTS = DEMAND_HOURLY_WEIGHTS / DEMAND_HOURLY_WEIGHTS.mean()
#: Multiplier applied on local Saturdays and Sundays (before renormalising to mean 1).
DEMAND_WEEKEND_FACTOR = 0.92



# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _year_index(year: int) -> pd.DatetimeIndex:
    """Hour-beginning UTC timestamps of ``year`` without 29 February (always 8760).

    Returns a tz-aware (UTC) DatetimeIndex.
    """
    idx = pd.date_range(
        start=pd.Timestamp(year=year, month=1, day=1, tz="UTC"),
        end=pd.Timestamp(year=year + 1, month=1, day=1, tz="UTC"),
        freq="h",
        inclusive="left",
    )
    idx = idx[~((idx.month == 2) & (idx.day == 29))]
    assert len(idx) == HOURS_PER_YEAR
    return idx


def _stable_seed(*parts: object) -> int:
    """Deterministic 32-bit seed from ``parts`` (zlib.crc32; never Python's ``hash``)."""
    return zlib.crc32(":".join(str(p) for p in parts).encode("utf-8"))


def _periodic_interp(hours: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Linear periodic interpolation of 24 hourly weights.

    ``weights[h]`` is the value of hour [h, h+1), placed at its centre h + 0.5;
    ``hours`` is a fractional hour of day in [0, 24).
    """
    nodes = np.arange(-0.5, 25.0, 1.0)  # centres of hours -1 .. 24
    vals = np.concatenate([weights[-1:], weights, weights[:1]])
    return np.interp(np.mod(hours, 24.0), nodes, vals)


def _solar_hour(times: pd.DatetimeIndex, lon: float) -> np.ndarray:
    """Local apparent solar time [h, 0-24) at the *middle* of each hour.

    Mean solar time (UTC + lon/15 h) plus the equation of time (Spencer 1971).
    """
    mid = times + pd.Timedelta(minutes=30)
    utc_hours = mid.hour.to_numpy() + mid.minute.to_numpy() / 60.0
    eot_min = pvlib.solarposition.equation_of_time_spencer71(mid.day_of_year.to_numpy())
    return np.mod(utc_hours + lon / 15.0 + eot_min / 60.0, 24.0)


def _doy_fraction() -> np.ndarray:
    """Fractional day of year [0, 365) at the middle of each of the 8760 hours."""
    return (np.arange(HOURS_PER_YEAR) + 0.5) / 24.0


def _validate(sites: pd.DataFrame, markets: pd.DataFrame, year: int) -> None:
    missing = [c for c in SITE_COLUMNS if c not in sites.columns]
    if missing:
        raise ValueError(f"sites is missing columns {missing}")
    missing = [c for c in MARKET_COLUMNS if c not in markets.columns]
    if missing:
        raise ValueError(f"markets is missing columns {missing}")
    if len(sites) == 0 or len(markets) == 0:
        raise ValueError("sites and markets must each have at least one row")
    for name, df in (("sites", sites), ("markets", markets)):
        if df.index.has_duplicates:
            dup = df.index[df.index.duplicated()].unique().tolist()
            raise ValueError(f"{name} index has duplicate ids: {dup}")
    for col in ("energy_price_usd_per_mwh", "carbon_kg_per_mwh"):
        bad = sites.index[~(sites[col].astype(float) > 0)].tolist()
        if bad:
            raise ValueError(f"sites.{col} must be > 0 (bad sites: {bad})")
    bad = sites.index[~np.isfinite(sites["pue"].astype(float))].tolist()
    if bad:
        raise ValueError(f"sites.pue must be finite (bad sites: {bad})")
    for df_name, df in (("sites", sites), ("markets", markets)):
        lat = df["lat"].astype(float)
        lon = df["lon"].astype(float)
        bad = df.index[~((lat.abs() <= 90) & (lon.abs() <= 180))].tolist()
        if bad:
            raise ValueError(f"{df_name} lat/lon out of range for {bad}")
    if not 1900 <= int(year) <= 2200:
        raise ValueError(f"year {year} out of supported range 1900-2200")


# --------------------------------------------------------------------------------------
# Per-variable models (one site at a time, vectorised over time)
# --------------------------------------------------------------------------------------


def _solar_cf(
    site_id: str, lat: float, lon: float, times: pd.DatetimeIndex, year: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-tilt PV capacity factor.

    Returns
    -------
    (cf, cf_clear) : tuple of ndarray
        Hourly capacity factor [-] with clouds, and its clear-sky counterpart [-].
    """
    loc = pvlib.location.Location(latitude=lat, longitude=lon, tz="UTC")
    mid = times + pd.Timedelta(minutes=30)  # hour-average approximated at the mid-point
    with warnings.catch_warnings():
        # pvlib (0.16) still calls pandas accessors deprecated in pandas 3 (dayofyear).
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pvlib(\.|$)")
        solpos = loc.get_solarposition(mid)
        clear = loc.get_clearsky(mid, model="ineichen", solar_position=solpos)
    tilt = abs(lat)
    azimuth = 180.0 if lat >= 0 else 0.0  # equator-facing
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=tilt,
        surface_azimuth=azimuth,
        solar_zenith=solpos["apparent_zenith"],
        solar_azimuth=solpos["azimuth"],
        dni=clear["dni"],
        ghi=clear["ghi"],
        dhi=clear["dhi"],
        albedo=PV_ALBEDO,
        model="isotropic",
    )["poa_global"]
    poa = np.nan_to_num(poa.to_numpy(dtype=float), nan=0.0)
    cf_clear = np.clip(poa * PV_PERFORMANCE_RATIO / PV_STC_IRRADIANCE_W_M2, 0.0, 1.0)

    # Deterministic daily cloud factor, switching at local solar midnight.
    mean_factor = float(np.interp(abs(lat), CLOUD_LAT_NODES_DEG, CLOUD_MEAN_FACTOR))
    rng = np.random.default_rng(_stable_seed("cloud", site_id, year))
    a = mean_factor * CLOUD_BETA_CONCENTRATION
    b = (1.0 - mean_factor) * CLOUD_BETA_CONCENTRATION
    daily = np.maximum(rng.beta(a, b, size=DAYS_PER_YEAR + 2), CLOUD_FACTOR_MIN)
    local_hours = np.arange(HOURS_PER_YEAR) + 0.5 + lon / 15.0
    day_idx = np.floor(local_hours / 24.0).astype(int) + 1  # in [0, 366]
    cf = np.clip(cf_clear * daily[day_idx], 0.0, 1.0)
    return cf, cf_clear


def _power_curve(speed: np.ndarray) -> np.ndarray:
    """Generic turbine power curve, cubic between cut-in and rated [-]."""
    ci, r, co = WIND_CUT_IN_MS, WIND_RATED_MS, WIND_CUT_OUT_MS
    out = np.where(speed < ci, 0.0, np.where(speed < r, (speed**3 - ci**3) / (r**3 - ci**3), 1.0))
    return np.where(speed >= co, 0.0, out)


def _wind_cf(site_id: str, lat: float, lon: float, year: int, target: float) -> np.ndarray:
    """Synthetic wind capacity factor [-] with annual mean ``target`` (to ~1e-6)."""
    rng = np.random.default_rng(_stable_seed("wind", site_id, year))
    eps = rng.standard_normal(HOURS_PER_YEAR + 1000)
    # z[i] = AR1 * z[i-1] + sqrt(1 - AR1^2) * eps[i]; 1000 h burn-in -> z ~ N(0, 1).
    z = lfilter([np.sqrt(1.0 - WIND_AR1**2)], [1.0, -WIND_AR1], eps)[1000:]
    u = np.clip(ndtr(z), 1e-12, 1.0 - 1e-12)
    weibull_unit = (-np.log1p(-u)) ** (1.0 / WIND_WEIBULL_K)  # Weibull(k, scale=1)

    doy = _doy_fraction()
    winter_doy = PRICE_WINTER_PEAK_DOY if lat >= 0 else PRICE_WINTER_PEAK_DOY + 182.5
    seasonal = 1.0 + WIND_SEASONAL_AMP * np.cos(2 * np.pi * (doy - winter_doy) / 365.0)
    solar_h = np.mod(np.arange(HOURS_PER_YEAR) % 24 + 0.5 + lon / 15.0, 24.0)
    diurnal = 1.0 + WIND_DIURNAL_AMP * np.cos(2 * np.pi * (solar_h - WIND_DIURNAL_PEAK_HOUR) / 24.0)
    shape = weibull_unit * seasonal * diurnal

    # Bisection on the Weibull scale so that mean(power_curve) == target.
    lo, hi = 0.5, 13.0
    if not 0.0 < target < float(_power_curve(shape * hi).mean()):
        raise ValueError(f"wind CF target {target} for site {site_id} is not reachable")
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _power_curve(shape * mid).mean() < target:
            lo = mid
        else:
            hi = mid
    return np.clip(_power_curve(shape * 0.5 * (lo + hi)), 0.0, 1.0)


def _temperature(site_id: str, lat: float, solar_h: np.ndarray, year: int) -> np.ndarray:
    """Synthetic ambient dry-bulb temperature [deg C]."""
    alat = abs(lat)
    t_mean = TEMP_MEAN_EQUATOR_C - TEMP_MEAN_SLOPE_C_PER_DEG * max(alat - TEMP_MEAN_LAT0_DEG, 0.0)
    amp = min(
        TEMP_SEASON_AMP_BASE_C + TEMP_SEASON_AMP_SLOPE_C_PER_DEG * max(alat - 10.0, 0.0),
        TEMP_SEASON_AMP_MAX_C,
    )
    cold_doy = TEMP_COLDEST_DOY_NORTH if lat >= 0 else TEMP_COLDEST_DOY_NORTH + 182.5
    doy = _doy_fraction()
    seasonal = -amp * np.cos(2 * np.pi * (doy - cold_doy) / 365.0)
    diurnal = TEMP_DIURNAL_AMP_C * np.cos(2 * np.pi * (solar_h - TEMP_DIURNAL_PEAK_HOUR) / 24.0)

    # Synoptic anomaly: daily AR(1), zero-mean, linearly interpolated between day centres.
    rng = np.random.default_rng(_stable_seed("temperature", site_id, year))
    n_days = DAYS_PER_YEAR + 2
    eps = rng.standard_normal(n_days)
    a = np.empty(n_days)
    a[0] = eps[0]
    for i in range(1, n_days):
        a[i] = TEMP_SYNOPTIC_AR1 * a[i - 1] + np.sqrt(1 - TEMP_SYNOPTIC_AR1**2) * eps[i]
    a = (a - a.mean()) * TEMP_SYNOPTIC_STD_C
    day_centres = np.arange(-1, DAYS_PER_YEAR + 1) + 0.5
    synoptic = np.interp(doy, day_centres, a)
    return t_mean + seasonal + diurnal + synoptic


def _pue(site_id: str, pue_mean: float, temp_c: np.ndarray) -> np.ndarray:
    """Hourly PUE [-] with annual mean exactly ``pue_mean`` where feasible."""
    excess = np.maximum(temp_c - PUE_THRESHOLD_C, 0.0)
    mean_excess = float(excess.mean())
    slope = PUE_SLOPE_PER_C
    design = pue_mean - slope * mean_excess
    if design < PUE_MIN:
        if pue_mean >= PUE_MIN and mean_excess > 0:
            slope = (pue_mean - PUE_MIN) / mean_excess
            design = PUE_MIN
            logger.warning(
                "site %s: catalog PUE %.3f too low for slope %.3f/degC above %.0f degC; "
                "using flat PUE %.2f and reduced slope %.4f/degC to keep the mean",
                site_id, pue_mean, PUE_SLOPE_PER_C, PUE_THRESHOLD_C, PUE_MIN, slope,
            )  # fmt: skip
        else:
            logger.warning(
                "site %s: catalog PUE %.3f < %.1f is infeasible; clipping to %.1f "
                "(annual mean will differ from the catalog)",
                site_id, pue_mean, PUE_MIN, PUE_MIN,
            )  # fmt: skip
            return np.full_like(temp_c, PUE_MIN)
    return np.maximum(design + slope * excess, PUE_MIN)


def _demand_shape(timezone: str, times: pd.DatetimeIndex) -> np.ndarray:
    """Dimensionless demand multiplier [-] with mean exactly 1 for one market."""
    try:
        local = times.tz_convert(timezone)
    except Exception as exc:  # unknown IANA name (pytz/zoneinfo raise different types)
        raise ValueError(f"unknown timezone {timezone!r}") from exc
    local_hour = local.hour.to_numpy() + local.minute.to_numpy() / 60.0 + 0.5
    shape = _periodic_interp(local_hour, DEMAND_HOURLY_WEIGHTS)
    weekend = local.day_of_week.to_numpy() >= 5
    shape = np.where(weekend, shape * DEMAND_WEEKEND_FACTOR, shape)
    return shape / shape.mean()


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def build_profiles(sites: pd.DataFrame, markets: pd.DataFrame, year: int = 2025) -> xr.Dataset:
    """Build deterministic hourly profiles for every site and market.

    Parameters
    ----------
    sites : pd.DataFrame
        Indexed by site id, with columns ``country`` (ISO2), ``lat``/``lon`` [deg],
        ``energy_price_usd_per_mwh`` [USD/MWh], ``carbon_kg_per_mwh`` [kgCO2/MWh] and
        ``pue`` [-] (annual means). Optional ``wind_cf_mean`` [-] overrides the default
        wind capacity-factor target (0.30).
    markets : pd.DataFrame
        Indexed by market id, with ``lat``/``lon`` [deg] and ``timezone`` (IANA name).
    year : int
        Calendar year; 29 February is dropped so ``time`` always has 8760 hours.

    Returns
    -------
    xr.Dataset
        Dims ``(site, time)`` and ``(market, time)``; ``time`` holds hour-beginning UTC
        timestamps (timezone-naive datetime64). Variables: ``energy_price_usd_per_mwh``,
        ``carbon_kg_per_mwh``, ``temperature_c``, ``pue``, ``solar_cf``, ``wind_cf``
        (site) and ``demand_shape`` (market).
    """
    _validate(sites, markets, year)
    year = int(year)
    times = _year_index(year)
    site_ids = [str(s) for s in sites.index]
    market_ids = [str(m) for m in markets.index]
    n_s, n_t = len(site_ids), HOURS_PER_YEAR
    doy = _doy_fraction()

    out = {name: np.empty((n_s, n_t)) for name in SITE_VARIABLES}
    lats = sites["lat"].to_numpy(dtype=float)
    lons = sites["lon"].to_numpy(dtype=float)
    price_means = sites["energy_price_usd_per_mwh"].to_numpy(dtype=float)
    carbon_means = sites["carbon_kg_per_mwh"].to_numpy(dtype=float)
    pue_means = sites["pue"].to_numpy(dtype=float)
    wind_targets = np.full(n_s, WIND_CF_TARGET)
    if "wind_cf_mean" in sites.columns:
        given = sites["wind_cf_mean"].to_numpy(dtype=float)
        wind_targets = np.where(np.isnan(given), WIND_CF_TARGET, given)

    for i, sid in enumerate(site_ids):
        lat, lon = float(lats[i]), float(lons[i])
        alat = abs(lat)
        solar_h = _solar_hour(times, lon)

        solar, solar_clear = _solar_cf(sid, lat, lon, times, year)
        target = float(wind_targets[i])
        wind = _wind_cf(sid, lat, lon, year, target)
        temp = _temperature(sid, lat, solar_h, year)

        mean_clear = float(solar_clear.mean())
        peak_clear = float(solar_clear.max())
        solar_norm = solar / peak_clear if peak_clear > 0 else np.zeros(n_t)
        wind_anom = wind - wind.mean()
        daily_price = _periodic_interp(solar_h, PRICE_HOURLY_WEIGHTS)

        # Price: daily x seasonal x (1 - solar dip) x (1 - wind coupling), rescaled.
        winter_doy = PRICE_WINTER_PEAK_DOY if lat >= 0 else PRICE_WINTER_PEAK_DOY + 182.5
        phase = 2 * np.pi * (doy - winter_doy) / 365.0
        heat_amp = PRICE_HEATING_AMP * np.clip((alat - 20.0) / 30.0, 0.0, 1.0)
        bimodal_amp = (
            PRICE_BIMODAL_AMP
            * np.clip(alat / 20.0, 0.0, 1.0)
            * np.clip((55.0 - alat) / 20.0, 0.0, 1.0)
        )
        seasonal = 1.0 + heat_amp * np.cos(phase) + bimodal_amp * np.cos(2 * phase)
        dip = min(PRICE_DIP_PER_CF * mean_clear, PRICE_DIP_MAX)
        price = (
            daily_price
            * seasonal
            * (1.0 - dip * solar_norm)
            * (1.0 - PRICE_WIND_COUPLING * wind_anom)
        )
        price *= price_means[i] / price.mean()

        # Carbon: (partial) daily shape x (1 - solar dip) x (1 - wind coupling), rescaled.
        cdip = min(CARBON_DIP_PER_CF * mean_clear, CARBON_DIP_MAX)
        carbon = (
            (1.0 + CARBON_PRICE_SHAPE_COUPLING * (daily_price - 1.0))
            * (1.0 - cdip * solar_norm)
            * (1.0 - CARBON_WIND_COUPLING * wind_anom)
        )
        carbon *= carbon_means[i] / carbon.mean()

        out["energy_price_usd_per_mwh"][i] = price
        out["carbon_kg_per_mwh"][i] = carbon
        out["temperature_c"][i] = temp
        out["pue"][i] = _pue(sid, float(pue_means[i]), temp)
        out["solar_cf"][i] = solar
        out["wind_cf"][i] = wind

    demand = np.empty((len(market_ids), n_t))
    for j, tz in enumerate(markets["timezone"].astype(str)):
        demand[j] = _demand_shape(tz, times)

    meta = {
        "energy_price_usd_per_mwh": (
            "USD/MWh",
            "Hourly wholesale energy price: catalog annual mean x daily (local solar time) "
            "x seasonal x midday-solar dip x wind coupling; mean equals catalog",
        ),
        "carbon_kg_per_mwh": (
            "kgCO2/MWh",
            "Hourly grid carbon intensity: catalog annual mean x evening shape x "
            "midday-solar dip x wind coupling; mean equals catalog",
        ),
        "temperature_c": (
            "degC",
            "Synthetic ambient dry-bulb temperature from latitude (annual mean, "
            "seasonal and diurnal cycles, seeded synoptic anomaly)",
        ),
        "pue": (
            "1",
            "Power usage effectiveness: flat design PUE below 18 degC, +0.01/degC above; "
            "mean equals catalog",
        ),
        "solar_cf": (
            "1",
            "Fixed-tilt (tilt=|lat|, equator-facing) PV capacity factor: pvlib Ineichen "
            "clear-sky POA x 0.86 / 1000 W/m2 x seeded daily cloud factor",
        ),
        "wind_cf": (
            "1",
            "Synthetic wind capacity factor: seeded AR(1) Weibull wind speed with seasonal "
            "and diurnal cycles through a generic 3/12/25 m/s power curve",
        ),
        "demand_shape": (
            "1",
            "Dimensionless inference demand multiplier by market local time "
            "(assumed diurnal curve, weekend factor 0.92); mean exactly 1",
        ),
    }
    time_coord = times.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")
    data_vars = {
        name: (("site", "time"), arr, {"units": meta[name][0], "description": meta[name][1]})
        for name, arr in out.items()
    }
    data_vars["demand_shape"] = (
        ("market", "time"),
        demand,
        {"units": meta["demand_shape"][0], "description": meta["demand_shape"][1]},
    )
    ds = xr.Dataset(
        data_vars=data_vars,
        coords={
            "site": ("site", np.array(site_ids, dtype=object)),
            "market": ("market", np.array(market_ids, dtype=object)),
            "time": ("time", time_coord, {"description": "hour-beginning timestamp, UTC"}),
        },
        attrs={
            "year": year,
            "source": "optimizer.profiles v"
            + PROFILE_VERSION
            + ": deterministic synthetic profiles from catalog means (see docs/profiles.md)",
            "profile_version": PROFILE_VERSION,
        },
    )
    logger.debug("built profiles for %d sites x %d markets, year %d", n_s, len(market_ids), year)
    return ds


def _cache_key(sites: pd.DataFrame, markets: pd.DataFrame, year: int) -> str:
    """SHA-256 over the columns that affect the profiles, the year and PROFILE_VERSION."""
    site_cols = list(SITE_COLUMNS) + [c for c in OPTIONAL_SITE_COLUMNS if c in sites.columns]
    h = hashlib.sha256()
    h.update(f"version={PROFILE_VERSION};year={int(year)};".encode())
    for name, df, cols in (
        ("sites", sites, site_cols),
        ("markets", markets, list(MARKET_COLUMNS)),
    ):
        sub = df[cols].copy()
        sub.index = sub.index.astype(str)
        h.update(name.encode())
        h.update(sub.to_csv(float_format="%.17g", lineterminator="\n").encode("utf-8"))
    return h.hexdigest()


def load_profiles(
    sites: pd.DataFrame,
    markets: pd.DataFrame,
    year: int = 2025,
    cache_dir: Path | None = None,
) -> xr.Dataset:
    """Return :func:`build_profiles` output, cached as NetCDF (h5netcdf).

    Parameters
    ----------
    sites, markets, year
        As for :func:`build_profiles`.
    cache_dir : Path, optional
        Directory for ``profiles-<sha256>.nc``; defaults to
        :func:`optimizer.resources.cache_dir` (``$TOKENOMICS_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/tokenomics`` or ``~/.cache/tokenomics``). A folder that cannot be
        written is skipped with a warning (the profiles are still returned).

    Returns
    -------
    xr.Dataset
        Fully loaded into memory (the file is closed before returning).
    """
    _validate(sites, markets, year)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / f"profiles-{_cache_key(sites, markets, year)}.nc"
    if path.exists():
        try:
            with xr.open_dataset(path, engine="h5netcdf") as f:
                ds = f.load()
            logger.info("loaded cached profiles from %s", path)
            return ds
        except Exception as exc:  # corrupt/partial file from an older run: rebuild
            logger.warning("could not read profile cache %s (%s); rebuilding", path, exc)

    ds = build_profiles(sites, markets, year)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
    except OSError as exc:  # read-only home, no permission, full disk: work without the cache
        logger.warning("cannot write the profile cache in %s (%s); set TOKENOMICS_CACHE_DIR to a writable "
                       "folder to keep profiles between runs", cache_dir, exc)
        return ds
    logger.info("wrote profile cache %s", path)
    return ds
