"""The in-memory search index: every published clinic's position and filter columns as numpy arrays.

No Flask here. ``search.py`` asks it for the clinics within a radius that pass the patient's filters,
how many there are and which rows a page of the distance ranking needs; the database still answers
everything a page shows (``cards``) and every search the index does not take (sorts by name or last
verification, searches without a point).

Why: counting tens of thousands of matches of a 250-mile search in SQL costs tens of milliseconds on
SQLite and more on PostgreSQL; the same count over contiguous slices of sorted arrays costs well under
one. Layout (n published clinics, those with coordinates first), about 45 bytes per clinic:

* *points*: the distinct coordinates clinics sit at, sorted by (``lat_cell``, lon), so a radius reads
  one contiguous slice of points per one-degree latitude band; each point's ``ux``/``uy``/``uz``
  float64 unit vector (a point is within the radius when the dot product with the searched point is
  ≥ cos(radius / R): the same test and the same float arithmetic as the SQL path) and coordinates;
* clinics point by point (a point's clinics are one run of positions), each with its 16-byte id, its
  tie-break ``rank`` and one byte per filter column (settings, methods, conditions, accepting);
* per carrier, one byte per clinic for its coverage, a code for 32 bits: 8 per service, one per
  plan type, all 8 when the row names no plan type (rare patterns are kept apart, by position);
* per state, the at-home programmes serving it, in name order, with their confirmation times.

Freshness: migration 0007 keeps ``search_state`` (epoch, generation) moving with every write to the
clinic tables. A search reads it through its own session; the index is used only when it was built
at exactly that state, from committed data on a connection of its own. A session that sees other
data (its own uncommitted writes, or a commit newer than the index) is answered by SQL instead while
the index rebuilds (in the background once a build takes longer than ``SYNC_BUILD_S``; a large build
runs in another process, a fork or a fresh interpreter, and only its arrays come back).
"""
from __future__ import annotations

import logging
import math
import os
import pickle
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from .. import coverage, geo, vocab
from ..db import raw_fetchall

log = logging.getLogger(__name__)

#: Rebuilds that took longer than this run in a background thread; searches use SQL meanwhile.
SYNC_BUILD_S = 0.5
#: Large builds (``warm``, background rebuilds) run in another process, so their garbage is not ours.
BUILD_APART = True
#: Slack (miles) on bucket edges: the float error of a dot product near 1 is ~10 cm.
EDGE_SLACK_MI = 0.001
#: Cards kept per process (a card is ~3.5 KB; a miss costs only its rows, read in the round trip
#: every search makes anyway).
CARD_CACHE_SIZE = 1_000
_FETCH = 50_000
_LON_PAD = 1e-4  # degrees: float32 longitudes choose slices, float64 dot products decide
_SERVICE_SHIFT = {slug: 8 * i for i, slug in enumerate(vocab.SERVICES.slugs)}
_IN_CLINIC = vocab.SETTINGS.mask(["in-clinic"])
_AT_HOME = vocab.SETTINGS.mask(["at-home"])
_NO_TIME = np.iinfo(np.int64).min

Token = tuple[str, int]


# --- the state token ------------------------------------------------------------------------------

_HAS_STATE: dict[Any, bool] = {}


def has_state_table(bind: Session | Connection) -> bool:
    """Whether migration 0007's ``search_state`` exists (asked once per database URL)."""
    engine = bind if isinstance(bind, Connection) else bind.get_bind()
    engine = engine.engine if isinstance(engine, Connection) else engine
    url = engine.url
    if url not in _HAS_STATE:
        if engine.dialect.name == "postgresql":
            sql = ("SELECT count(*) FROM information_schema.tables "
                   "WHERE table_name = 'search_state' AND table_schema = current_schema()")
        else:
            sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'search_state'"
        found = bool(bind.execute(text(sql)).scalar())
        if not found:
            return False  # asked again next time: the migration may run meanwhile
        _HAS_STATE[url] = True
    return _HAS_STATE[url]


TOKEN_SQL = "SELECT epoch, generation FROM search_state WHERE id = 1"


def read_token(bind: Session | Connection) -> Token | None:
    if isinstance(bind, Connection):
        return token_of(bind.execute(text(TOKEN_SQL)).all())
    return token_of(raw_fetchall(bind, TOKEN_SQL))  # every search asks: straight through the driver


