"""Offline US gazetteer, location parsing and great-circle distance. No Flask, no network.

``resolve_location`` turns what a patient typed (a ZIP, ZIP+4, "City, ST", "City, State Name",
a state alone, "lat,lon", or a street address ending in a ZIP or in "City, ST") into a
:class:`ResolvedLocation`, using only the ``gazetteer_*`` tables that ``flask db upgrade`` fills from
the ``zipcodes`` package. What it cannot resolve comes back as an error carrying suggestions (place
names a few typing slips away, found with rapidfuzz), never as a silent guess.
"""
from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from . import vocab
from .db import raw_fetchall
from .errors import AmbiguousLocation, InvalidParameter, UnknownLocation
from .models import GazetteerPlace, GazetteerZip

EARTH_RADIUS_KM = 6371.0088
KM_PER_MILE = 1.609344
EARTH_RADIUS_MI = EARTH_RADIUS_KM / KM_PER_MILE
STATE_FROM_POINT_MI = 50.0

ZIP_RE = re.compile(r"^\s*(\d{5})(?:[-\s]?\d{4})?\s*$")
POINT_RE = re.compile(r"^\s*([+-]?\d{1,3}(?:\.\d+)?)\s*,\s*([+-]?\d{1,3}(?:\.\d+)?)\s*$")
#: An address or "City, ST" ending in a ZIP (ZIP+4 too): "123 Main St, Austin, TX 78701-1234".
TRAILING_ZIP_RE = re.compile(r"^(?P<before>.*?\S)[\s,]+(?P<zip>\d{5})(?:-\d{4}|\s?\d{4})?\s*$")
#: A trailing country, as address forms add it: "Austin, TX 78701, USA".
COUNTRY_RE = re.compile(r"(?<=\S)[\s,]+(?:u\.?\s?s\.?(?:\s?a\.?)?|united\s+states(?:\s+of\s+america)?)\s*$",
                        re.IGNORECASE)
_TOKEN_ALIASES = {"st": "saint", "ste": "sainte", "ft": "fort", "mt": "mount"}

#: How many typing slips (insertions, deletions, substitutions, swaps of neighbours) a suggestion
#: may be away from what was typed, by the length of the typed name; 3 letters or fewer: none.
_SLIPS_BY_LENGTH = ((10, 3), (6, 2), (4, 1))
SUGGESTIONS = 3


@dataclass(frozen=True)
class ResolvedLocation:
    input: str
    label: str
    kind: str  # zip | city | state | point
    state: str | None
    lat: float | None = None
    lon: float | None = None

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None

    def as_json(self) -> dict[str, Any]:
        return {"input": self.input, "label": self.label, "lat": self.lat, "lon": self.lon}


# --- distance -------------------------------------------------------------------------------

