"""Charts: write_charts produces readable PNGs; the site map draws land outlines offline."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import BarContainer

from optimizer import SolveOptions
from optimizer.report import plots
from optimizer.report.compare import Comparison, compare

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "scenarios" / "tiny.yaml"
DEFAULT = ROOT / "data" / "scenarios" / "default.yaml"


@pytest.fixture(scope="module")
def comp(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    """The tiny scenario (no coordinates) beside the default one (coordinates, several countries)."""
    return compare([str(TINY), str(DEFAULT)], tmp_path_factory.mktemp("compare"), SolveOptions(mip_gap=0.01))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("charts tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_write_charts_writes_readable_pngs(comp: Comparison, tmp_path: Path, no_network: None) -> None:
    paths = plots.write_charts(comp, tmp_path / "charts")
    names = {p.name for p in paths}
    assert {"cost_per_mtok.png", "efficiency.png", "site_map.png", "trade.png",
            "hourly_power_price_tiny.png", "hourly_power_price_default.png"} <= names
    for p in paths:
        assert p.parent == tmp_path / "charts" and p.stat().st_size > 1000
        img = mpimg.imread(p)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert float(np.ptp(img)) > 0  # not a blank canvas
    assert not list((tmp_path / "charts").glob("*.tmp"))  # atomic writes leave no temp files


def test_site_map_draws_land_outlines_offline(comp: Comparison, no_network: None) -> None:
    plots._world_polygons.cache_clear()  # read the outline file again, with the network refused
    fig = plots.site_map(comp)
    ax = fig.axes[0]
    polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert polys, "no land polygons drawn"
    n_vertices = sum(np.asarray(p.vertices).shape[0] for c in polys for p in c.get_paths())
    assert n_vertices > 5000  # Natural Earth 1:110m countries: ~10,600 vertices
    # the opened sites of the default scenario are drawn as markers inside the map
    offsets = np.concatenate([c.get_offsets() for c in ax.collections if not isinstance(c, PolyCollection)])
    assert len(offsets) == int(comp.dataset["open"].sel(scenario="default").sum())
    assert np.all(np.abs(offsets[:, 0]) <= 180) and np.all(np.abs(offsets[:, 1]) <= 90)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # rendering needs no network either
    assert buf.tell() > 1000


def test_cost_stack_adds_up_to_cost_per_mtok(comp: Comparison) -> None:
    fig = plots.cost_stack(comp)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    heights = np.array([[p.get_height() for p in c.patches] for c in bars])  # component x scenario
    np.testing.assert_allclose(heights.sum(axis=0), comp.dataset["cost_per_mtok_usd"].values, rtol=1e-9)


def test_hourly_power_price_picks_largest_site(comp: Comparison) -> None:
    run = next(r for r in comp.runs if r.label == "default")
    ds = run.dataset
    assert ds is not None
    fig = plots.hourly_power_price(run)
    site = str(ds["installed_it_mw"].idxmax("site").values)
    assert site in fig.axes[0].get_title()
    power, price = fig.axes[0].get_lines()[0], fig.axes[1].get_lines()[0]
    np.testing.assert_allclose(np.asarray(power.get_ydata()), ds["facility_power_mw"].sel(site=site).values)
    np.testing.assert_allclose(np.asarray(price.get_ydata()), ds["energy_price_usd_per_mwh"].sel(site=site).values)


def test_cost_stack_counts_onsite_supply_carbon_and_export_revenue(tmp_path: Path, tiny: dict) -> None:
    import yaml

    sun = [1.0] * 12 + [0.0] * 12
    tiny["sites"]["texas"].update(solar={"capex_usd_per_mw": 3e5, "capacity_factor": sun},
                                  export_price_usd_per_mwh=200.0)
    tiny["carbon"] = {"price_usd_per_t": 50}
    path = tmp_path / "sunny.yaml"
    path.write_text(yaml.safe_dump(tiny))
    comp = compare([str(path)], tmp_path / "out", SolveOptions())
    s = comp.runs[0].summary
    assert s["onsite_supply_cost_usd_per_year"] > 0 and s["export_revenue_usd_per_year"] > 0
    assert s["carbon_cost_usd_per_year"] > 0
    bars = [c for c in plots.cost_stack(comp).axes[0].containers if isinstance(c, BarContainer)]
    heights = np.array([[p.get_height() for p in c.patches] for c in bars])
    assert (heights < 0).any()  # export revenue is drawn below zero
    np.testing.assert_allclose(heights.sum(axis=0), comp.dataset["cost_per_mtok_usd"].values, rtol=1e-9)
