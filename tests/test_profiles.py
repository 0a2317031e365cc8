"""Tests for optimizer.profiles (synthetic hourly regional profiles)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from optimizer.catalogs.profiles import (
    PROFILE_VERSION,
    SITE_VARIABLES,
    build_profiles,
    load_profiles,
)

SITE_VARS = SITE_VARIABLES


def _sites() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "country": ["SE", "ES", "SG", "AU"],
            "lat": [59.33, 40.42, 1.35, -33.87],
            "lon": [18.07, -3.70, 103.82, 151.21],
            "energy_price_usd_per_mwh": [45.0, 80.0, 120.0, 90.0],
            "carbon_kg_per_mwh": [30.0, 150.0, 400.0, 600.0],
            "pue": [1.10, 1.30, 1.35, 1.25],
        },
        index=pd.Index(["sto", "mad", "sin", "syd"], name="site"),
    )


def _markets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lat": [40.71, 31.23],
            "lon": [-74.01, 121.47],
            "timezone": ["America/New_York", "Asia/Shanghai"],
        },
        index=pd.Index(["us-east", "cn-east"], name="market"),
    )


@pytest.fixture(scope="module")
def ds() -> xr.Dataset:
    return build_profiles(_sites(), _markets(), year=2025)


def _local_solar_hour(ds: xr.Dataset, lon: float) -> np.ndarray:
    t = pd.DatetimeIndex(ds["time"].to_numpy())
    return np.mod(t.hour.to_numpy() + 0.5 + lon / 15.0, 24.0)


def test_dims_coords_and_attrs(ds: xr.Dataset) -> None:
    assert ds.sizes["time"] == 8760
    assert list(ds["site"].values) == ["sto", "mad", "sin", "syd"]
    assert list(ds["market"].values) == ["us-east", "cn-east"]
    assert np.issubdtype(ds["time"].dtype, np.datetime64)
    t = pd.DatetimeIndex(ds["time"].to_numpy())
    assert t[0] == pd.Timestamp("2025-01-01 00:00")
    assert t[-1] == pd.Timestamp("2025-12-31 23:00")
    assert (np.diff(t.asi8) == 3600 * 10**9).all()
    for name in SITE_VARS:
        assert ds[name].dims == ("site", "time"), name
    assert ds["demand_shape"].dims == ("market", "time")
    for name in (*SITE_VARS, "demand_shape"):
        assert ds[name].attrs["units"] and ds[name].attrs["description"], name
        assert np.isfinite(ds[name].values).all(), name
    assert ds.attrs["year"] == 2025
    assert isinstance(ds.attrs["source"], str) and ds.attrs["source"]


def test_leap_year_drops_feb_29() -> None:
    ds = build_profiles(_sites().iloc[:1], _markets().iloc[:1], year=2024)
    t = pd.DatetimeIndex(ds["time"].to_numpy())
    assert len(t) == 8760
    assert not ((t.month == 2) & (t.day == 29)).any()
    assert t[-1] == pd.Timestamp("2024-12-31 23:00")


def test_annual_means_match_catalog(ds: xr.Dataset) -> None:
    sites = _sites()
    for col in ("energy_price_usd_per_mwh", "carbon_kg_per_mwh", "pue"):
        np.testing.assert_allclose(
            ds[col].mean("time").values, sites[col].to_numpy(), rtol=1e-9, err_msg=col
        )
    np.testing.assert_allclose(ds["demand_shape"].mean("time").values, 1.0, rtol=1e-9)
    assert (ds["energy_price_usd_per_mwh"] > 0).all()
    assert (ds["carbon_kg_per_mwh"] > 0).all()
    assert (ds["demand_shape"] > 0).all()


def test_price_daily_shape(ds: xr.Dataset) -> None:
    # Stockholm: little solar -> evening peak above night trough, by local solar hour.
    price = ds["energy_price_usd_per_mwh"].sel(site="sto").values
    h = np.floor(_local_solar_hour(ds, 18.07)).astype(int)
    by_hour = pd.Series(price).groupby(h).mean()
    assert by_hour[19] > by_hour[12] > by_hour[4]
    assert by_hour.idxmin() in (2, 3, 4, 5)


def test_solar_cf_bounds_night_and_season(ds: xr.Dataset) -> None:
    cf = ds["solar_cf"]
    assert float(cf.min()) >= 0.0 and float(cf.max()) <= 1.0
    t = pd.DatetimeIndex(ds["time"].to_numpy())
    for site, lon in zip(ds["site"].values, _sites()["lon"], strict=True):
        h = _local_solar_hour(ds, lon)
        night = (h < 1.0) | (h > 23.0)  # hours around local midnight
        assert night.sum() > 300
        assert float(cf.sel(site=site).values[night].max()) == 0.0, site
    summer_n, winter_n = t.month.isin([6, 7]), t.month.isin([12, 1])
    mad = cf.sel(site="mad").values
    assert mad[summer_n].mean() > 1.2 * mad[winter_n].mean()
    syd = cf.sel(site="syd").values  # southern hemisphere: reversed seasons
    assert syd[winter_n].mean() > syd[summer_n].mean()
    assert 0.10 < mad.mean() < 0.30


def test_wind_cf_bounds_and_target(ds: xr.Dataset) -> None:
    wind = ds["wind_cf"]
    assert float(wind.min()) >= 0.0 and float(wind.max()) <= 1.0
    np.testing.assert_allclose(wind.mean("time").values, 0.30, atol=1e-3)
    # Sites have different (stable-hash) seeds.
    assert not np.allclose(wind.sel(site="sto").values, wind.sel(site="mad").values)


def test_wind_cf_mean_override() -> None:
    sites = _sites().iloc[:2].assign(wind_cf_mean=[0.45, np.nan])
    ds = build_profiles(sites, _markets().iloc[:1])
    np.testing.assert_allclose(ds["wind_cf"].mean("time").values, [0.45, 0.30], atol=1e-3)


def test_temperature_and_pue(ds: xr.Dataset) -> None:
    t = pd.DatetimeIndex(ds["time"].to_numpy())
    temp = ds["temperature_c"]
    jul, jan = t.month == 7, t.month == 1
    assert temp.sel(site="sto").values[jul].mean() > temp.sel(site="sto").values[jan].mean() + 10
    assert temp.sel(site="syd").values[jan].mean() > temp.sel(site="syd").values[jul].mean() + 5
    assert temp.sel(site="sin").mean() > temp.sel(site="mad").mean() > temp.sel(site="sto").mean()
    # Daily maximum in the afternoon (local solar time).
    h = np.floor(_local_solar_hour(ds, -3.70)).astype(int)
    by_hour = pd.Series(temp.sel(site="mad").values).groupby(h).mean()
    assert 13 <= by_hour.idxmax() <= 17

    pue = ds["pue"]
    assert float(pue.min()) >= 1.0
    for site in ds["site"].values:
        p, tc = pue.sel(site=site).values, temp.sel(site=site).values
        cool, hot = tc < 18.0, tc > 25.0
        if cool.any():
            assert np.ptp(p[cool]) < 1e-12  # flat design PUE below the threshold
        if hot.any() and cool.any():
            assert p[hot].min() > p[cool].max()
        if hot.any():
            order = np.argsort(tc)
            assert (np.diff(p[order]) >= -1e-12).all()  # non-decreasing in temperature


def test_pue_low_catalog_value_keeps_mean_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    sites = _sites().loc[["sin"]].assign(pue=1.02)  # hot site, very low PUE
    with caplog.at_level(logging.WARNING, logger="optimizer.profiles"):
        ds = build_profiles(sites, _markets().iloc[:1])
    assert float(ds["pue"].min()) >= 1.0
    np.testing.assert_allclose(float(ds["pue"].mean()), 1.02, rtol=1e-9)
    assert any("PUE" in r.getMessage() for r in caplog.records)


def test_demand_shape_local_time(ds: xr.Dataset) -> None:
    t = pd.DatetimeIndex(ds["time"].to_numpy()).tz_localize("UTC")
    for market, tz in zip(ds["market"].values, _markets()["timezone"], strict=True):
        local = t.tz_convert(tz)
        d = pd.Series(ds["demand_shape"].sel(market=market).values)
        by_hour = d.groupby(local.hour.to_numpy()).mean()
        assert by_hour.idxmin() in (3, 4, 5), market
        assert 14 <= by_hour.idxmax() <= 21, market
        weekend = local.day_of_week.to_numpy() >= 5
        ratio = d[weekend].mean() / d[~weekend].mean()
        assert 0.85 < ratio < 0.99, market


def test_deterministic(ds: xr.Dataset) -> None:
    again = build_profiles(_sites(), _markets(), year=2025)
    for name in ds.data_vars:
        np.testing.assert_array_equal(ds[name].values, again[name].values, err_msg=name)


def test_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import optimizer.catalogs.profiles as profiles

    sites, markets = _sites().iloc[:2], _markets()
    first = load_profiles(sites, markets, 2025, cache_dir=tmp_path)
    files = list(tmp_path.glob("profiles-*.nc"))
    assert len(files) == 1
    assert not list(tmp_path.glob("*.tmp"))  # atomic write leaves no temp file

    def _fail(*args: object, **kwargs: object) -> xr.Dataset:
        raise AssertionError("build_profiles called although a cache file exists")

    monkeypatch.setattr(profiles, "build_profiles", _fail)
    second = load_profiles(sites, markets, 2025, cache_dir=tmp_path)
    assert np.issubdtype(second["time"].dtype, np.datetime64)
    np.testing.assert_array_equal(first["time"].values, second["time"].values)
    for name in first.data_vars:
        np.testing.assert_array_equal(first[name].values, second[name].values, err_msg=name)
        assert second[name].attrs["units"] == first[name].attrs["units"]
    assert list(second["site"].values) == list(first["site"].values)
    assert second.attrs["year"] == 2025
    assert second.attrs["profile_version"] == PROFILE_VERSION

    # Changing an input (or the year) gives a different cache file.
    monkeypatch.undo()
    load_profiles(sites.assign(pue=[1.2, 1.3]), markets, 2025, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("profiles-*.nc"))) == 2
