"""The SQL engine: a ``Plan`` answered by the database, on SQLite and PostgreSQL alike. No Flask here.

It answers every search the in-memory index does not take (sorts by name or last verification, a
state or no location, the index switched off, a session that sees other data than the index).

Candidates come from the covering ``(status, lat_cell, lon, ...)`` index through a bounding box; the
radius test is a dot product of unit vectors (the cosine of the central angle), so no trigonometry
runs in SQL and the same statement works on SQLite and PostgreSQL; with PostGIS, ``ST_DWithin`` on
the GiST-indexed ``clinic.geog`` column. Exact great-circle distances (geopy, sphere of 6371.0088 km)
are computed in Python for the rows a page shows and for ranking ties.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, literal_column, not_, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from .. import coverage, geo, vocab
from ..models import Clinic, ClinicAtHomeState, ClinicInsurance, Status, unit_vector
from .criteria import SearchCriteria
from .plan import AT_HOME, EDGE_SLACK_MI, IN_CLINIC, Answer, Plan, name_key

# Deeper than this, a page's rows are not worth sending back just to find its last distance.
_MAX_RANKED_ROWS = 5000


# --- filters ----------------------------------------------------------------------------------

def _has_bits(column, mask: int) -> ColumnElement[bool]:
    return column.op("&")(mask) != 0


def _service_bit(service_column) -> ColumnElement[int]:
    return case({slug: vocab.SERVICES.mask([slug]) for slug in vocab.SERVICES.slugs}, value=service_column, else_=0)


def filter_conditions(criteria: SearchCriteria) -> list[ColumnElement[bool]]:
    """Published clinics matching every filter group (OR within a group, AND across groups)."""
    conds: list[ColumnElement[bool]] = [Clinic.status == Status.PUBLISHED]
    if criteria.methods:
        conds.append(_has_bits(Clinic.methods_mask, vocab.METHODS.mask(criteria.methods)))
    if criteria.conditions:
        conds.append(_has_bits(Clinic.conditions_mask, vocab.CONDITIONS.mask(criteria.conditions)))
    if criteria.languages:
        # Staff who speak it, or interpreter services that cover it (the index ORs the two masks).
        wanted = vocab.LANGUAGES.mask(criteria.languages)
        conds.append(or_(_has_bits(Clinic.languages_mask, wanted),
                         _has_bits(Clinic.interpreter_languages_mask, wanted)))
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


def serves_state(state: str) -> ColumnElement[bool]:
    # IN (not a correlated EXISTS) lets the engine start from the state's few at-home programmes.
    return Clinic.id.in_(select(ClinicAtHomeState.clinic_id).where(ClinicAtHomeState.state == state))


# --- within a radius, nearest first -------------------------------------------------------------

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


# --- the groups of a plan -----------------------------------------------------------------------

def _groups(plan: Plan, spatial: _Spatial | None) -> tuple[list | None, list | None]:
    """The conditions of group 1 and group 2 (None for a group the plan does not search)."""
    criteria, loc = plan.criteria, plan.location
    base = filter_conditions(criteria)
    if loc is None:
        return base + ([_has_bits(Clinic.settings_mask, vocab.SETTINGS.mask([criteria.setting]))]
                       if criteria.setting else []), None
    if loc.kind == "state":
        near = and_(_has_bits(Clinic.settings_mask, IN_CLINIC), Clinic.state == loc.state)
    else:
        near = and_(_has_bits(Clinic.settings_mask, IN_CLINIC), Clinic.lat.is_not(None),
                    spatial.within(criteria.radius))
    in_state = None
    if plan.home_state:
        in_state = base + [_has_bits(Clinic.settings_mask, AT_HOME), serves_state(plan.home_state)]
        if plan.near:
            in_state.append(not_(near))
    return (base + [near] if plan.near else None), in_state


def _stale_flag(cutoff: datetime):
    return case((or_(Clinic.confirmed_at.is_(None), Clinic.confirmed_at < cutoff), 1), else_=0)


def _count(session: Session, conds: list[ColumnElement[bool]]) -> int:
    return session.scalar(select(func.count()).select_from(Clinic).where(*conds)) or 0


def _ids_in_order(session: Session, conds, order_by, rows: range) -> list[str]:
    stmt = select(Clinic.id).where(*conds).order_by(*order_by).offset(rows.start).limit(len(rows))
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


def _distance_slice(session: Session, conds, spatial: _Spatial, rows: range,
                    last_mi: float, cutoff: datetime) -> list[tuple[str, float]]:
    """``rows`` of the distance ranking (``plan``'s order), each with its distance. SQL orders by
    exact distance up to ``last_mi``; Python settles the ties inside a 0.1-mile rounding bucket."""
    edge_mi = geo.round_tenth(last_mi) + 0.05 + EDGE_SLACK_MI
    found = session.execute(
        select(Clinic.id, Clinic.lat, Clinic.lon, Clinic.confirmed_at, Clinic.name)
        .where(*conds, spatial.within(edge_mi))).all()
    lat, lon = spatial.lat, spatial.lon

    def key(row):
        d = geo.distance_mi(lat, lon, row.lat, row.lon)
        stale = row.confirmed_at is None or row.confirmed_at < cutoff
        confirmed = row.confirmed_at.timestamp() if row.confirmed_at else float("-inf")
        return (geo.round_tenth(d), stale, -confirmed, name_key(row.name), row.id), d

    ranked = sorted((key(r) + (r.id,) for r in found), key=lambda t: t[0])
    return [(rid, d) for _k, d, rid in ranked[rows.start:rows.stop]]


def answer(session: Session, plan: Plan) -> Answer:
    """Count both groups of ``plan`` and read the rows of its page."""
    point = plan.point
    spatial = spatial_for(session, point.lat, point.lon) if point is not None else None
    near, in_state = _groups(plan, spatial)
    by_distance = plan.sort == "distance"
    last_mi = None
    if near is None:
        near_total = 0
    elif by_distance and plan.offset < _MAX_RANKED_ROWS:
        near_total, last_mi = _count_and_last(session, near, spatial, plan.offset + plan.criteria.per_page)
    else:
        near_total = _count(session, near)
    state_total = _count(session, in_state) if in_state is not None else 0
    window = plan.window(near_total, state_total)
    rows: list[tuple[str, float | None, str | None]] = []
    if window.near:
        if by_distance:
            if last_mi is None:
                last_mi = _distance_at(session, near, spatial, window.near.stop - 1)
            rows += [(cid, d, plan.near_match) for cid, d in
                     _distance_slice(session, near, spatial, window.near, last_mi, plan.cutoff)]
        else:
            by_name = [func.lower(Clinic.name), Clinic.id]
            order = by_name
            if plan.sort == "verified":
                order = ([Clinic.confirmed_at.is_(None), Clinic.confirmed_at.desc()]
                         + ([spatial.nearest_first()[0]] if spatial else []) + by_name)
            rows += [(cid, None, plan.near_match) for cid in _ids_in_order(session, near, order, window.near)]
    if window.in_state:
        order = [_stale_flag(plan.cutoff), func.lower(Clinic.name), Clinic.id]
        rows += [(cid, None, "state") for cid in _ids_in_order(session, in_state, order, window.in_state)]
    return Answer(rows, near_total, state_total)
