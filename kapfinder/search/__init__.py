"""The search core: ``SearchCriteria`` in, a ranked page of clinics out. No Flask here.

Used by the HTML pages, the JSON API, the HSDS API and the benchmark alike.

Candidates come from the covering ``(status, lat_cell, lon, ...)`` index through a bounding box; the radius test is a
dot product of unit vectors (the cosine of the central angle), so no trigonometry runs in SQL and
the same statement works on SQLite and PostgreSQL. Exact great-circle distances (geopy, sphere of
6371.0088 km) are computed in Python for the rows a page shows and for ranking ties.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping, Sequence

import numpy as np
from sqlalchemy import and_, case, exists, func, literal_column, not_, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from .. import coverage, geo, vocab
from . import index as searchindex
from .cards import ClinicCard, load_cards, load_cards_then
from ..errors import InvalidParameter
from ..models import STALE_AFTER, Clinic, ClinicAtHomeState, ClinicInsurance, unit_vector, utcnow

MAX_VALUE_LENGTH = 200
DEFAULT_RADIUS = 25
RADIUS_RANGE = (1, 500)
DEFAULT_PER_PAGE = 20
PER_PAGE_RANGE = (1, 100)
#: Parameters in the order errors are reported ("field is the first bad parameter").
PARAMETERS = ("location", "lat", "lon", "radius", "method", "insurance", "plan_type", "service",
              "condition", "setting", "accepting", "sort", "page", "per_page")
REPEATABLE = {"method", "condition"}
API_ONLY = {"lat", "lon", "per_page"}
RADIUS_CHOICES = (5, 10, 25, 50, 100, 250)
# Deeper than this, a page's rows are not worth sending back just to find its last distance.
_MAX_RANKED_ROWS = 5000
# Slack on the ranking bucket edge: float error of a dot product near 1 is ~10 cm.
_EDGE_SLACK_MI = 0.001


@dataclass(frozen=True)
class SearchCriteria:
    location: str | None = None
    lat: float | None = None
    lon: float | None = None
    radius: int = DEFAULT_RADIUS
    methods: tuple[str, ...] = ()
    insurance: str | None = None
    plan_type: str | None = None
    service: str | None = None
    conditions: tuple[str, ...] = ()
    setting: str | None = None
    accepting: bool = False
    sort: str | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def has_location(self) -> bool:
        return bool(self.location) or self.lat is not None

    def as_query(self) -> dict[str, Any]:
        """Every normalised parameter, keyed by its public name."""
        return {
            "location": self.location, "lat": self.lat, "lon": self.lon, "radius": self.radius,
            "method": list(self.methods), "insurance": self.insurance, "plan_type": self.plan_type,
            "service": self.service, "condition": list(self.conditions), "setting": self.setting,
            "accepting": self.accepting, "sort": self.sort, "page": self.page, "per_page": self.per_page,
        }

    def to_args(self, **changes: Any) -> list[tuple[str, str]]:
        """(name, value) pairs for a link to this search (page omitted unless changed)."""
        c = replace(self, **changes) if changes else self
        pairs: list[tuple[str, str]] = []
        if c.location:
            pairs.append(("location", c.location))
        if c.lat is not None and c.lon is not None:
            pairs += [("lat", repr(c.lat)), ("lon", repr(c.lon))]
        if c.has_location:
            pairs.append(("radius", str(c.radius)))
        pairs += [("method", m) for m in c.methods]
        for name in ("insurance", "plan_type", "service"):
            if getattr(c, name):
                pairs.append((name, getattr(c, name)))
        pairs += [("condition", s) for s in c.conditions]
        if c.setting:
            pairs.append(("setting", c.setting))
        if c.accepting:
            pairs.append(("accepting", "1"))
        if c.sort:
            pairs.append(("sort", c.sort))
        if "page" in changes and c.page != 1:
            pairs.append(("page", str(c.page)))
        if "per_page" in changes or c.per_page != DEFAULT_PER_PAGE:
            pairs.append(("per_page", str(c.per_page)))
        return pairs


@dataclass
class SearchHit:
    clinic: ClinicCard
    distance_mi: float | None
    match: str | None  # "distance", "state", or None without a location
    coverage: list[dict[str, Any]] | None = None
    #: With a carrier: the services the patient asked about, whose coverage the card leads with.
    leading: tuple[str, ...] = ()

    @property
    def distance_mi_rounded(self) -> float | None:
        return None if self.distance_mi is None else geo.round_tenth(self.distance_mi)


@dataclass
class SearchPage:
    criteria: SearchCriteria
    location: geo.ResolvedLocation | None
    sort: str
    total: int
    page: int
    per_page: int
    pages: int
    hits: list[SearchHit] = field(default_factory=list)
    distance_total: int = 0
    state_total: int = 0

    def query(self) -> dict[str, Any]:
        """The API's ``query`` echo: normalised parameters, the resolved location, the sort used."""
        q = self.criteria.as_query()
        q.pop("lat")
        q.pop("lon")
        q["location"] = self.location.as_json() if self.location else None
        q["sort"] = self.sort
        if self.location is None:
            q["radius"] = None  # no location, no radius
        return q

    @property
    def has_sample(self) -> bool:
        return any(h.clinic.sample for h in self.hits)