def token_of(rows: list) -> Token | None:
    """The token in the rows ``TOKEN_SQL`` returned."""
    return (rows[0][0], int(rows[0][1])) if rows else None


def new_epoch(conn: Connection) -> None:
    """After a restore: no index built before it may take the restored data for what it saw."""
    conn.execute(text("UPDATE search_state SET epoch = :epoch WHERE id = 1"), {"epoch": str(uuid.uuid4())})


# --- the snapshot ----------------------------------------------------------------------------------

@dataclass
class Filters:
    """The filter groups of a search, as masks (0 = no filter)."""

    methods: int = 0
    conditions: int = 0
    accepting: bool = False
    carrier: str | None = None
    #: With a carrier: (coverage bits, methods mask) pairs; a clinic passes when for one pair it has
    #: coverage in those bits and lists one of those methods (mask 0: no method condition).
    coverage: tuple[tuple[int, int], ...] = ()


def coverage_bits(service: str, plan_type: str | None) -> int:
    """The bits of one service × the plan type (every plan type when none is given)."""
    plans = (1 << vocab.PLAN_TYPES.slugs.index(plan_type)) if plan_type else 0xFF
    return plans << _SERVICE_SHIFT[service]


def coverage_wanted(service: str | None, methods, plan_type: str | None) -> tuple[tuple[int, int], ...]:
    """``Filters.coverage`` for the insurance rule (``coverage.wanted_services``): services without a
    method condition share one pair."""
    pairs: dict[int, int] = {}
    for wanted in coverage.wanted_services(service, methods):
        pairs[wanted.methods] = pairs.get(wanted.methods, 0) | coverage_bits(wanted.service, plan_type)
    return tuple((bits, mask) for mask, bits in pairs.items())


@dataclass
class Matches:
    """In-clinic listings within a radius that pass the filters, grouped by the point they sit at."""

    points: np.ndarray  # the points holding at least one match
    dots: np.ndarray  # each point's dot product with the searched point
    counts: np.ndarray  # how many matches sit at each point
    clinics: np.ndarray  # the matches' positions, point by point in the order above
    total: int


_NO_MATCHES = Matches(*(np.empty(0, dtype=t) for t in (np.int64, np.float64, np.int64, np.int64)), 0)


