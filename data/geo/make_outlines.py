"""Regenerate ne_110m_countries.geojson from the Natural Earth copy inside the geopandas 0.14.4 wheel.

Not run at plot time (the planner reads the GeoJSON with the standard library). To rebuild::

    pip download --no-deps -d /tmp/gp geopandas==0.14.4
    cd /tmp/gp && unzip -o geopandas-0.14.4-py3-none-any.whl 'geopandas/datasets/naturalearth_lowres/*'
    pip install pyshp
    python data/geo/make_outlines.py /tmp/gp/geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp

Coordinates are rounded to 0.01 degree (about 1 km), plenty for a world map.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import shapefile  # pyshp, only needed to regenerate the file

OUT = Path(__file__).with_name("ne_110m_countries.geojson")


def main(shp: str) -> None:
    """Write one Feature per country: properties name and iso_a3, geometry as Polygon/MultiPolygon."""
    reader = shapefile.Reader(shp)
    features = []
    for rec, shape in zip(reader.records(), reader.shapes(), strict=True):
        bounds = list(shape.parts) + [len(shape.points)]
        rings = [[[round(x, 2), round(y, 2)] for x, y in shape.points[a:b]]
                 for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        features.append({
            "type": "Feature",
            "properties": {"name": rec["name"], "iso_a3": rec["iso_a3"], "continent": rec["continent"]},
            # every ring as its own polygon: enough for outlines (holes are drawn as outlines too)
            "geometry": {"type": "MultiPolygon", "coordinates": [[r] for r in rings]},
        })
    doc = {"type": "FeatureCollection",
           "source": "Natural Earth 1:110m Admin 0 Countries (public domain), via geopandas 0.14.4 "
                     "geopandas/datasets/naturalearth_lowres; coordinates rounded to 0.01 degree",
           "features": features}
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
