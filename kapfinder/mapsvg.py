"""A map the server draws: where the clinics on a page are relative to the searched point.

No third-party request by default. The picture is a Web Mercator view with a latitude/longitude
graticule, a scale bar, the searched point, the search radius and a numbered marker per clinic
(the numbers are the list's). Only when an operator sets a tile server (``KAPFINDER_TILE_URL``,
``{z}/{x}/{y}`` placeholders) are raster tiles placed under it; Web Mercator is what tiles use, so
they line up.

This module computes geometry only (plain numbers and slugs); the ``_macros/map.html`` macro turns
it into SVG and translated text. No Flask here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from .geo import distance_mi

WIDTH = 480
HEIGHT = 360
PADDING = 30  # px kept clear around the outermost points (markers have a radius of 17 px)
MIN_SPAN_MI = 3.0  # never zoom in closer than this across the shorter side
EARTH_CIRCUMFERENCE_MI = 24901.46  # 2π × 6371.0088 km, in miles
GRID_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
SCALE_STEPS_MI = (0.5, 1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
COMPASS = ("n", "ne", "e", "se", "s", "sw", "w", "nw")
MAX_TILES = 48


@dataclass(frozen=True)
class Marker:
    """One numbered clinic on the map."""
    number: int
    name: str
    anchor: str  # the element id in the list this marker links to
    x: float
    y: float
    distance_mi: float | None  # from the searched point, rounded to 0.1
    direction: str | None  # compass slug from the searched point: n, ne, e, ...


@dataclass(frozen=True)
class GridLine:
    kind: str  # "lat" (horizontal) or "lon" (vertical)
    value: float  # degrees
    position: float  # y for lat lines, x for lon lines

    @property
    def degrees(self) -> str:
        return f"{abs(self.value):g}"

    @property
    def hemisphere(self) -> str:
        """N, S, E or W: templates put it into words (Spanish writes W as O)."""
        if self.kind == "lat":
            return "N" if self.value >= 0 else "S"
        return "E" if self.value >= 0 else "W"

    @property
    def label(self) -> str:
        return f"{self.degrees}°{self.hemisphere}"


@dataclass(frozen=True)
class Tile:
    href: str
    x: float
    y: float
    size: float


@dataclass
class MapPicture:
    width: int
    height: int
    markers: list[Marker]
    grid: list[GridLine]
    centre: tuple[float, float] | None = None  # the searched point, in px
    centre_label: str | None = None
    radius_px: float | None = None
    radius_mi: int | None = None
    scale_mi: float = 1
    scale_px: float = 0
    tiles: list[Tile] = field(default_factory=list)

    @property
    def lat_lines(self) -> list[GridLine]:
        return [g for g in self.grid if g.kind == "lat"]

    @property
    def lon_lines(self) -> list[GridLine]:
        return [g for g in self.grid if g.kind == "lon"]

    def labelled(self, line: GridLine) -> bool:
        """Whether a grid line has room for its label (none at the edges or under the scale bar)."""
        if line.kind == "lon":
            return 4 <= line.position <= self.width - 56
        return 40 <= line.position <= self.height - 20

    @property
    def radius_shown(self) -> bool:
        """Whether the search-radius circle is (at least partly) inside the picture."""
        if not self.radius_px or not self.centre:
            return False
        return self.radius_px < max(self.width, self.height) * 0.9


# --- projection ----------------------------------------------------------------------------------

def world_x(lon: float) -> float:
    return (lon + 180.0) / 360.0


def world_y(lat: float) -> float:
    lat = max(min(lat, 85.0), -85.0)
    return (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0


def lat_of_world_y(y: float) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * y))))


def miles_per_world_unit(lat: float) -> float:
    return EARTH_CIRCUMFERENCE_MI * math.cos(math.radians(lat))


def compass(lat1: float, lon1: float, lat2: float, lon2: float) -> str | None:
    """Which way point 2 lies from point 1, to eight compass points (None when they coincide)."""
    if abs(lat1 - lat2) < 1e-6 and abs(lon1 - lon2) < 1e-6:
        return None
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dlon = math.radians(lon2 - lon1)
    bearing = math.degrees(math.atan2(math.sin(dlon) * math.cos(phi2),
                                      math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlon)))
    return COMPASS[int(((bearing + 360.0) % 360.0 + 22.5) // 45) % 8]


# --- drawing -------------------------------------------------------------------------------------

def draw(points: Iterable[dict[str, Any]], centre: tuple[float, float] | None = None, *,
         centre_label: str | None = None, radius_mi: int | None = None, tile_url: str | None = None,
         width: int = WIDTH, height: int = HEIGHT) -> MapPicture | None:
    """Lay out ``points`` (dicts with number, name, anchor, lat, lon) around ``centre`` (lat, lon).

    Returns None when there is nothing to place.
    """
    points = [p for p in points if p.get("lat") is not None and p.get("lon") is not None]
    if not points and centre is None:
        return None
    coords = [(p["lat"], p["lon"]) for p in points] + ([centre] if centre else [])
    xs = [world_x(lon) for _, lon in coords]
    ys = [world_y(lat) for lat, _ in coords]
    mid_lat = (max(lat for lat, _ in coords) + min(lat for lat, _ in coords)) / 2
    min_span = MIN_SPAN_MI / miles_per_world_unit(mid_lat)

    min_x, max_x, min_y, max_y = min(xs), max(xs), min(ys), max(ys)
    span_x = max(max_x - min_x, min_span)
    span_y = max(max_y - min_y, min_span)
    inner_w, inner_h = width - 2 * PADDING, height - 2 * PADDING
    scale = min(inner_w / span_x, inner_h / span_y)  # px per world unit, the same both ways
    cx, cy = (min_x + max_x) / 2, (min_y + max_y) / 2
    left, top = cx - width / 2 / scale, cy - height / 2 / scale

    def px(lat: float, lon: float) -> tuple[float, float]:
        return round((world_x(lon) - left) * scale, 1), round((world_y(lat) - top) * scale, 1)

    markers = []
    for p in points:
        x, y = px(p["lat"], p["lon"])
        far = direction = None
        if centre:
            far = math.floor(distance_mi(centre[0], centre[1], p["lat"], p["lon"]) * 10 + 0.5) / 10
            direction = compass(centre[0], centre[1], p["lat"], p["lon"])
        markers.append(Marker(number=p["number"], name=p["name"], anchor=p["anchor"], x=x, y=y,
                              distance_mi=far, direction=direction))

    picture = MapPicture(width=width, height=height, markers=markers,
                         grid=_graticule(left, top, scale, width, height), centre_label=centre_label)
    if centre:
        picture.centre = px(*centre)
        if radius_mi:
            picture.radius_mi = radius_mi
            picture.radius_px = round(radius_mi / miles_per_world_unit(centre[0]) * scale, 1)
    view_mi = width / scale * miles_per_world_unit(mid_lat)
    picture.scale_mi = max([s for s in SCALE_STEPS_MI if s <= view_mi / 4] or [SCALE_STEPS_MI[0]])
    picture.scale_px = round(picture.scale_mi / miles_per_world_unit(mid_lat) * scale, 1)
    if tile_url:
        picture.tiles = _tiles(tile_url, left, top, scale, width, height)
    return picture


def _graticule(left: float, top: float, scale: float, width: int, height: int) -> list[GridLine]:
    west = left * 360.0 - 180.0
    east = (left + width / scale) * 360.0 - 180.0
    north = lat_of_world_y(top)
    south = lat_of_world_y(top + height / scale)
    span = max(east - west, north - south)
    step = next((s for s in GRID_STEPS if span / s <= 6), GRID_STEPS[-1])
    lines: list[GridLine] = []
    for first, last, kind in ((west, east, "lon"), (south, north, "lat")):
        value = math.ceil(first / step) * step
        while value <= last:
            value = round(value, 6)
            if kind == "lon":
                position = round((world_x(value) - left) * scale, 1)
            else:
                position = round((world_y(value) - top) * scale, 1)
            lines.append(GridLine(kind=kind, value=value, position=position))
            value += step
    return lines


def _tiles(tile_url: str, left: float, top: float, scale: float, width: int, height: int) -> list[Tile]:
    """Raster tiles covering the view, at the zoom whose 256-px tiles come closest to 1:1."""
    zoom = max(0, min(18, round(math.log2(scale / 256.0))))
    count = 2 ** zoom
    first_x, last_x = math.floor(left * count), math.floor((left + width / scale) * count)
    first_y, last_y = math.floor(top * count), math.floor((top + height / scale) * count)
    if (last_x - first_x + 1) * (last_y - first_y + 1) > MAX_TILES:
        return []
    size = round(scale / count, 2)
    tiles = []
    for ty in range(max(first_y, 0), min(last_y, count - 1) + 1):
        for tx in range(first_x, last_x + 1):
            href = (tile_url.replace("{z}", str(zoom)).replace("{x}", str(tx % count))
                    .replace("{y}", str(ty)).replace("{s}", "a"))
            tiles.append(Tile(href=href, x=round((tx / count - left) * scale, 2),
                              y=round((ty / count - top) * scale, 2), size=size))
    return tiles


# --- what the pages hand in ----------------------------------------------------------------------

def for_results(page: Any, tile_url: str | None = None, centre_label: str | None = None) -> MapPicture | None:
    """The map of one results page (a ``search.SearchPage``): its clinics that have a place on the
    map (at-home programmes matched by state have none), numbered as the list numbers them.
    ``centre_label`` names the searched place in the reader's language (default: the location's label)."""
    if page is None or not page.hits or page.location is None:
        return None
    first = (page.page - 1) * page.per_page + 1
    points = [{"number": first + i, "name": hit.clinic.name, "anchor": f"result-{hit.clinic.id}",
               "lat": hit.clinic.lat, "lon": hit.clinic.lon}
              for i, hit in enumerate(page.hits) if hit.match != "state"]
    if not points:
        return None
    location = page.location
    centre = (location.lat, location.lon) if location.has_point else None
    radius = page.criteria.radius if centre and location.kind != "state" else None
    return draw(points, centre, centre_label=centre_label or location.label, radius_mi=radius, tile_url=tile_url)


def for_clinic(clinic: Any, tile_url: str | None = None) -> MapPicture | None:
    """The map on a clinic's page: the clinic, with a graticule and scale to place it."""
    if clinic.lat is None or clinic.lon is None or "in-clinic" not in (clinic.settings or []):
        return None
    return draw([{"number": 1, "name": clinic.name, "anchor": "clinic-name", "lat": clinic.lat, "lon": clinic.lon}],
                None, tile_url=tile_url)