class Snapshot:
    """The index at one (epoch, generation). Immutable once built; shared by a process's threads.

    Clinics sit at *points* (distinct coordinates: an offline-geocoded clinic sits at its ZIP's
    centroid, so a million clinics share some tens of thousands). Radius tests and distances are
    computed once per point; clinics are stored point by point, so a point's clinics are one run of
    positions. Within a run, and across the directory, ``rank`` is each clinic's place in the order
    that breaks distance ties (newest confirmation first — which puts every listing that is not stale
    before every stale one —, then name, then id), so ranking a page needs no name and no date.
    """

    def __init__(self, token: Token):
        self.token = token
        self.n = 0
        self.built_s = 0.0
        #: Cards (``cards.ClinicCard``) of this snapshot's data, most recently used last.
        self.cards: OrderedDict[str, Any] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "cards"}  # a new snapshot starts with no cards

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state, cards=OrderedDict())

    # -- building --

    @classmethod
    def build(cls, conn: Connection, token: Token) -> Snapshot:
        started = time.perf_counter()
        self = cls(token)
        cols = _read_clinics(conn)
        ids = cols["id"]
        n = self.n = len(ids)
        rank = _tie_ranks(conn, ids, cols["confirmed"])
        # Clinics with coordinates first, by (lat_cell, lon) and point, each point's clinics by rank.
        lat, lon = cols["lat"], cols["lon"]
        has_point = ~np.isnan(lat)
        cell = np.where(has_point, np.floor(np.nan_to_num(lat)), 10_000).astype(np.int64)
        vectors = [np.nan_to_num(cols[k]) for k in ("lat", "ux", "uy", "uz")]
        order = np.lexsort((rank, *reversed(vectors), np.nan_to_num(lon), cell))
        del vectors
        self.rank = rank[order].astype(np.int32)
        located = int(np.count_nonzero(has_point))
        point_cols = [cols[k][order[:located]] for k in ("lat", "lon", "ux", "uy", "uz")]
        if located:  # a point starts wherever the coordinates change
            starts = np.flatnonzero(np.r_[True, np.logical_or.reduce([c[1:] != c[:-1] for c in point_cols])])
        else:
            starts = np.empty(0, dtype=np.int64)
        self.p_lat, self.p_lon, self.p_ux, self.p_uy, self.p_uz = (np.ascontiguousarray(c[starts]) for c in point_cols)
        self.p_start = np.r_[starts, located].astype(np.int64)  # clinics of point i: p_start[i]:p_start[i + 1]
        self.p_lon32 = self.p_lon.astype(np.float32)
        self.cell_start = np.searchsorted(np.floor(self.p_lat), np.arange(-90, 92), side="left")
        del point_cols, starts
        for key in ("settings", "methods", "conditions", "accepting"):
            setattr(self, key, np.ascontiguousarray(cols[key][order]))
        sorted_ids = ids[order]
        confirmed = cols["confirmed"][order]
        services = cols["services"][order]  # read once, to keep only coverage of offered services
        where = np.empty(n, dtype=np.int64)  # where[row read] = position in the index
        where[order] = np.arange(n)
        home_names = {int(where[row]): name for row, name in cols["home_names"]}
        del cols, cell, has_point, order, where, rank
        by_id = np.argsort(sorted_ids, kind="stable")  # finding a clinic id's position: binary search
        locate = _Locator(sorted_ids[by_id], by_id)
        self.carriers = _read_insurance(conn, locate, services, n)
        self.at_home = _read_at_home(conn, locate, home_names, sorted_ids, confirmed)
        del locate, by_id, services, confirmed
        self._packed = _pack_ids(sorted_ids)
        self._ids = sorted_ids if self._packed is None else None
        self.built_s = time.perf_counter() - started
        return self

    @property
    def nbytes(self) -> int:
        """What the arrays hold (the card cache aside)."""
        arrays = [v for v in vars(self).values() if isinstance(v, np.ndarray)]
        arrays += [a for carrier in self.carriers.values() for a in carrier.arrays()]
        arrays += [a for pair in self.at_home.values() for a in pair]
        return sum(a.nbytes for a in arrays)

    # -- reading --

    def id_at(self, positions: np.ndarray) -> list[str]:
        if self._packed is None:
            return [v.decode() for v in self._ids[positions].tolist()]
        return [str(uuid.UUID(bytes=row)) for row in map(bytes, self._packed[positions])]

    def _keep(self, pos: np.ndarray, f: Filters) -> np.ndarray | None:
        """Which of ``pos`` pass the filters (a boolean array), or None when nothing filters."""
        if not (f.methods or f.conditions or f.accepting or f.carrier is not None):
            return None
        keep = np.ones(len(pos), dtype=bool)
        if f.methods:
            keep &= (self.methods[pos] & f.methods) != 0
        if f.conditions:
            keep &= (self.conditions[pos] & f.conditions) != 0
        if f.accepting:
            keep &= self.accepting[pos] == 1
        if f.carrier is not None:
            carrier = self.carriers.get(f.carrier)
            if carrier is None:
                return np.zeros(len(pos), dtype=bool)
            covered = np.zeros(len(pos), dtype=bool)
            for bits, methods in f.coverage:
                ok = carrier.covers(pos, bits)
                if methods:
                    ok &= (self.methods[pos] & methods) != 0
                covered |= ok
            keep &= covered
        return keep

    def within(self, lat: float, lon: float, radius_mi: float, f: Filters) -> Matches:
        """In-clinic listings within the radius that pass the filters."""
        qx, qy, qz = _unit(lat, lon)
        floor_cos = geo.cos_of_radius(radius_mi)
        point_parts, dot_parts = [], []
        for start, stop in self._slices(lat, lon, radius_mi):
            dots = self.p_ux[start:stop] * qx + self.p_uy[start:stop] * qy + self.p_uz[start:stop] * qz
            idx = np.flatnonzero(dots >= floor_cos)
            if len(idx):
                point_parts.append(idx + start)
                dot_parts.append(dots[idx])
        if not point_parts:
            return _NO_MATCHES
        points, dots = np.concatenate(point_parts), np.concatenate(dot_parts)
        first = self.p_start[points]
        counts = self.p_start[points + 1] - first
        pos = _runs(first, counts)
        keep = (self.settings[pos] & _IN_CLINIC) != 0
        filtered = self._keep(pos, f)
        if filtered is not None:
            keep &= filtered
        kept = np.add.reduceat(keep.astype(np.int64), np.cumsum(counts) - counts)
        some = kept > 0
        return Matches(points[some], dots[some], kept[some], pos[keep], int(kept.sum()))

    def ranked(self, m: Matches, start: int, stop: int, lat: float, lon: float) -> list[tuple[str, float]]:
        """Matches [start, stop) of the distance ranking: distance rounded to 0.1 mi, then ``rank``.

        The dot products place every point to within ``EDGE_SLACK_MI``; points in the 0.1-mile
        buckets the page touches (and a hair either side) get their exact distance (geopy's formula
        on the stored coordinates), the matches nearer than those buckets are only counted."""
        radius_mi = geo.EARTH_RADIUS_MI
        slack = EDGE_SLACK_MI
        nearest = np.argsort(-m.dots, kind="stable")
        seen = np.cumsum(m.counts[nearest])  # matches at the nearest points up to each one

        def miles_at(index: int) -> float:  # the distance of the index-th nearest match, roughly
            dot = float(m.dots[nearest[int(np.searchsorted(seen, index, side="right"))]])
            return radius_mi * math.acos(max(-1.0, min(1.0, dot)))

        low_edge = geo.round_tenth(max(0.0, miles_at(start) - slack)) - 0.05
        high_edge = geo.round_tenth(miles_at(stop - 1) + slack) + 0.05
        window = m.dots >= math.cos(min(math.pi, (high_edge + slack) / radius_mi))
        before = 0
        if low_edge - slack > 0:
            nearer = m.dots > math.cos((low_edge - slack) / radius_mi)
            before = int(m.counts[nearer].sum())
            window &= ~nearer
        chosen = np.flatnonzero(window)
        offsets = np.cumsum(m.counts) - m.counts
        rows = m.clinics[_runs(offsets[chosen], m.counts[chosen])]
        miles = [geo.distance_mi(lat, lon, p_lat, p_lon) for p_lat, p_lon in
                 zip(self.p_lat[m.points[chosen]].tolist(), self.p_lon[m.points[chosen]].tolist())]
        per_row = np.repeat(np.array(miles, dtype=np.float64), m.counts[chosen])
        buckets = np.repeat(np.array([geo.round_tenth(d) for d in miles], dtype=np.float64), m.counts[chosen])
        order = np.lexsort((self.rank[rows], buckets))[start - before:stop - before]
        return list(zip(self.id_at(rows[order]), per_row[order].tolist()))

    def _slices(self, lat: float, lon: float, radius_mi: float) -> Iterator[tuple[int, int]]:
        """Ranges of points that may lie within the radius: one longitude range per latitude band."""
        south, north, west, east, wraps = geo.bounding_box(lat, lon, radius_mi)
        ranges = [(west, 180.0), (-180.0, east)] if wraps else [(west, east)]
        for band in range(max(-90, math.floor(south)), min(90, math.floor(north)) + 1):
            lo, hi = int(self.cell_start[band + 90]), int(self.cell_start[band + 91])
            if lo == hi:
                continue
            lons = self.p_lon32[lo:hi]
            for w, e in ranges:
                a = lo + int(np.searchsorted(lons, w - _LON_PAD, side="left"))
                b = lo + int(np.searchsorted(lons, e + _LON_PAD, side="right"))
                if a < b:
                    yield a, b

    def in_state_at_home(self, state: str, f: Filters) -> tuple[np.ndarray, np.ndarray]:
        """At-home programmes serving ``state`` that pass the filters, in name order: (positions, confirmed µs)."""
        pos, confirmed = self.at_home.get(state, (None, None))
        if pos is None:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        keep = (self.settings[pos] & _AT_HOME) != 0
        filtered = self._keep(pos, f)
        if filtered is not None:
            keep &= filtered
        return pos[keep], confirmed[keep]

    def near(self, positions: np.ndarray, lat: float, lon: float, radius_mi: float) -> np.ndarray:
        """Which of ``positions`` are in-clinic listings within the radius (a boolean array)."""
        located = positions < self.p_start[-1]
        if not located.any():
            return located
        qx, qy, qz = _unit(lat, lon)
        points = np.searchsorted(self.p_start, np.where(located, positions, 0), side="right") - 1
        dots = self.p_ux[points] * qx + self.p_uy[points] * qy + self.p_uz[points] * qz
        return located & (dots >= geo.cos_of_radius(radius_mi)) & ((self.settings[positions] & _IN_CLINIC) != 0)


