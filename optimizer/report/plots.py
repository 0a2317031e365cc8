"""Charts of a comparison (matplotlib, Agg canvas, no display and no network needed).

Each chart is a function returning a :class:`matplotlib.figure.Figure` (shown inline in a
notebook); :func:`write_charts` writes them all as PNG files. Figures are built with the
object-oriented API (no ``pyplot``), so importing this module changes no global matplotlib state
and figures are freed when dropped.

The world map draws country outlines from ``data/geo/ne_110m_countries.geojson`` (Natural Earth
1:110m, public domain; see ``data/geo/README.md``), read with the standard library: nothing is
downloaded at run time.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from optimizer.report.compare import COST_COMPONENTS, Comparison, Run
from optimizer.resources import atomic_write, data_dir

WORLD_OUTLINES = data_dir() / "geo" / "ne_110m_countries.geojson"
"""Country outlines (lon/lat degrees, WGS84) drawn under the site map."""

COMPONENT_COLORS = {"site": "#8c6d31", "accelerator": "#3182bd", "energy": "#e6550d", "onsite_supply": "#31a354",
                    "carbon": "#636363", "exports": "#9ecae1"}
DPI = 120


def _figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _colors(n: int) -> list[Any]:
    """One distinct colour per scenario (tab10, then tab20 beyond ten)."""
    cmap = mpl.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _labels(comp: Comparison) -> list[str]:
    return [str(s) for s in comp.dataset["scenario"].values]


def cost_stack(comp: Comparison) -> Figure:
    """Cost per million tokens (USD/Mtok, input + output tokens) by scenario, stacked by component.

    Each component (``results.COST_TERMS``: site, accelerator, energy, on-site supply, carbon, and
    export revenue as a negative bar; annualised USD/year) is divided by the plan's tokens per year
    and multiplied by 1e6, so the stack adds up to ``cost_per_mtok_usd``; components that are zero
    in every scenario are left out. The
    unserved-demand penalty is not a cost of tokens served and is not stacked. Scenarios without
    a plan are marked "no plan".
    """
    ds = comp.dataset
    labels = _labels(comp)
    tokens = ds["tokens_per_year"].values.astype(float)
    by_comp = ds["cost_usd_per_year_by_component"].sel(component=list(COST_COMPONENTS)).values.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_mtok = np.where(tokens[:, None] > 0, by_comp / tokens[:, None] * 1e6, np.nan)
    fig = _figure(max(6.5, 1.2 * len(labels) + 2.5), 4.5)
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    up, down = np.zeros(len(labels)), np.zeros(len(labels))  # stacks above and below zero
    for j, c in enumerate(COST_COMPONENTS):
        h = np.nan_to_num(per_mtok[:, j])
        if not h.any():
            continue
        base = np.where(h >= 0, up, down)
        ax.bar(x, h, bottom=base, width=0.6, label=c, color=COMPONENT_COLORS.get(c))
        up, down = np.where(h >= 0, up + h, up), np.where(h < 0, down + h, down)
    bottom = up + down
    top = float(np.nanmax(up)) if np.any(up > 0) else 1.0
    for i, total in enumerate(bottom):
        if np.all(np.isnan(per_mtok[i])):
            ax.text(i, 0.02 * top, "no plan", ha="center", va="bottom", fontsize=9, color="0.3")
        else:
            ax.text(i, up[i] + 0.01 * top, f"{total:.3g}", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x, labels, rotation=20 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center")
    ax.set_ylabel("cost, USD per million tokens")
    ax.set_ylim(min(0.0, 1.12 * float(down.min())), top * 1.12)
    ax.set_title("Cost per million tokens (input + output)")
    ax.legend(title="component", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def efficiency_scatter(comp: Comparison) -> Figure:
    """Tokens per kWh of facility energy (x, token/kWh) against cost per million tokens (y, USD/Mtok).

    One labelled point per scenario with a plan; lower right is better (more tokens per kWh, fewer
    dollars per token).
    """
    ds = comp.dataset
    labels = _labels(comp)
    x = ds["tokens_per_kwh"].values.astype(float)
    y = ds["cost_per_mtok_usd"].values.astype(float)
    fig = _figure(6.5, 4.5)
    ax = fig.add_subplot()
    for lab, xi, yi, col in zip(labels, x, y, _colors(len(labels)), strict=True):
        if np.isfinite(xi) and np.isfinite(yi):
            ax.scatter([xi / 1e6], [yi], s=60, color=col, zorder=3)
            ax.annotate(lab, (xi / 1e6, yi), xytext=(5, 5), textcoords="offset points", fontsize=9)
    ax.set_xlabel("tokens per kWh of facility energy, millions")
    ax.set_ylabel("cost, USD per million tokens")
    ax.set_title("Energy efficiency against cost")
    ax.grid(alpha=0.3)
    ax.margins(0.15)
    return fig


@lru_cache(maxsize=1)
def _world_polygons(path: Path = WORLD_OUTLINES) -> tuple[np.ndarray, ...]:
    """Country outline rings as (n, 2) arrays of lon, lat (degrees), read from the bundled GeoJSON."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    rings: list[np.ndarray] = []
    for feat in doc["features"]:
        geom = feat["geometry"]
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        for poly in polys:
            rings.extend(np.asarray(r, dtype=float) for r in poly)
    return tuple(rings)


