"""Synthetic planning scenarios of a chosen size, for benchmarks (deterministic for a seed)."""

from __future__ import annotations

import numpy as np

from optimizer.scenario import Scenario, scenario_from_dict

GPU_TYPES = {  # capex USD, full kW, idle kW, relative speed
    "h100": (37100, 1.05, 0.32, 1.0),
    "h200": (41000, 1.05, 0.32, 1.4),
    "b200": (55700, 1.50, 0.45, 2.4),
    "gb200": (45800, 1.68, 0.50, 3.2),
    "mi300x": (17800, 1.13, 0.34, 1.1),
    "mi355x": (37100, 2.10, 0.63, 2.2),
    "h20": (19300, 0.60, 0.18, 0.5),
    "ascend-910c": (22900, 1.46, 0.44, 0.7),
}


def _day_factors(rng: np.random.Generator, n_hour: int, sigma: float) -> np.ndarray:
    """Hourly multipliers: one lognormal factor per day (sigma) times 5% hourly noise."""
    n_day = -(-n_hour // 24)
    daily = np.repeat(rng.lognormal(0.0, sigma, n_day), 24)[:n_hour]
    return daily * (1 + 0.05 * rng.standard_normal(n_hour)).clip(0.8, 1.2)


def synthetic_scenario(n_site: int, n_market: int, n_llm: int, n_hour: int, seed: int = 0,
                       variation: float = 0.15) -> Scenario:
    """A random but plausible world: sites and markets on a globe, latency from distance.

    Prices and demand follow local time of day; ``variation`` (lognormal sigma of a per-day
    factor, plus 5% hourly noise and 15% less demand at weekends) makes days differ, so no two
    hours of a long horizon are identical. ``variation=0`` gives identical days.
    """
    rng = np.random.default_rng(seed)
    hours = np.arange(n_hour)
    weekend = np.where((hours // 24) % 7 >= 5, 0.85, 1.0) if variation > 0 else np.ones(n_hour)
    countries = ["US", "CN", "DE", "NO", "AE", "SG", "IN", "JP", "BR", "IE"]
    s_lat, s_lon = rng.uniform(-35, 65, n_site), rng.uniform(-125, 145, n_site)
    m_lat, m_lon = rng.uniform(-35, 60, n_market), rng.uniform(-125, 145, n_market)
    sites = {}
    for i in range(n_site):
        local = (hours + s_lon[i] / 15) % 24
        price = rng.uniform(30, 120) * (1 + 0.3 * np.sin((local - 12) / 24 * 2 * np.pi))
        if variation > 0:
            price = price * _day_factors(rng, n_hour, variation)
        sites[f"s{i:03d}"] = {
            "country": countries[i % len(countries)],
            "grid_limit_mw": float(rng.choice([100, 300, 1000])),
            "energy_price_usd_per_mwh": price.round(2).tolist(),
            "carbon_kg_per_mwh": float(rng.uniform(20, 700)),
            "pue": float(rng.uniform(1.1, 1.5)),
            "build_cost_usd": float(rng.uniform(1e7, 5e7)),
            "build_cost_usd_per_mw": float(rng.uniform(7e6, 1.3e7)),
            "lifetime_years": 15,
        }
    gpus = {
        g: {"gpus_per_node": 8, "capex_usd_per_gpu": c, "lifetime_years": 5,
            "power_kw_per_gpu": kw, "idle_power_kw_per_gpu": idle}
        for g, (c, kw, idle, _) in list(GPU_TYPES.items())[:6]
    }
    llms = {}
    for j in range(n_llm):
        base_out = rng.uniform(300, 3000)
        llms[f"llm{j}"] = {
            "input_per_output": float(rng.uniform(2, 6)),
            "max_rtt_ms": float(rng.choice([80, 150, 250])),
            "throughput": {
                g: {"output_tokens_per_s": round(base_out * GPU_TYPES[g][3], 1),
                    "input_tokens_per_s": round(5 * base_out * GPU_TYPES[g][3], 1),
                    "nodes_per_replica": int(rng.choice([1, 1, 2]))}
                for g in gpus
            },
        }
    markets = {}
    for k in range(n_market):
        local = (hours + m_lon[k] / 15) % 24
        shape = 1 + 0.5 * np.sin((local - 9) / 24 * 2 * np.pi)
        markets[f"m{k:03d}"] = {
            "country": countries[k % len(countries)],
            "demand_output_tokens_per_s": {
                f"llm{j}": (rng.uniform(2e4, 2e5) * shape * weekend
                            * (_day_factors(rng, n_hour, variation) if variation > 0 else 1.0)).round(1).tolist()
                for j in range(n_llm)
            },
        }
    lat1, lat2 = np.radians(s_lat)[:, None], np.radians(m_lat)[None, :]
    dlon = np.radians(s_lon[:, None] - m_lon[None, :])
    km = 6371 * np.arccos(np.clip(np.sin(lat1) * np.sin(lat2) + np.cos(lat1) * np.cos(lat2) * np.cos(dlon), -1, 1))
    rtt = 5 + 2 * km * 1.5 / 200.0  # ms: fixed overhead + fibre at 200 km/ms with a 1.5 route factor
    latency = {f"s{i:03d}": {f"m{k:03d}": round(float(rtt[i, k]), 1) for k in range(n_market)} for i in range(n_site)}
    return scenario_from_dict({
        "name": f"synthetic-{n_site}x{n_market}x{n_llm}x{n_hour}",
        "time": {"steps": n_hour},
        "sites": sites, "gpus": gpus, "llms": llms, "markets": markets, "latency_ms": latency,
        "unserved_penalty_usd_per_mtok": 20.0,
    })
