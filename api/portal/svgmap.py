"""A map without a tile server: enterprises drawn by longitude and latitude on a plain SVG.

Equirectangular, with longitude scaled by cos(mean latitude) so that shapes keep their
proportions at the latitudes of one city or province; a graticule every whole degree (or tenth
of a degree when the points are close) gives the reader the coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["MapPoint", "SvgMap", "draw"]

WIDTH = 800
HEIGHT = 420
MARGIN = 30
MIN_SPAN_DEG = 0.2  # a single point or a tight cluster still gets some context


@dataclass(frozen=True, slots=True)
class MapPoint:
    id: int
    name: str
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class GridLine:
    x1: float
    y1: float
    x2: float
    y2: float
    tx: float
    ty: float
    label: str


@dataclass(frozen=True, slots=True)
class SvgMap:
    width: int = WIDTH
    height: int = HEIGHT
    points: list[MapPoint] = field(default_factory=list)
    grid: list[GridLine] = field(default_factory=list)


def _step(span: float) -> float:
    return 1.0 if span >= 2 else 0.1


def draw(places: list[tuple[int, str, float, float]]) -> SvgMap:
    """``places``: (id, name, longitude, latitude). Returns the projected points and graticule."""
    if not places:
        return SvgMap()
    lons = [p[2] for p in places]
    lats = [p[3] for p in places]
    mid_lon, mid_lat = (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2
    k = max(math.cos(math.radians(mid_lat)), 0.1)
    half_w = max((max(lons) - min(lons)) * k, MIN_SPAN_DEG) / 2 * 1.15
    half_h = max(max(lats) - min(lats), MIN_SPAN_DEG) / 2 * 1.15
    # one scale for both axes (pixels per projected degree), fitting the drawable box
    scale = min((WIDTH - 2 * MARGIN) / (2 * half_w), (HEIGHT - 2 * MARGIN) / (2 * half_h))

    def x_of(lon: float) -> float:
        return round(WIDTH / 2 + (lon - mid_lon) * k * scale, 1)

    def y_of(lat: float) -> float:
        return round(HEIGHT / 2 - (lat - mid_lat) * scale, 1)

    points = [MapPoint(i, name, x_of(lon), y_of(lat)) for i, name, lon, lat in places]
    lon_lo, lon_hi = mid_lon - WIDTH / 2 / (k * scale), mid_lon + WIDTH / 2 / (k * scale)
    lat_lo, lat_hi = mid_lat - HEIGHT / 2 / scale, mid_lat + HEIGHT / 2 / scale
    grid: list[GridLine] = []
    step = _step(max(lon_hi - lon_lo, lat_hi - lat_lo))
    digits = 0 if step >= 1 else 1
    lon = math.ceil(lon_lo / step) * step
    while lon <= lon_hi and len(grid) < 40:
        x = x_of(lon)
        grid.append(GridLine(x, 0, x, HEIGHT, x + 2, HEIGHT - 4, f"{lon:.{digits}f}°E"))
        lon += step
    lat = math.ceil(lat_lo / step) * step
    while lat <= lat_hi and len(grid) < 80:
        y = y_of(lat)
        grid.append(GridLine(0, y, WIDTH, y, 2, y - 2, f"{lat:.{digits}f}°N"))
        lat += step
    return SvgMap(points=points, grid=grid)