def world_outlines() -> PolyCollection:
    """Country outlines as a matplotlib collection in lon/lat degrees (equirectangular)."""
    return PolyCollection(list(_world_polygons()), facecolors="0.92", edgecolors="0.6", linewidths=0.4,
                          zorder=1)


def _size_points2(mw: np.ndarray, max_mw: float) -> np.ndarray:
    """Marker area (points²) proportional to installed IT MW; the largest site gets 900 points²."""
    return 900.0 * np.asarray(mw, dtype=float) / max_mw


def site_map(comp: Comparison) -> Figure:
    """World map (lon/lat degrees) of the sites each scenario opens.

    Marker area is proportional to installed IT power (MW); one colour per scenario. Markers are
    hollow so that sites opened in several scenarios stay visible. Sites without coordinates are
    counted in a note under the map.
    """
    ds = comp.dataset
    labels = _labels(comp)
    fig = _figure(11.0, 5.6)
    ax = fig.add_subplot()
    ax.add_collection(world_outlines())
    ax.set_xlim(-180, 180)
    ax.set_ylim(-60, 85)
    ax.set_aspect("equal")
    ax.set_xlabel("longitude, degrees")
    ax.set_ylabel("latitude, degrees")
    handles: list[Line2D] = []
    missing = 0
    if "installed_it_mw" in ds and "site_lat" in ds.coords:
        mw = ds["installed_it_mw"].where(ds["open"], 0.0)
        max_mw = float(mw.max()) if float(mw.max()) > 0 else 1.0
        lat, lon = ds["site_lat"].values.astype(float), ds["site_lon"].values.astype(float)
        for lab, col in zip(labels, _colors(len(labels)), strict=True):
            v = mw.sel(scenario=lab).values.astype(float)
            opened = v > 0
            ok = opened & np.isfinite(lat) & np.isfinite(lon)
            missing += int((opened & ~ok).sum())
            if ok.any():
                ax.scatter(lon[ok], lat[ok], s=_size_points2(v[ok], max_mw), facecolors="none", edgecolors=[col],
                           linewidths=1.8, zorder=3)
                handles.append(Line2D([], [], marker="o", ls="", mfc="none", mec=col, mew=1.8, label=lab))
        size_handles = [Line2D([], [], marker="o", ls="", mfc="none", mec="0.3",
                               markersize=float(np.sqrt(_size_points2(np.array([r]), max_mw))[0]),
                               label=f"{r:g} MW") for r in _nice_sizes(max_mw)]
        leg = ax.legend(handles=handles, title="scenario", loc="lower left", fontsize=8, frameon=True)
        ax.add_artist(leg)
        ax.legend(handles=size_handles, title="installed IT", loc="lower right", fontsize=8, frameon=True,
                  labelspacing=2.2, borderpad=1.2, handlelength=3.0, handletextpad=1.2)
    note = f"; {missing} opened site(s) without coordinates not shown" if missing else ""
    ax.set_title(f"Opened sites (marker area ∝ installed IT MW){note}")
    return fig


def _nice_sizes(max_mw: float) -> list[float]:
    """Up to three round reference sizes (MW) for the marker legend, the largest ≤ max_mw."""
    if max_mw <= 0:
        return []
    top = 10 ** np.floor(np.log10(max_mw))
    for m in (5, 2, 1):
        if m * top <= max_mw:
            top *= m
            break
    return [float(f"{top * f:.2g}") for f in (0.1, 0.5, 1.0)]


def _run_dataset(run: Run | xr.Dataset | Any) -> tuple[str, xr.Dataset]:
    if isinstance(run, xr.Dataset):
        return str(run.attrs.get("scenario", "")), run
    ds = getattr(run, "dataset", None)
    if ds is None:
        raise ValueError(f"{getattr(run, 'label', 'run')}: no plan, so no hourly results to plot")
    label = getattr(run, "label", None) or str(ds.attrs.get("scenario", ""))
    return label, ds