def _runs(first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions first[i], first[i] + 1, … (counts[i] of them) for every i, one after another."""
    total = int(counts.sum())
    return np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(total)


def _unit(lat: float, lon: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    return math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(value: datetime) -> int:
    """Microseconds since the epoch, exactly (a naive datetime is UTC, as stored)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // timedelta(microseconds=1)


class _Locator:
    """Clinic ids (bytes) to index positions, vectorised."""

    def __init__(self, sorted_ids: np.ndarray, positions: np.ndarray):
        self.sorted_ids, self.positions = sorted_ids, positions

    def __call__(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(positions, found): positions of ``ids``; found is false for ids not in the index."""
        wanted = np.array(ids, dtype="U36").astype("S36")
        if not len(self.sorted_ids):
            return np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=bool)
        at = np.searchsorted(self.sorted_ids, wanted)
        at[at == len(self.sorted_ids)] = 0
        return self.positions[at], self.sorted_ids[at] == wanted


_HEX_VALUE = np.full(256, 255, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
_DASHES = [8, 13, 18, 23]


def _pack_ids(ids: np.ndarray) -> np.ndarray | None:
    """The ids as 16 bytes each when every one is a UUID as ``str(uuid)`` writes it (lower-case,
    dashed), else None (kept as text). Sample, web and imported ids are such UUIDs."""
    if ids.dtype != np.dtype("S36") or not len(ids):
        return None
    chars = ids.view(np.uint8).reshape(-1, 36)
    if (chars[:, _DASHES] != ord("-")).any():
        return None
    nibbles = _HEX_VALUE[np.delete(chars, _DASHES, axis=1)]
    if (nibbles == 255).any():
        return None
    return np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2])


def _tie_ranks(conn: Connection, ids: np.ndarray, confirmed: np.ndarray) -> np.ndarray:
    """Each clinic's place in the order that settles distance ties: ``confirmed_at`` newest first
    (none last), then name (``name_key``), then id. Names are read only for clinics whose
    confirmation time another clinic shares."""
    newest_first = np.where(confirmed == _NO_TIME, np.iinfo(np.int64).max, -confirmed)
    order = np.lexsort((ids, newest_first))
    keys = newest_first[order]
    same = keys[1:] == keys[:-1]
    if same.any():
        tied = np.flatnonzero(np.r_[same, False] | np.r_[False, same])  # places in ``order``
        tied_ids = [v.decode() for v in ids[order[tied]].tolist()]
        names = _names(conn, tied_ids)
        settled = sorted(range(len(tied)), key=lambda i: (int(keys[tied[i]]), name_key(names[tied_ids[i]]),
                                                         tied_ids[i]))
        order[tied] = order[tied[settled]]
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    return rank


def _names(conn: Connection, ids: list[str]) -> dict[str, str]:
    stmt = text("SELECT id, name FROM clinic WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    names: dict[str, str] = {}
    for i in range(0, len(ids), 10_000):
        names.update(conn.execute(stmt, {"ids": ids[i:i + 10_000]}).all())
    return names


def _stream(conn: Connection, sql: str) -> Iterator[list[tuple]]:
    """Rows of ``sql`` in batches, straight from the driver's cursor (no per-row typing: a build
    reads millions of rows), in the connection's transaction; server-side on PostgreSQL."""
    raw = conn.connection.dbapi_connection
    cursor = raw.cursor(name="kapfinder_search_index") if conn.dialect.name == "postgresql" else raw.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(_FETCH):
            yield rows
    finally:
        cursor.close()


def _confirmed_sql(dialect: str) -> str:
    # Microseconds since the epoch, exactly: PostgreSQL computes them; SQLite's naive ISO text is
    # parsed by numpy below.
    if dialect == "postgresql":
        return "(EXTRACT(EPOCH FROM confirmed_at) * 1000000)::bigint"
    return "confirmed_at"


def _read_clinics(conn: Connection) -> dict[str, Any]:
    keys = ("id", "lat", "lon", "ux", "uy", "uz", "settings", "methods", "conditions", "services", "accepting",
            "confirmed")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    home_names: list[tuple[int, str]] = []  # (row, name) of at-home programmes, to order them by name
    dialect = conn.dialect.name
    sql = ("SELECT id, lat, lon, ux, uy, uz, settings_mask, methods_mask, conditions_mask, services_mask, "
           f"accepting_new_patients, {_confirmed_sql(dialect)}, "
           f"CASE WHEN (settings_mask & {_AT_HOME}) <> 0 THEN name END "
           "FROM clinic WHERE status = 'published'")
    seen = 0
    for rows in _stream(conn, sql):
        (ids, lat, lon, ux, uy, uz, settings, methods, conditions, services, accepting, confirmed,
         names) = zip(*rows)
        parts["id"].append(np.array(ids, dtype="U36").astype("S36"))
        for key, values in (("lat", lat), ("lon", lon), ("ux", ux), ("uy", uy), ("uz", uz)):
            parts[key].append(np.array(values, dtype=np.float64))  # None becomes NaN
        for key, values in (("settings", settings), ("methods", methods), ("conditions", conditions),
                            ("services", services)):
            parts[key].append(np.array([v or 0 for v in values], dtype=np.int64))
        parts["accepting"].append(np.array([1 if v else 0 for v in accepting], dtype=np.uint8))
        if dialect == "postgresql":
            parts["confirmed"].append(np.array([_NO_TIME if v is None else v for v in confirmed], dtype=np.int64))
        else:
            parts["confirmed"].append(np.array(confirmed, dtype="datetime64[us]").astype(np.int64))  # NULL: NaT
        home_names.extend((seen + i, name) for i, name in enumerate(names) if name is not None)
        seen += len(rows)
    out: dict[str, Any] = {}
    for key, chunks in parts.items():
        out[key] = np.concatenate(chunks) if chunks else np.empty(0, dtype="S36" if key == "id" else np.float64)
    for key, vocabulary in (("settings", vocab.SETTINGS), ("methods", vocab.METHODS),
                            ("conditions", vocab.CONDITIONS), ("services", vocab.SERVICES)):
        out[key] = out[key].astype(_mask_dtype(len(vocabulary.slugs)))
    out["accepting"] = out["accepting"].astype(np.uint8)
    out["confirmed"] = out["confirmed"].astype(np.int64)
    out["home_names"] = home_names
    return out


def _mask_dtype(bits: int):
    return np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32 if bits <= 32 else np.uint64


def _read_insurance(conn: Connection, locate: _Locator, services: np.ndarray,
                    n: int) -> dict[str, _Coverage]:
    """Per carrier, every clinic's coverage of offered services; rows of clinics that are not
    published are dropped by ``locate`` (no join needed)."""
    carriers = vocab.CARRIERS.slugs
    carrier_code = {slug: i for i, slug in enumerate(carriers)}
    service_index = {slug: i for i, slug in enumerate(vocab.SERVICES.slugs)}
    networks = "', '".join(vocab.NETWORKS.slugs)
    parts_code, parts_pos, parts_bits = [], [], []
    sql = ("SELECT carrier, clinic_id, service, plan_types_mask FROM clinic_insurance "
           f"WHERE network IN ('{networks}')")
    for rows in _stream(conn, sql):
        carrier, clinic_id, service, plans = zip(*rows)
        code = np.array([carrier_code.get(c, -1) for c in carrier], dtype=np.int16)
        svc = np.array([service_index.get(s, -1) for s in service], dtype=np.int16)
        pos, found = locate(clinic_id)
        plan_bits = np.array([p or 0 for p in plans], dtype=np.uint32) & 0xFF
        plan_bits[plan_bits == 0] = 0xFF
        ok = found & (code >= 0) & (svc >= 0)
        ok &= (services[pos].astype(np.uint32) & (1 << np.clip(svc, 0, 31)).astype(np.uint32)) != 0  # offered
        parts_code.append(code[ok])
        parts_pos.append(pos[ok])
        parts_bits.append(plan_bits[ok] << (8 * svc[ok]).astype(np.uint32))
    out: dict[str, _Coverage] = {}
    if not parts_code:
        return out
    code, pos, bits = np.concatenate(parts_code), np.concatenate(parts_pos), np.concatenate(parts_bits)
    del parts_code, parts_pos, parts_bits
    order = np.lexsort((pos, code))
    code, pos, bits = code[order], pos[order], bits[order]
    del order
    for i, slug in enumerate(carriers):
        lo, hi = np.searchsorted(code, i, side="left"), np.searchsorted(code, i, side="right")
        if lo == hi:
            continue
        p, b = pos[lo:hi], bits[lo:hi]
        starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        out[slug] = _Coverage.of(n, p[starts], np.bitwise_or.reduceat(b, starts))
    return out


@dataclass
class _Coverage:
    """One carrier's coverage of every clinic: a byte each. Codes 1-254 stand for the 254 commonest
    32-bit patterns (``table``); 255 means "see ``rare_bits``" (sorted by position), 0 no coverage."""

    codes: np.ndarray
    table: np.ndarray
    rare_positions: np.ndarray
    rare_bits: np.ndarray
    COMMON = 254  # patterns with a code of their own

    @classmethod
    def of(cls, n: int, positions: np.ndarray, bits: np.ndarray) -> _Coverage:
        patterns, which = np.unique(bits, return_inverse=True)
        common = np.argsort(-np.bincount(which), kind="stable")[:cls.COMMON]
        code_of = np.full(len(patterns), 255, dtype=np.uint8)
        code_of[common] = np.arange(1, len(common) + 1, dtype=np.uint8)
        codes = np.zeros(n, dtype=np.uint8)
        codes[positions] = code_of[which]
        table = np.zeros(256, dtype=np.uint32)
        table[1:len(common) + 1] = patterns[common]
        rare = code_of[which] == 255
        return cls(codes, table, positions[rare].astype(np.int32), bits[rare].astype(np.uint32))

    def covers(self, positions: np.ndarray, wanted_bits: int) -> np.ndarray:
        """Which of ``positions`` have coverage in ``wanted_bits`` (a boolean array)."""
        codes = self.codes[positions]
        ok = ((self.table & wanted_bits) != 0)[codes]
        rare = codes == 255
        if rare.any():
            at = np.searchsorted(self.rare_positions, positions[rare])
            ok[rare] = (self.rare_bits[at] & wanted_bits) != 0
        return ok

    def arrays(self) -> list[np.ndarray]:
        return [self.codes, self.table, self.rare_positions, self.rare_bits]


def _read_at_home(conn: Connection, locate: _Locator, home_names: dict[int, str], ids: np.ndarray,
                  confirmed: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per state: positions of the published at-home programmes serving it, in (name, id) order."""
    per_state: dict[str, list[int]] = {}
    for rows in _stream(conn, "SELECT state, clinic_id FROM clinic_at_home_state"):
        states, clinic_ids = zip(*rows)
        pos, found = locate(clinic_ids)
        for state, p, ok in zip(states, pos.tolist(), found.tolist()):
            if ok and p in home_names:
                per_state.setdefault(state, []).append(p)
    out = {}
    for state, positions in per_state.items():
        positions.sort(key=lambda p: (name_key(home_names[p]), ids[p]))
        pos = np.array(positions, dtype=np.int32)
        out[state] = (pos, confirmed[pos])
    return out


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def name_key(name: str) -> str:
    """Case-insensitive name order: ``lower()`` as SQLite folds it (ASCII), the same on every path."""
    return name.translate(_ASCII_LOWER)


# --- one index per database per process ------------------------------------------------------------

class _Entry:
    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None
        self.lock = threading.Lock()
        self.building = False


_ENTRIES: dict[Any, _Entry] = {}
_ENTRIES_LOCK = threading.Lock()


def _entry(engine: Engine) -> _Entry:
    key = engine.url
    with _ENTRIES_LOCK:
        entry = _ENTRIES.get(key)
        if entry is None:
            entry = _ENTRIES[key] = _Entry()
        return entry


def _engine_of(session: Session) -> Engine | None:
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return None  # another connection would see another database
    return engine


def _build_here(engine: Engine) -> Snapshot:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():  # one snapshot: the token and the rows agree
            return Snapshot.build(conn, read_token(conn))


def _build_apart(engine: Engine) -> Snapshot:
    """Build in another process and take the finished arrays back through a pipe.

    A build reads every published clinic as Python objects: at a million clinics that is ~500 MB
    for some seconds, and the allocator keeps tens of megabytes of it afterwards (a gunicorn
    master would hand those pages to every worker it forks). Another process's garbage ends with
    it. A single-threaded process (gunicorn's master, a command) forks; a process with threads (a
    worker) starts a fresh interpreter instead, since a fork could inherit a lock another thread
    holds (SQLite's among them)."""
    if threading.active_count() == 1 and hasattr(os, "fork"):
        return _build_in_fork(engine)
    url = engine.url.render_as_string(hide_password=False)
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", "from kapfinder.search.index import build_to_stdout; build_to_stdout()"],
                          input=url.encode(), capture_output=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"search index: the build process failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return pickle.loads(done.stdout)


def build_to_stdout() -> None:
    """The build process's side of ``_build_apart``: the database URL on stdin, the snapshot on stdout."""
    from sqlalchemy import create_engine

    from ..db import configure_engine

    engine = create_engine(sys.stdin.read().strip())
    configure_engine(engine)
    snapshot = _build_here(engine)
    engine.dispose()
    pickle.dump(snapshot, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


def _build_in_fork(engine: Engine) -> Snapshot:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: build, send, leave without running the parent's clean-up
        code = 1
        try:
            os.close(read_end)
            engine.dispose(close=False)  # the parent's pooled connections stay the parent's
            with os.fdopen(write_end, "wb") as out:
                pickle.dump(_build_here(engine), out, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        except BaseException:  # noqa: BLE001 - reported by the parent as a failed build
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as received:
        data = received.read()
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # reaped by someone else's SIGCHLD handler: the data tells
        pass
    try:
        return pickle.loads(data)
    except Exception as exc:
        raise RuntimeError("search index: the build process sent no index (see its traceback above)") from exc


def _build(engine: Engine, apart: bool = False) -> Snapshot:
    snapshot = _build_apart(engine) if apart and BUILD_APART else _build_here(engine)
    log.info("search index: %d published clinics in %.2f s (generation %s)", snapshot.n, snapshot.built_s,
             snapshot.token[1])
    return snapshot


def _rebuild(engine: Engine, entry: _Entry, apart: bool = False) -> None:
    try:
        snapshot = _build(engine, apart)
        entry.snapshot = snapshot
    except Exception:  # the SQL path keeps answering; the next search tries again
        log.exception("search index: rebuild failed")
    finally:
        entry.building = False


@dataclass
class Lookup:
    """What a search needs from this module: the token its session sees and, if valid, the snapshot."""

    token: Token | None
    snapshot: Snapshot | None


def current(session: Session) -> Snapshot | None:
    """This process's latest snapshot for the session's database, without asking whether the
    session sees the same data: a search computes its page from it, then checks the token in the
    same round trip that loads the page's cards (``search``)."""
    engine = _engine_of(session)
    if engine is None or not has_state_table(session):
        return None
    return _entry(engine).snapshot


def lookup(session: Session, *, build: bool = True, token: Token | None = None) -> Lookup:
    """The snapshot valid for what ``session`` sees (``token``, if already read), building or
    refreshing it when it is not."""
    engine = _engine_of(session)
    if engine is None or not has_state_table(session):
        return Lookup(None, None)
    token = token or read_token(session)
    entry = _entry(engine)
    snapshot = entry.snapshot
    if snapshot is not None and snapshot.token == token:
        return Lookup(token, snapshot)
    if not build:
        return Lookup(token, None)
    background = snapshot is not None and snapshot.built_s > SYNC_BUILD_S
    with entry.lock:
        if entry.building:
            return Lookup(token, None)
        if entry.snapshot is not snapshot and entry.snapshot is not None and entry.snapshot.token == token:
            return Lookup(token, entry.snapshot)
        entry.building = True
    if background:
        threading.Thread(target=_rebuild, args=(engine, entry, True), name="search-index", daemon=True).start()
        return Lookup(token, None)
    _rebuild(engine, entry)
    snapshot = entry.snapshot
    return Lookup(token, snapshot if snapshot is not None and snapshot.token == token else None)


def warm(engine: Engine) -> Snapshot | None:
    """Build the index now (gunicorn's master calls this before it forks its workers)."""
    with engine.connect() as conn:
        if not has_state_table(conn):
            return None
    entry = _entry(engine)
    with entry.lock:
        if entry.building:
            return entry.snapshot
        entry.building = True
    _rebuild(engine, entry, apart=True)
    return entry.snapshot