# --- parsing ----------------------------------------------------------------------------------

def _check_value(name: str, value: str) -> None:
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidParameter(name, "too_long", max=MAX_VALUE_LENGTH)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidParameter(name, "control_character")


def _int(name: str, value: str, lo: int, hi: int) -> int:
    text = value.strip()
    if not text.lstrip("+-").isdigit() or not text.isascii():
        raise InvalidParameter(name, "not_a_number", min=lo, max=hi)
    number = int(text)
    if not lo <= number <= hi:
        raise InvalidParameter(name, "out_of_range", min=lo, max=hi)
    return number


def _float(name: str, value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise InvalidParameter(name, "not_a_number") from None
    if not math.isfinite(number):
        raise InvalidParameter(name, "not_a_number")
    return number


def _slug(name: str, value: str, vocabulary: vocab.Vocabulary) -> str:
    slug = value.strip()
    if slug not in vocabulary:
        raise InvalidParameter(name, "unknown_value", value=slug)
    return slug


def parse_criteria(args: Mapping[str, Sequence[str]], *, api: bool) -> SearchCriteria:
    """Validate query parameters (a name → list of values mapping) into criteria.

    Raises InvalidParameter for the first bad parameter in ``PARAMETERS`` order. Empty values count
    as absent (a GET form sends empty fields); unknown parameter names are ignored.
    """
    values: dict[str, list[str]] = {}
    for name in PARAMETERS:
        if name in API_ONLY and not api:
            continue
        given = list(args.get(name) or [])
        for value in given:
            _check_value(name, value)
        if name not in REPEATABLE and len(given) > 1:
            raise InvalidParameter(name, "repeated")
        values[name] = [v for v in given if v.strip()]

    def one(name: str) -> str | None:
        got = values.get(name) or []
        return got[0] if got else None

    kw: dict[str, Any] = {}
    location = one("location")
    if location is not None:
        kw["location"] = location.strip()
    lat, lon = one("lat"), one("lon")
    if location is not None and (lat is not None or lon is not None):
        raise InvalidParameter("lat" if lat is not None else "lon", "location_and_coordinates")
    if (lat is None) != (lon is None):
        raise InvalidParameter("lon" if lat is not None else "lat", "lat_and_lon")
    if lat is not None and lon is not None:
        kw["lat"], kw["lon"] = _float("lat", lat), _float("lon", lon)
        if not -90 <= kw["lat"] <= 90:
            raise InvalidParameter("lat", "coordinates_out_of_range")
        if not -180 <= kw["lon"] <= 180:
            raise InvalidParameter("lon", "coordinates_out_of_range")
    if (radius := one("radius")) is not None:
        kw["radius"] = _int("radius", radius, *RADIUS_RANGE)
    kw["methods"] = tuple(vocab.METHODS.ordered(_slug("method", v, vocab.METHODS) for v in values["method"]))
    for name, vocabulary in (("insurance", vocab.CARRIERS), ("plan_type", vocab.PLAN_TYPES),
                             ("service", vocab.SERVICES)):
        if (value := one(name)) is not None:
            kw[name] = _slug(name, value, vocabulary)
    for name in ("plan_type", "service"):
        if kw.get(name) and not kw.get("insurance"):
            raise InvalidParameter(name, "requires_insurance")
    kw["conditions"] = tuple(vocab.CONDITIONS.ordered(
        _slug("condition", v, vocab.CONDITIONS) for v in values["condition"]))
    if (setting := one("setting")) is not None:
        kw["setting"] = _slug("setting", setting, vocab.SETTINGS)
    if (accepting := one("accepting")) is not None:
        if accepting.strip() not in ("0", "1"):
            raise InvalidParameter("accepting", "unknown_value", value=accepting)
        kw["accepting"] = accepting.strip() == "1"
    if (sort := one("sort")) is not None:
        kw["sort"] = _slug("sort", sort, vocab.SORTS)
    if (page := one("page")) is not None:
        text = page.strip()
        if not text.lstrip("+-").isdigit() or not text.isascii():
            raise InvalidParameter("page", "not_a_number", min=1, max=None)
        kw["page"] = max(1, int(text))
    if api and (per_page := one("per_page")) is not None:
        kw["per_page"] = _int("per_page", per_page, *PER_PAGE_RANGE)
    return SearchCriteria(**kw)


# --- query building ---------------------------------------------------------------------------

_IN_CLINIC = vocab.SETTINGS.mask(["in-clinic"])
_AT_HOME = vocab.SETTINGS.mask(["at-home"])


def _has_bits(column, mask: int) -> ColumnElement[bool]:
    return column.op("&")(mask) != 0


def _service_bit(service_column) -> ColumnElement[int]:
    return case({slug: vocab.SERVICES.mask([slug]) for slug in vocab.SERVICES.slugs}, value=service_column, else_=0)


def filter_conditions(criteria: SearchCriteria) -> list[ColumnElement[bool]]:
    """Published clinics matching every filter group (OR within a group, AND across groups)."""
    conds: list[ColumnElement[bool]] = [Clinic.status == "published"]
    if criteria.methods:
        conds.append(_has_bits(Clinic.methods_mask, vocab.METHODS.mask(criteria.methods)))
    if criteria.conditions:
        conds.append(_has_bits(Clinic.conditions_mask, vocab.CONDITIONS.mask(criteria.conditions)))
    if criteria.accepting:
        conds.append(Clinic.accepting_new_patients.is_(True))
    if criteria.insurance:
        ins = [ClinicInsurance.clinic_id == Clinic.id, ClinicInsurance.carrier == criteria.insurance,
               ClinicInsurance.network.in_(vocab.NETWORKS.slugs),
               # only services the clinic offers count
               Clinic.services_mask.op("&")(_service_bit(ClinicInsurance.service)) != 0]
        if criteria.plan_type:
            ins.append(or_(ClinicInsurance.plan_types_mask == 0,
                           _has_bits(ClinicInsurance.plan_types_mask, vocab.PLAN_TYPES.mask([criteria.plan_type]))))
        ins.append(_wanted_service(criteria))
        conds.append(exists().where(*ins))
    return conds


def _wanted_service(criteria: SearchCriteria) -> ColumnElement[bool]:
    """An insurance row counts when its service is one the patient means (``coverage.wanted_services``)."""
    wanted = coverage.wanted_services(criteria.service, criteria.methods)
    if all(not w.methods for w in wanted):
        return ClinicInsurance.service.in_([w.service for w in wanted])
    return or_(*(and_(ClinicInsurance.service == w.service, _has_bits(Clinic.methods_mask, w.methods))
                 for w in wanted))


def _dot(lat: float, lon: float) -> ColumnElement[float]:
    qx, qy, qz = unit_vector(lat, lon)
    return Clinic.ux * qx + Clinic.uy * qy + Clinic.uz * qz


class _Spatial:
    """How one engine finds clinics within a radius and orders them nearest first.

    The portable form (SQLite, or PostgreSQL without PostGIS) reads the covering
    ``(status, lat_cell, lon, ...)`` index through a bounding box (one longitude range per
    one-degree latitude band) and tests a dot product of unit vectors; PostGIS uses ``ST_DWithin`` on the
    GiST-indexed ``clinic.geog`` column (a sphere: ``use_spheroid => false``).
    """

    def __init__(self, lat: float, lon: float):
        self.lat, self.lon = lat, lon

    def within(self, radius_mi: float) -> ColumnElement[bool]:
        south, north, west, east, wraps = geo.bounding_box(self.lat, self.lon, radius_mi)
        lon_cond = or_(Clinic.lon >= west, Clinic.lon <= east) if wraps else Clinic.lon.between(west, east)
        cells = list(range(math.floor(south), math.floor(north) + 1))
        return and_(Clinic.lat_cell.in_(cells), lon_cond, Clinic.lat.between(south, north),
                    _dot(self.lat, self.lon) >= geo.cos_of_radius(radius_mi))

    def nearest_first(self):
        """An ORDER BY expression, ascending = nearer, and a function turning its value into miles."""
        return _dot(self.lat, self.lon).desc(), _dot(self.lat, self.lon), (
            lambda value: geo.EARTH_RADIUS_MI * math.acos(max(-1.0, min(1.0, value))))


class _PostGIS(_Spatial):
    _GEOG = literal_column("clinic.geog")

    def _point(self):
        return func.geography(func.ST_SetSRID(func.ST_MakePoint(self.lon, self.lat), 4326))

    def _distance_m(self):
        return func.ST_Distance(self._GEOG, self._point(), False)

    def within(self, radius_mi: float) -> ColumnElement[bool]:
        return func.ST_DWithin(self._GEOG, self._point(), geo.mi_to_km(radius_mi) * 1000.0, False)

    def nearest_first(self):
        distance = self._distance_m()
        return distance.asc(), distance, lambda value: value / 1000.0 / geo.KM_PER_MILE


def spatial_for(session: Session, lat: float, lon: float) -> _Spatial:
    return _PostGIS(lat, lon) if has_postgis(session) else _Spatial(lat, lon)


_POSTGIS_BY_URL: dict[Any, bool] = {}


def has_postgis(session: Session) -> bool:
    """Whether migration 0003 gave ``clinic`` its PostGIS ``geog`` column (looked up once per database)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    url = bind.url
    if url not in _POSTGIS_BY_URL:
        _POSTGIS_BY_URL[url] = bool(session.scalar(text(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'clinic' AND column_name = 'geog' AND table_schema = current_schema()")))
    return _POSTGIS_BY_URL[url]


def serves_state(state: str) -> ColumnElement[bool]:
    # IN (not a correlated EXISTS) lets the engine start from the state's few at-home programmes.
    return Clinic.id.in_(select(ClinicAtHomeState.clinic_id).where(ClinicAtHomeState.state == state))


def _name_key():
    return func.lower(Clinic.name)


def _stale_flag(cutoff: datetime):
    return case((or_(Clinic.confirmed_at.is_(None), Clinic.confirmed_at < cutoff), 1), else_=0)


def _count(session: Session, conds: list[ColumnElement[bool]]) -> int:
    return session.scalar(select(func.count()).select_from(Clinic).where(*conds)) or 0


def _ids_in_order(session: Session, conds, order_by, offset: int, limit: int) -> list[str]:
    stmt = select(Clinic.id).where(*conds).order_by(*order_by).offset(offset).limit(limit)
    return list(session.scalars(stmt))


def _count_and_last(session: Session, conds, spatial: _Spatial, stop: int) -> tuple[int, float | None]:
    """In one pass: how many rows match, and the distance (miles) of row ``stop`` - 1 in exact
    distance order (or of the farthest row when fewer match)."""
    order, value, to_miles = spatial.nearest_first()
    rows = session.execute(select(value, func.count().over()).where(*conds).order_by(order).limit(stop)).all()
    if not rows:
        return 0, None
    return rows[0][1], to_miles(rows[-1][0])


def _distance_at(session: Session, conds, spatial: _Spatial, index: int) -> float:
    """The distance (miles) of row ``index`` in exact distance order (for deep pages)."""
    order, value, to_miles = spatial.nearest_first()
    return to_miles(session.scalar(select(value).where(*conds).order_by(order).offset(index).limit(1)))


def _distance_slice(session: Session, conds, spatial: _Spatial, start: int, stop: int,
                    last_mi: float, cutoff: datetime) -> list[tuple[str, float]]:
    """Rows [start, stop) of the distance ranking: rounded distance, not stale first, newest
    confirmation, name, id. SQL ordered by exact distance up to ``last_mi``; Python settles the
    ties inside a 0.1-mile rounding bucket."""
    edge_mi = geo.round_tenth(last_mi) + 0.05 + _EDGE_SLACK_MI
    rows = session.execute(
        select(Clinic.id, Clinic.lat, Clinic.lon, Clinic.confirmed_at, Clinic.name)
        .where(*conds, spatial.within(edge_mi))).all()
    lat, lon = spatial.lat, spatial.lon

    def key(row):
        d = geo.distance_mi(lat, lon, row.lat, row.lon)
        stale = row.confirmed_at is None or row.confirmed_at < cutoff
        confirmed = row.confirmed_at.timestamp() if row.confirmed_at else float("-inf")
        return (geo.round_tenth(d), stale, -confirmed, searchindex.name_key(row.name), row.id), d

    ranked = sorted((key(r) + (r.id,) for r in rows), key=lambda t: t[0])
    return [(rid, d) for _k, d, rid in ranked[start:stop]]


def search(session: Session, criteria: SearchCriteria, now: datetime | None = None, cache=None,
           use_index: bool = True) -> SearchPage:
    """Run a search. Raises UnknownLocation, AmbiguousLocation or InvalidParameter for the location.

    ``cache`` (optional, see ``kapfinder.cache``) keeps gazetteer answers between requests.
    ``use_index``: answer distance-ranked searches from the in-memory index (``searchindex``) when it
    is current for what ``session`` sees; otherwise, and for every other search, SQL answers.
    """
    now = now or utcnow()
    cutoff = now - STALE_AFTER
    loc: geo.ResolvedLocation | None = None
    if criteria.location:
        loc = geo.resolve_location(session, criteria.location, cache=cache)
    elif criteria.lat is not None and criteria.lon is not None:
        loc = geo.resolve_point(session, criteria.lat, criteria.lon, field="lat")

    with_point = loc is not None and loc.has_point
    sort = criteria.sort or ("distance" if with_point else "name")
    if sort == "distance" and not with_point:
        sort = "name"
    if use_index and sort == "distance":
        # The page is computed from this process's snapshot first; the token read with its cards
        # says whether the session sees that snapshot's data. If not, the snapshot is brought up to
        # date (or SQL answers while it rebuilds).
        snapshot = searchindex.current(session)
        token = None
        if snapshot is not None:
            page, token = _search_index(session, snapshot, criteria, loc, now)
            if page is not None:
                return page
        snapshot = searchindex.lookup(session, token=token).snapshot
        if snapshot is not None:
            page, _token = _search_index(session, snapshot, criteria, loc, now)
            if page is not None:
                return page

    base = filter_conditions(criteria)
    spatial = spatial_for(session, loc.lat, loc.lon) if with_point else None

    by_name = [_name_key(), Clinic.id]
    by_verified = [Clinic.confirmed_at.is_(None), Clinic.confirmed_at.desc()]
    group1: list[ColumnElement[bool]] | None = None
    group2: list[ColumnElement[bool]] | None = None
    if loc is None:
        group1 = base + ([_has_bits(Clinic.settings_mask, vocab.SETTINGS.mask([criteria.setting]))]
                         if criteria.setting else [])
        match1 = None
    else:
        if loc.kind == "state":
            distance_cond = and_(_has_bits(Clinic.settings_mask, _IN_CLINIC), Clinic.state == loc.state)
        else:
            distance_cond = and_(_has_bits(Clinic.settings_mask, _IN_CLINIC), Clinic.lat.is_not(None),
                                 spatial.within(criteria.radius))
        match1 = "distance"
        if criteria.setting in (None, "in-clinic"):
            group1 = base + [distance_cond]
        if criteria.setting in (None, "at-home") and loc.state:
            group2 = base + [_has_bits(Clinic.settings_mask, _AT_HOME), serves_state(loc.state)]
            if group1 is not None:
                group2.append(not_(distance_cond))

    per_page = criteria.per_page
    offset = (criteria.page - 1) * per_page
    last_mi = None
    if group1 is None:
        n1 = 0
    elif sort == "distance" and offset < _MAX_RANKED_ROWS:
        n1, last_mi = _count_and_last(session, group1, spatial, offset + per_page)
    else:
        n1 = _count(session, group1)
    n2 = _count(session, group2) if group2 is not None else 0
    total = n1 + n2
    picked: list[tuple[str, float | None, str | None]] = []
    if group1 is not None and offset < n1:
        stop = min(offset + per_page, n1)
        if sort == "distance":
            if last_mi is None:
                last_mi = _distance_at(session, group1, spatial, stop - 1)
            picked += [(cid, d, match1) for cid, d in
                       _distance_slice(session, group1, spatial, offset, stop, last_mi, cutoff)]
        else:
            if sort == "verified":
                order = by_verified + ([spatial.nearest_first()[0]] if spatial else []) + by_name
            else:
                order = by_name
            picked += [(cid, None, match1) for cid in _ids_in_order(session, group1, order, offset, stop - offset)]
    if group2 is not None and len(picked) < per_page:
        start2 = max(0, offset - n1)
        if start2 < n2:
            order2 = [_stale_flag(cutoff)] + by_name
            picked += [(cid, None, "state") for cid in
                       _ids_in_order(session, group2, order2, start2, per_page - len(picked))]

    cards = load_cards(session, [cid for cid, _d, _m in picked]) if picked else {}
    hits = _hits(picked, cards, loc if with_point else None, criteria)
    pages = math.ceil(total / per_page) if total else 0
    return SearchPage(criteria=criteria, location=loc, sort=sort, total=total, page=criteria.page,
                      per_page=per_page, pages=pages, hits=hits, distance_total=n1, state_total=n2)


def search_cache_key(session: Session, criteria: SearchCriteria) -> str | None:
    """A key for whatever is computed from this search's result, valid until the directory
    changes (it holds the data's generation), or None where there is no generation to trust."""
    import hashlib
    import json

    if not searchindex.has_state_table(session):
        return None
    token = searchindex.read_token(session)
    if token is None:
        return None
    query = json.dumps(criteria.as_query(), sort_keys=True, separators=(",", ":"))
    return f"search:{token[0]}:{token[1]}:{hashlib.sha256(query.encode()).hexdigest()}"


def _confirmed_cards(session: Session, snapshot: searchindex.Snapshot,
                     ids: Sequence[str]) -> tuple[dict[str, ClinicCard] | None, searchindex.Token | None]:
    """Cards for ``ids`` (from the snapshot's cache, or read), and the token the session sees, read
    after them: (None, token) when it is not the snapshot's, so its page cannot stand. Read after the
    cards, an unchanged token also proves that the cards were read at the snapshot's generation."""
    cache = snapshot.cards
    found = {}
    for cid in ids:
        card = cache.get(cid)
        if card is not None:
            found[cid] = card
    loaded, rows = load_cards_then(session, [cid for cid in ids if cid not in found], searchindex.TOKEN_SQL)
    token = searchindex.token_of(rows)
    if token != snapshot.token:
        return None, token
    for cid in found:
        try:
            cache.move_to_end(cid)  # least recently used first out
        except KeyError:  # another thread evicted it meanwhile: still a valid card
            pass
    if loaded:
        cache.update(loaded)
        found.update(loaded)
        try:
            while len(cache) > searchindex.CARD_CACHE_SIZE:
                cache.popitem(last=False)
        except KeyError:  # emptied by another thread
            pass
    return found, token


def _hits(picked, cards: dict[str, ClinicCard], point: geo.ResolvedLocation | None,
          criteria: SearchCriteria) -> list[SearchHit]:
    hits = []
    for cid, distance, match in picked:
        clinic = cards[cid]
        if match == "distance" and distance is None and point is not None:
            distance = geo.distance_mi(point.lat, point.lon, clinic.lat, clinic.lon)
        answer, leading = None, ()
        if criteria.insurance:
            answer = coverage.coverage_for(clinic, criteria.insurance, criteria.plan_type)
            leading = coverage.leading_services(clinic, answer, criteria.service, criteria.methods)
        hits.append(SearchHit(clinic, distance if match == "distance" else None, match, answer, leading))
    return hits


# --- the in-memory index path ----------------------------------------------------------------------

def _index_filters(criteria: SearchCriteria) -> searchindex.Filters:
    return searchindex.Filters(
        methods=vocab.METHODS.mask(criteria.methods), conditions=vocab.CONDITIONS.mask(criteria.conditions),
        accepting=criteria.accepting, carrier=criteria.insurance,
        coverage=searchindex.coverage_wanted(criteria.service, criteria.methods, criteria.plan_type)
        if criteria.insurance else ())


def _search_index(session: Session, snapshot: searchindex.Snapshot, criteria: SearchCriteria,
                  loc: geo.ResolvedLocation, now: datetime) -> tuple[SearchPage | None, searchindex.Token | None]:
    """The distance-ranked search of ``search`` answered by the index (same groups, order and
    totals), and the token the session sees; no page when that is not the snapshot's."""
    cutoff = now - STALE_AFTER
    f = _index_filters(criteria)
    in_clinic = criteria.setting in (None, "in-clinic")
    at_home = criteria.setting in (None, "at-home") and bool(loc.state)
    empty = np.empty(0, dtype=np.int64)
    near = snapshot.within(loc.lat, loc.lon, criteria.radius, f) if in_clinic else None
    pos2, confirmed2 = snapshot.in_state_at_home(loc.state, f) if at_home else (empty, empty)
    if at_home and in_clinic and len(pos2):
        keep = ~snapshot.near(pos2, loc.lat, loc.lon, criteria.radius)
        pos2, confirmed2 = pos2[keep], confirmed2[keep]
    n1, n2 = (near.total if near is not None else 0), len(pos2)
    per_page = criteria.per_page
    offset = (criteria.page - 1) * per_page
    picked: list[tuple[str, float | None, str | None]] = []
    if offset < n1:
        picked += [(cid, d, "distance") for cid, d in
                   snapshot.ranked(near, offset, min(offset + per_page, n1), loc.lat, loc.lon)]
    if at_home and len(picked) < per_page:
        start2 = max(0, offset - n1)
        if start2 < n2:
            stale = confirmed2 < searchindex.micros(cutoff)
            order = np.concatenate([np.flatnonzero(~stale), np.flatnonzero(stale)])
            take = order[start2:start2 + per_page - len(picked)]
            picked += [(cid, None, "state") for cid in snapshot.id_at(pos2[take])]
    cards, token = _confirmed_cards(session, snapshot, [cid for cid, _d, _m in picked])
    if cards is None:
        return None, token
    total = n1 + n2
    return SearchPage(criteria=criteria, location=loc, sort="distance", total=total, page=criteria.page,
                      per_page=per_page, pages=math.ceil(total / per_page) if total else 0,
                      hits=_hits(picked, cards, loc, criteria), distance_total=n1, state_total=n2), token