def hourly_power_price(run: Run | xr.Dataset | Any) -> Figure:
    """Hourly facility power (MW, left axis) and energy price (USD/MWh, right axis) at one site.

    The site is the run's largest by installed IT power (``installed_it_mw``). ``run`` is a
    :class:`~optimizer.report.compare.Run`, a :class:`~optimizer.plan.Plan` or a results Dataset.
    """
    label, ds = _run_dataset(run)
    it = ds["installed_it_mw"]
    if float(it.max()) <= 0:
        raise ValueError(f"{label}: no site has installed IT power")
    site = str(it["site"].values[int(np.argmax(it.values))])
    t = ds["time"].values
    power = ds["facility_power_mw"].sel(site=site).values
    price = ds["energy_price_usd_per_mwh"].sel(site=site).values
    fig = _figure(9.0, 4.0)
    ax = fig.add_subplot()
    ax.step(t, power, where="post", color="#3182bd", label="facility power")
    ax.set_ylabel("facility power, MW", color="#3182bd")
    ax.set_ylim(0, max(float(np.nanmax(power)), 1e-9) * 1.15)
    ax2 = ax.twinx()
    ax2.step(t, price, where="post", color="#e6550d", label="energy price")
    ax2.set_ylabel("energy price, USD/MWh", color="#e6550d")
    country = str(ds["site_country"].sel(site=site).values) if "site_country" in ds.coords else ""
    ax.set_title(f"{label}: hourly power and price at {site}" + (f" ({country})" if country else "")
                 + f", {float(it.sel(site=site)):.3g} MW IT installed")
    ax.set_xlabel("time (UTC)" if np.issubdtype(np.asarray(t).dtype, np.datetime64) else "hour")
    ax.grid(alpha=0.3)
    fig.legend(handles=[*ax.get_lines(), *ax2.get_lines()], loc="outside lower center", ncols=2, frameon=False)
    if np.issubdtype(np.asarray(t).dtype, np.datetime64):
        loc = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    return fig


def trade_heatmap(comp: Comparison) -> Figure:
    """Token trade: tokens per year (input + output, trillions) served from sites in one country
    (rows) to markets in a country (columns), one panel per scenario with a plan.

    Panels share the market-country columns and one colour scale, so they compare directly.
    """
    ds = comp.dataset
    labels = [lab for lab, r in zip(_labels(comp), comp.runs, strict=True) if r.dataset is not None]
    if "trade_tokens_per_year" not in ds or not labels:
        fig = _figure(5.0, 2.0)
        fig.add_subplot().text(0.5, 0.5, "no plan", ha="center", va="center")
        return fig
    tm = ds["trade_tokens_per_year"].sel(scenario=labels) / 1e12
    cols = [c for c in tm["to_country"].values if float(tm.sel(to_country=c).sum()) > 0]
    rows = {lab: [c for c in tm["from_country"].values if float(tm.sel(scenario=lab, from_country=c).sum()) > 0]
            for lab in labels}
    heights = [max(len(r), 1) + 1.2 for r in rows.values()]
    fig = _figure(max(6.0, 0.62 * len(cols) + 2.8), 0.42 * sum(heights) + 1.0)
    axes = fig.subplots(len(labels), 1, squeeze=False, sharex=True, gridspec_kw={"height_ratios": heights})[:, 0]
    vmax = float(tm.max()) if float(tm.max()) > 0 else 1.0
    im = None
    for ax, lab in zip(axes, labels, strict=True):
        r = rows[lab] or list(tm["from_country"].values[:1])
        v = tm.sel(scenario=lab, from_country=r, to_country=cols).values
        im = ax.imshow(v, cmap="Blues", aspect="auto", vmin=0.0, vmax=vmax, interpolation="nearest")
        ax.set_yticks(range(len(r)), [str(c) for c in r])
        ax.set_title(lab, fontsize=9, loc="left")
        for (i, j), val in np.ndenumerate(v):
            if val > 0:
                ax.text(j, i, f"{val:.0f}" if val >= 100 else f"{val:.2g}", ha="center", va="center", fontsize=7,
                        color="white" if val > 0.6 * vmax else "black")
    assert im is not None
    axes[-1].set_xticks(range(len(cols)), [str(c) for c in cols])
    axes[-1].set_xlabel("market country")
    fig.supylabel("serving country", fontsize=10)
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="trillion tokens/year (input + output)")
    fig.suptitle("Token trade: serving country → market country")
    return fig


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "run"


def _save(fig: Figure, path: Path) -> Path:
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=DPI))
    return path


def write_charts(comp: Comparison, out_dir: str | Path) -> list[Path]:
    """Write every chart of ``comp`` as PNG into ``out_dir`` (each atomically) and return the paths.

    Files: ``cost_per_mtok.png``, ``efficiency.png``, ``site_map.png``, ``trade.png`` and one
    ``hourly_power_price_<scenario>.png`` per scenario with a plan.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        _save(cost_stack(comp), out / "cost_per_mtok.png"),
        _save(efficiency_scatter(comp), out / "efficiency.png"),
        _save(site_map(comp), out / "site_map.png"),
        _save(trade_heatmap(comp), out / "trade.png"),
    ]
    for r in comp.runs:
        if r.dataset is not None and float(r.dataset["installed_it_mw"].max()) > 0:
            paths.append(_save(hourly_power_price(r), out / f"hourly_power_price_{_slug(r.label)}.png"))
    return paths