def distance_mi(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle miles on the sphere of DESIGN.md (radius 6371.0088 km).

    geopy's ``great_circle`` formula step by step (the same operations in the same order, so the
    same float result; a test holds them equal), without building two ``Point`` objects and a
    ``Distance`` per call: ranking a page computes dozens of these, and this is ~20× faster.
    """
    if abs(lon1) > 180 or abs(lon2) > 180 or abs(lat1) > 90 or abs(lat2) > 90:
        from geopy.distance import great_circle  # geopy normalises these; importing it costs ~6 MB

        return great_circle((lat1, lon1), (lat2, lon2), radius=EARTH_RADIUS_KM).km / KM_PER_MILE
    lat1, lng1, lat2, lng2 = math.radians(lat1), math.radians(lon1), math.radians(lat2), math.radians(lon2)
    sin_lat1, cos_lat1 = math.sin(lat1), math.cos(lat1)
    sin_lat2, cos_lat2 = math.sin(lat2), math.cos(lat2)
    delta_lng = lng2 - lng1
    cos_delta_lng, sin_delta_lng = math.cos(delta_lng), math.sin(delta_lng)
    d = math.atan2(math.sqrt((cos_lat2 * sin_delta_lng) ** 2
                             + (cos_lat1 * sin_lat2 - sin_lat1 * cos_lat2 * cos_delta_lng) ** 2),
                   sin_lat1 * sin_lat2 + cos_lat1 * cos_lat2 * cos_delta_lng)
    return EARTH_RADIUS_KM * d / KM_PER_MILE


def round_tenth(value: float) -> float:
    """One decimal, half away from zero, the same everywhere a distance is shown or ranked."""
    return math.floor(value * 10 + 0.5) / 10


def mi_to_km(miles: float) -> float:
    return miles * KM_PER_MILE


def cos_of_radius(radius_mi: float) -> float:
    """Cosine of the central angle of ``radius_mi``: points within the radius have a dot product ≥ it."""
    return math.cos(min(radius_mi / EARTH_RADIUS_MI, math.pi))


def bounding_box(lat: float, lon: float, radius_mi: float) -> tuple[float, float, float, float, bool]:
    """(south, north, west, east, wraps) enclosing every point within ``radius_mi``.

    ``wraps`` is true when the box crosses the antimeridian (west > east then).
    """
    angle = math.degrees(radius_mi / EARTH_RADIUS_MI)
    south, north = lat - angle, lat + angle
    if south <= -90 or north >= 90:
        return max(south, -90.0), min(north, 90.0), -180.0, 180.0, False
    # Widest longitude span of a spherical cap (exact, not the equator approximation).
    dlon = math.degrees(math.asin(min(1.0, math.sin(math.radians(angle)) / math.cos(math.radians(lat)))))
    west, east = lon - dlon, lon + dlon
    if west < -180:
        return south, north, west + 360, east, True
    if east > 180:
        return south, north, west, east - 360, True
    return south, north, west, east, False


# --- normalisation ---------------------------------------------------------------------------

def _fold(text: str) -> str:
    """Case, accents, punctuation and spacing folded: " St. Louis,MO " → "st louis mo"."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    folded = re.sub(r"[.'’`]", "", folded)
    folded = re.sub(r"[^a-z0-9]+", " ", folded)
    return " ".join(folded.split())


def _key(tokens: Iterable[str]) -> str:
    return " ".join(_TOKEN_ALIASES.get(tok, tok) for tok in tokens)


def normalise_place(text: str) -> str:
    """A comparison key: case, accents, punctuation, spacing, St./Saint, Ft/Fort, Mt/Mount folded."""
    return _key(_fold(text).split())


# State codes and names are matched folded but without the aliases ("MT" is Montana, not "mount").
_STATE_BY_KEY: dict[str, str] = {}
for _t in vocab.STATES:
    _STATE_BY_KEY[_fold(_t.slug)] = _t.slug
    _STATE_BY_KEY[_fold(_t.label)] = _t.slug
_STATE_BY_KEY["washington dc"] = "DC"
_STATE_BY_KEY["dc"] = "DC"


def state_code(text: str) -> str | None:
    """"tx", "Texas", " TEXAS ", "MT" → the code; anything else → None."""
    return _STATE_BY_KEY.get(_fold(text))


# --- gazetteer build (used by the data migration) ---------------------------------------------

def gazetteer_rows(records: Iterable[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """ZIP rows and place rows from ``zipcodes.list_all()`` records (DESIGN.md → Locations)."""
    zips: list[dict] = []
    standard_points: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    any_points: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    spellings: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for rec in records:
        state = rec.get("state")
        if not rec.get("active") or state not in vocab.STATES or rec.get("zip_code_type") == "MILITARY":
            continue
        lat, lon = float(rec["lat"]), float(rec["long"])
        if lat == 0 and lon == 0:
            continue
        zips.append({
            "zip": rec["zip_code"], "zip_type": rec["zip_code_type"], "city": rec["city"], "state": state,
            "county": rec.get("county") or None, "timezone": rec.get("timezone") or None, "lat": lat, "lon": lon,
        })
        for name in [rec["city"], *rec.get("acceptable_cities", [])]:
            key = (normalise_place(name), state)
            if not key[0]:
                continue
            spellings[key][name] += 1
            any_points[key].append((lat, lon))
            if rec["zip_code_type"] == "STANDARD":
                standard_points[key].append((lat, lon))
    places = []
    for key, points in any_points.items():
        # A city's point is the mean of its STANDARD ZIP centroids; a town with only PO boxes
        # or unique ZIPs still resolves, to the mean of those.
        use = standard_points.get(key) or points
        places.append({
            "name_key": key[0], "state": key[1], "name": spellings[key].most_common(1)[0][0],
            "lat": sum(p[0] for p in use) / len(use), "lon": sum(p[1] for p in use) / len(use),
            "zip_count": len(use),
        })
    return zips, places


def load_gazetteer(connection) -> int:
    """Fill the gazetteer tables from the pinned ``zipcodes`` package; returns the ZIP count."""
    import zipcodes

    zips, places = gazetteer_rows(zipcodes.list_all())
    connection.execute(GazetteerPlace.__table__.delete())
    connection.execute(GazetteerZip.__table__.delete())
    for start in range(0, len(zips), 5000):
        connection.execute(insert(GazetteerZip.__table__), zips[start:start + 5000])
    for start in range(0, len(places), 5000):
        connection.execute(insert(GazetteerPlace.__table__), places[start:start + 5000])
    return len(zips)


# --- resolution -------------------------------------------------------------------------------

def _place_label(name: str, state: str) -> str:
    return f"{name}, {state}"


def lookup_zip(session: Session, zip5: str) -> GazetteerZip | None:
    return session.get(GazetteerZip, zip5)


class _ZipRow(NamedTuple):
    city: str
    state: str
    lat: float
    lon: float


class _ZipTable:
    """Every ZIP's place and centroid, in memory (~1 MB for 41,000 ZIPs): the gazetteer only changes
    with a migration, and a ZIP search then needs no query at all."""

    def __init__(self, rows: list[tuple]):
        rows = sorted(rows)
        places: dict[tuple[str, str], int] = {}
        self.zips = np.array([r[0] for r in rows], dtype="S5")
        self.place = np.array([places.setdefault((r[1], r[2]), len(places)) for r in rows], dtype=np.int32)
        self.lat = np.array([r[3] for r in rows], dtype=np.float64)
        self.lon = np.array([r[4] for r in rows], dtype=np.float64)
        self.places = ["\t".join(key) for key in places]

    def get(self, zip5: str) -> _ZipRow | None:
        key = zip5.encode()
        i = int(np.searchsorted(self.zips, key))
        if i >= len(self.zips) or self.zips[i] != key:
            return None
        city, state = self.places[int(self.place[i])].split("\t")
        return _ZipRow(city, state, float(self.lat[i]), float(self.lon[i]))


_ZIP_TABLES: dict[Any, _ZipTable] = {}
_ZIP_TABLES_LOCK = threading.Lock()


def _zip_row(session: Session, zip5: str) -> _ZipRow | GazetteerZip | None:
    """A ZIP's place and centroid, from this process's copy of the ZIP table (read once per database)."""
    url = session.get_bind().url
    table = _ZIP_TABLES.get(url)
    if table is None:
        with _ZIP_TABLES_LOCK:
            table = _ZIP_TABLES.get(url)
            if table is None:
                rows = raw_fetchall(session, "SELECT zip, city, state, lat, lon FROM gazetteer_zip")
                if not rows:  # a database not loaded yet: ask it each time until it is
                    return lookup_zip(session, zip5)
                table = _ZIP_TABLES[url] = _ZipTable(rows)
    return table.get(zip5)


def _places(session: Session, key: str, state: str | None = None) -> list[GazetteerPlace]:
    stmt = select(GazetteerPlace).where(GazetteerPlace.name_key == key)
    if state:
        stmt = stmt.where(GazetteerPlace.state == state)
    return list(session.scalars(stmt.order_by(GazetteerPlace.zip_count.desc(), GazetteerPlace.state)))


def nearest_zip(session: Session, lat: float, lon: float, within_mi: float) -> GazetteerZip | None:
    south, north, west, east, wraps = bounding_box(lat, lon, within_mi)
    stmt = select(GazetteerZip).where(GazetteerZip.lat.between(south, north))
    if not wraps:
        stmt = stmt.where(GazetteerZip.lon.between(west, east))
    best, best_d = None, within_mi
    for row in session.scalars(stmt):
        d = distance_mi(lat, lon, row.lat, row.lon)
        if d <= best_d:
            best, best_d = row, d
    return best


def resolve_point(session: Session, lat: float, lon: float, text: str | None = None,
                  field: str = "location") -> ResolvedLocation:
    if not (math.isfinite(lat) and math.isfinite(lon)) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidParameter(field, "coordinates_out_of_range")
    near = nearest_zip(session, lat, lon, STATE_FROM_POINT_MI)
    label = f"{lat:.3f}, {lon:.3f}"
    return ResolvedLocation(text if text is not None else label, label, "point",
                            near.state if near else None, lat, lon)


def resolve_location(session: Session, text: str, field: str = "location", cache=None) -> ResolvedLocation:
    """Resolve a patient's location text, offline. Raises UnknownLocation (with suggestions) or
    AmbiguousLocation (choices, largest place first).

    With a ``cache`` (``kapfinder.cache``: Redis shared by every process, or in-process), the
    gazetteer's answer for the same text — found, unknown with its suggestions, or ambiguous — is reused.
    """
    raw = text.strip()
    if cache is None or POINT_RE.match(raw):
        return _resolve(session, raw, field)
    key = "geo:v2:" + raw.lower()
    hit = cache.get(key)
    if hit is None:
        try:
            found = _resolve(session, raw, field)
            hit = {"found": [found.label, found.kind, found.state, found.lat, found.lon]}
        except UnknownLocation as err:
            params = {k: v for k, v in err.params.items() if k != "location"}
            hit = {"unknown": {"reason": err.reason, "params": params, "suggestions": err.suggestions or []}}
        except AmbiguousLocation as err:
            hit = {"ambiguous": err.choices}
        cache.set(key, hit)
    if "found" in hit:
        label, kind, state, lat, lon = hit["found"]
        return ResolvedLocation(raw, label, kind, state, lat, lon)
    if "ambiguous" in hit:
        raise AmbiguousLocation(raw, hit["ambiguous"], field)
    unknown = hit["unknown"]
    raise UnknownLocation(raw, field, unknown["reason"], unknown["suggestions"], **unknown["params"])


def _resolve(session: Session, raw: str, field: str) -> ResolvedLocation:
    if not raw:
        raise InvalidParameter(field, "required")
    if m := ZIP_RE.match(raw):
        row = _zip_row(session, m.group(1))
        if row is None:
            raise UnknownLocation(raw, field, suggestions=[])
        return ResolvedLocation(raw, _place_label(row.city, row.state), "zip", row.state, row.lat, row.lon)
    if m := POINT_RE.match(raw):
        return resolve_point(session, float(m.group(1)), float(m.group(2)), raw, field)
    text = COUNTRY_RE.sub("", raw)
    if m := TRAILING_ZIP_RE.match(text):
        return _resolve_with_zip(session, raw, m.group("before"), m.group("zip"), field)
    return _resolve_place(session, raw, text, field)


def _resolve_with_zip(session: Session, raw: str, before: str, zip5: str, field: str) -> ResolvedLocation:
    """"New York, NY 10001", "123 Main St, Austin, TX 78701": the ZIP decides, once it agrees with a
    state typed before it; an unknown ZIP or one in another state is an error offering what was meant."""
    row = lookup_zip(session, zip5)
    if row is None:
        raise UnknownLocation(raw, field, "unknown_zip", _suggestions_for(session, before), zip=zip5)
    typed = _typed_state(before)
    # "Washington 20001" names the city, not the state: no conflict when the words are the ZIP's city.
    if typed is not None and typed[0] != row.state and typed[1] != _fold(row.city):
        by_zip = {"label": f"{zip5} ({_place_label(row.city, row.state)})", "location": zip5}
        others = [s for s in _suggestions_for(session, before) if s["location"] != zip5]
        raise UnknownLocation(raw, field, "zip_not_in_state", [by_zip, *others[:1]], zip=zip5,
                              zip_state=vocab.STATE_NAMES[row.state], state=vocab.STATE_NAMES[typed[0]])
    return ResolvedLocation(raw, _place_label(row.city, row.state), "zip", row.state, row.lat, row.lon)


def _typed_state(before: str) -> tuple[str, str] | None:
    """The state (code, words as typed) ending the part before a ZIP, unless that part is a street line."""
    tokens = _fold(before.rsplit(",", 1)[-1]).split()
    if not tokens or _street_like(tokens):
        return None
    for n in (3, 2, 1):
        if len(tokens) >= n and (code := _STATE_BY_KEY.get(" ".join(tokens[-n:]))):
            return code, " ".join(tokens[-n:])
    return None


def _street_like(tokens: list[str]) -> bool:
    """A street line starts with a house number: "123 main st austin"."""
    return bool(tokens) and tokens[0].isdigit()


def _resolve_place(session: Session, raw: str, text: str, field: str) -> ResolvedLocation:
    """Everything without a ZIP: "City, ST", "City ST", a state, a bare city, or a street address
    ending in one of those ("123 Main St, Austin, TX")."""
    segments = [folded for folded in (_fold(part) for part in text.split(",")) if folded]
    if not segments:
        raise UnknownLocation(raw, field, suggestions=[])
    if len(segments) > 1 and (code := _STATE_BY_KEY.get(segments[-1])):
        city = segments[-2].split()
        if place := _city_in_state(session, city, code):
            return _city_location(raw, place)
        raise UnknownLocation(raw, field, suggestions=_suggest(session, _key(city), code))
    if len(segments) == 1 and (code := _STATE_BY_KEY.get(segments[0])):
        return ResolvedLocation(raw, vocab.STATE_NAMES[code], "state", code)
    tokens = segments[-1].split()
    # Before the last comma only a street may stand ("123 Main St, Austin TX"); "Paris, France" is
    # not taken for a Paris somewhere in the States.
    street = _street_like(segments[0].split())
    if len(segments) > 1 and not street:
        raise UnknownLocation(raw, field, suggestions=_suggest(session, _key(segments[-2].split())))
    hint = None  # (key, state) the suggestions start from
    # "Austin TX", "Saint Louis Missouri": a trailing state code or name after a city.
    for n in (3, 2, 1):
        if len(tokens) > n and (code := _STATE_BY_KEY.get(" ".join(tokens[-n:]))):
            if place := _city_in_state(session, tokens[:-n], code):
                return _city_location(raw, place)
            hint = hint or (_key(tokens[:-n]), code)
    key = _key(tokens)
    found = _places(session, key)
    if not found and _street_like(tokens):
        found = next((f for i in range(1, len(tokens)) if (f := _places(session, _key(tokens[i:])))), [])
    if not found:
        raise UnknownLocation(raw, field, suggestions=_suggest(session, *(hint or (key, None))))
    if len(found) > 1:
        # Largest place first (most ZIP codes; population is not in the gazetteer): Portland, OR before ME.
        choices = [{"label": _place_label(p.name, p.state), "location": _place_label(p.name, p.state)}
                   for p in found]
        raise AmbiguousLocation(raw, choices, field)
    return _city_location(raw, found[0])


def _city_in_state(session: Session, tokens: list[str], code: str) -> GazetteerPlace | None:
    """The place these words name in the state; for a street line, the longest ending that is one."""
    found = _places(session, _key(tokens), code) if tokens else []
    if not found and _street_like(tokens):
        found = next((f for i in range(1, len(tokens)) if (f := _places(session, _key(tokens[i:]), code))), [])
    return found[0] if found else None


def _city_location(raw: str, place: GazetteerPlace) -> ResolvedLocation:
    return ResolvedLocation(raw, _place_label(place.name, place.state), "city", place.state, place.lat, place.lon)


# --- suggestions for what could not be resolved ------------------------------------------------

def _suggestions_for(session: Session, text: str) -> list[dict[str, str]]:
    """What ``text`` (the part of an address before its ZIP) may mean: the place itself when it
    resolves, the choices when it is ambiguous, else its own suggestions."""
    try:
        loc = _resolve_place(session, text, COUNTRY_RE.sub("", text), "location")
    except AmbiguousLocation as err:
        return err.choices[:SUGGESTIONS]
    except UnknownLocation as err:
        return err.suggestions or []
    return [{"label": loc.label, "location": loc.label}]


def _slips_allowed(length: int) -> int:
    return next((slips for at_least, slips in _SLIPS_BY_LENGTH if length >= at_least), 0)


_PLACE_KEYS: dict[str, tuple[str, ...]] = {}


def _place_keys(session: Session) -> tuple[str, ...]:
    """Every distinct place name key (~25,500; 1.6 MB), read on a process's first unknown place and
    kept, per database: the gazetteer changes only with a migration, and a deploy restarts workers."""
    url = session.get_bind().url.render_as_string(hide_password=True)
    keys = _PLACE_KEYS.get(url)
    if keys is None:
        stmt = select(GazetteerPlace.name_key).distinct().order_by(GazetteerPlace.name_key)
        keys = _PLACE_KEYS[url] = tuple(session.scalars(stmt))
    return keys


def _suggest(session: Session, key: str, state: str | None = None) -> list[dict[str, str]]:
    """Up to three places within a few typing slips of ``key``: fewest slips first, then the larger
    place (more ZIP codes). With a state, only its places, unless it has none near: then the same
    search over every state ("Chicago, IN" → Chicago, IL). About 2 ms over the whole gazetteer."""
    from rapidfuzz import process  # imported on the first unknown place only
    from rapidfuzz.distance import OSA

    if not key or len(key) > 60:  # no place name is longer; a pasted paragraph is not worth scoring
        return []
    near = process.extract(key, _place_keys(session), scorer=OSA.distance, score_cutoff=_slips_allowed(len(key)),
                           limit=200)
    distance = {name_key: d for name_key, d, _index in near}
    if not distance:
        return []
    rows = session.execute(select(GazetteerPlace.name_key, GazetteerPlace.state, GazetteerPlace.name,
                                  GazetteerPlace.zip_count)
                           .where(GazetteerPlace.name_key.in_(list(distance)))).all()
    pool = [r for r in rows if r.state == state] or rows
    # One slip beyond the closest name at most: "Chicago, IN" offers Chicago, IL, not Chico, CA too.
    closest = min(distance[r.name_key] for r in pool)
    pool = [r for r in pool if distance[r.name_key] <= closest + 1]
    pool.sort(key=lambda r: (distance[r.name_key], -r.zip_count, r.state, r.name))
    return [{"label": _place_label(r.name, r.state), "location": _place_label(r.name, r.state)}
            for r in pool[:SUGGESTIONS]]


def timezone_for_zip(session: Session, zip5: str) -> str | None:
    row = lookup_zip(session, zip5)
    return row.timezone if row else None
