"""Prices, revenue and margin (issue 18, first part): market prices per LLM, the catalog's reference
price for LLMs with a card, revenue by market and LLM, and the summary's revenue, margin and share."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from optimizer import scenario_from_dict, solve
from optimizer.catalogs.catalog import DATA, reference_price
from optimizer.errors import ScenarioError

# tiny: 100,000 output tok/s all year (24 steps x 365 h = 8,760 h), 4 input tokens per output token
OUT_MTOK = 1e5 * 3600 * 8760 / 1e6  # 3,153,600 million output tokens a year


def priced(tiny: dict, **price: float) -> dict:
    d = copy.deepcopy(tiny)
    d["markets"]["us-east"]["price_usd_per_mtok"] = {"llama-70b": price}
    return d


def test_revenue_at_list_prices_as_computed_by_hand(tiny):
    plan = solve(scenario_from_dict(priced(tiny, input=0.5, output=2.0, cached_input=0.1)))
    s = plan.summary
    # no cache hits: output 3,153,600 Mtok x 2 + input 4 x 3,153,600 Mtok x 0.5 = 12,614,400 USD
    assert s["revenue_usd_per_year"] == pytest.approx(OUT_MTOK * (2.0 + 4 * 0.5), rel=1e-9)
    assert s["margin_usd_per_year"] == pytest.approx(s["revenue_usd_per_year"] - s["cost_usd_per_year"], rel=1e-12)
    assert s["margin_share"] == pytest.approx(s["margin_usd_per_year"] / s["revenue_usd_per_year"])
    rev = plan.dataset["revenue_usd_per_year"]
    assert rev.dims == ("market", "llm") and rev.attrs["units"] == "USD/year"
    assert float(rev.sel(market="us-east", llm="llama-70b")) == pytest.approx(s["revenue_usd_per_year"])


def test_cached_input_is_priced_with_the_cache_hit_share(tiny):
    d = priced(tiny, input=0.5, output=2.0, cached_input=0.1)
    d["llms"]["llama-70b"]["cache_hit_share"] = 0.5
    s = solve(scenario_from_dict(d)).summary
    # per output token: 2.0 + 4 x (0.5 x 0.5 + 0.5 x 0.1) = 3.2 USD per output Mtok
    assert s["revenue_usd_per_year"] == pytest.approx(OUT_MTOK * 3.2, rel=1e-9)
    d["markets"]["us-east"]["price_usd_per_mtok"]["llama-70b"].pop("cached_input")  # none published: input price
    s = solve(scenario_from_dict(d)).summary
    assert s["revenue_usd_per_year"] == pytest.approx(OUT_MTOK * (2.0 + 4 * 0.5), rel=1e-9)


def test_no_price_means_no_revenue_figure(tiny):
    s = solve(scenario_from_dict(tiny)).summary  # tiny's LLM has no card and no price
    assert np.isnan(s["revenue_usd_per_year"]) and np.isnan(s["margin_share"])


def test_a_card_llm_takes_the_catalogs_reference_price():
    df = pd.read_csv(DATA / "api_prices.csv")
    assert df.groupby("llm")["reference"].apply(lambda r: (r.astype(str).str.lower() == "true").sum()).eq(1).all()
    ref = reference_price("deepseek-r1")
    assert ref is not None and ref["output"] > 0 and "api_prices.csv" in ref["source"]
    sc = scenario_from_dict({
        "name": "priced", "time": {"start": "2025-07-01", "steps": 24},
        "sites": {"include": ["us-ercot"]}, "gpus": {"include": ["h100"]}, "llms": {"include": ["deepseek-r1"]},
        "markets": {"include": ["us-east"], "defaults": {"demand_share": {"deepseek-r1": 0.0005}}},
    })
    p = sc.markets["us-east"].price_usd_per_mtok["deepseek-r1"]
    assert (p.input, p.output) == (ref["input"], ref["output"])
    plan = solve(sc)
    ds, x = plan.dataset, sc.llms["deepseek-r1"]
    out_mtok = float((ds["delivered_tokens_per_s"].sum(("site", "market", "llm")) * ds["weight_h"]).sum()) * 3600 / 1e6
    cached = p.input if p.cached_input is None else p.cached_input
    per_out = p.output + x.input_per_output * ((1 - x.cache_hit_share) * p.input + x.cache_hit_share * cached)
    assert plan.summary["revenue_usd_per_year"] == pytest.approx(out_mtok * per_out, rel=1e-9)


def test_bad_prices_are_one_line_errors(tiny):
    with pytest.raises(ScenarioError, match=r"markets.us-east.price_usd_per_mtok.llama-70b.output: .*>= 0"):
        scenario_from_dict(priced(tiny, input=0.5, output=-1.0), "t.yaml")
    with pytest.raises(ScenarioError, match=r"markets.us-east.price_usd_per_mtok.llama-70b.output"):
        scenario_from_dict(priced(tiny, input=0.5), "t.yaml")
