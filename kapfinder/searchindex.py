"""The in-memory search index: every published clinic's position and filter columns as numpy arrays.

No Flask here. ``search.py`` asks it for the clinics within a radius that pass the patient's filters,
how many there are and which rows a page of the distance ranking needs; the database still answers
everything a page shows (``cards``) and every search the index does not take (sorts by name or last
verification, searches without a point).

Why: counting tens of thousands of matches of a 250-mile search in SQL costs tens of milliseconds on
SQLite and more on PostgreSQL; the same count over contiguous slices of sorted arrays costs well under
one. Layout (n published clinics, those with coordinates first):

* sorted by (``lat_cell``, lon), so a radius reads one contiguous slice per one-degree latitude band;
* ``ux``/``uy``/``uz`` float64 unit vectors: a clinic is within the radius when the dot product with the
  query point is ≥ cos(radius / R), the same test and the same float arithmetic as the SQL path;
* one byte per filter column (settings, methods, conditions, accepting);
* per carrier, the positions that carrier covers (sorted) and 32 coverage bits each: 8 per service,
  one per plan type, all 8 when the row names no plan type;
* per state, the at-home programmes serving it, in name order, with their confirmation times.

Freshness: migration 0007 keeps ``search_state`` (epoch, generation) moving with every write to the
clinic tables. A search reads it through its own session; the index is used only when it was built
at exactly that state, from committed data on a connection of its own. A session that sees other
data (its own uncommitted writes, or a commit newer than the index) is answered by SQL instead while
the index rebuilds (in the background once a build takes longer than ``SYNC_BUILD_S``).
"""
from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from . import geo, vocab
from .db import raw_fetchall

log = logging.getLogger(__name__)

#: Rebuilds that took longer than this run in a background thread; searches use SQL meanwhile.
SYNC_BUILD_S = 0.5
#: Slack (miles) on bucket edges: the float error of a dot product near 1 is ~10 cm.
EDGE_SLACK_MI = 0.001
#: Cards kept per process (a card is ~4 KB).
CARD_CACHE_SIZE = 8_000
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


def read_token(bind: Session | Connection) -> Token | None:
    sql = "SELECT epoch, generation FROM search_state WHERE id = 1"
    if isinstance(bind, Connection):
        row = bind.execute(text(sql)).first()
    else:  # every search asks: straight through the driver
        rows = raw_fetchall(bind, sql)
        row = rows[0] if rows else None
    return (row[0], int(row[1])) if row else None


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
    coverage_bits: int = 0  # with carrier: the bits of the wanted services × plan types


def coverage_bits(service: str | None, plan_type: str | None) -> int:
    plans = (1 << vocab.PLAN_TYPES.slugs.index(plan_type)) if plan_type else 0xFF
    services = [service] if service else vocab.SERVICES.slugs
    return sum(plans << _SERVICE_SHIFT[s] for s in services)


class Snapshot:
    """The index at one (epoch, generation). Immutable once built; shared by a process's threads."""

    def __init__(self, token: Token):
        self.token = token
        self.n = 0
        self.built_s = 0.0

    # -- building --

    @classmethod
    def build(cls, conn: Connection, token: Token) -> Snapshot:
        started = time.perf_counter()
        self = cls(token)
        cols = _read_clinics(conn)
        n = len(cols["id"])
        # Clinics with coordinates first, by (lat_cell, lon); the rest after them.
        has_point = ~np.isnan(cols["lat"])
        cell = np.where(has_point, np.floor(np.nan_to_num(cols["lat"])), 10_000).astype(np.int64)
        order = np.lexsort((np.nan_to_num(cols["lon"]), cell))
        self.n = n
        self.ids = cols["id"][order]
        self.ux, self.uy, self.uz = (np.ascontiguousarray(cols[k][order]) for k in ("ux", "uy", "uz"))
        # Exact coordinates and confirmation times rank a page's rows without asking the database.
        self.lat, self.lon = cols["lat"][order], cols["lon"][order]
        self.confirmed = cols["confirmed"][order]
        self.lon32 = self.lon.astype(np.float32)
        for key in ("settings", "methods", "conditions", "accepting"):
            setattr(self, key, np.ascontiguousarray(cols[key][order]))
        services = cols["services"][order]  # read once, to keep only coverage of offered services
        self.cell_start = np.searchsorted(cell[order], np.arange(-90, 92), side="left")
        where = np.empty(n, dtype=np.int64)  # where[row read] = position in the index
        where[order] = np.arange(n)
        cols_home_names = cols["home_names"]
        del cols, cell, has_point, order
        # Finding a clinic id's position: binary search in the ids sorted.
        by_id = np.argsort(self.ids, kind="stable")
        locate = _Locator(self.ids[by_id], by_id)
        self.carriers = _read_insurance(conn, locate, services)
        home_names = {int(where[row]): name for row, name in cols_home_names}
        del cols_home_names, services
        self.at_home = _read_at_home(conn, locate, home_names, self.ids, self.confirmed)
        self.built_s = time.perf_counter() - started
        return self

    # -- reading --

    def id_at(self, positions: np.ndarray) -> list[str]:
        return [v.decode() for v in self.ids[positions].tolist()]

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
            covered, bits = self.carriers.get(f.carrier, (None, None))
            if covered is None:
                return np.zeros(len(pos), dtype=bool)
            at = np.searchsorted(covered, pos)
            at[at == len(covered)] = 0
            keep &= (covered[at] == pos) & ((bits[at] & f.coverage_bits) != 0)
        return keep

    def within(self, lat: float, lon: float, radius_mi: float, f: Filters) -> tuple[np.ndarray, np.ndarray]:
        """In-clinic listings within the radius that pass the filters: (positions, dot products)."""
        qx, qy, qz = _unit(lat, lon)
        floor_cos = geo.cos_of_radius(radius_mi)
        pos_parts, dot_parts = [], []
        for start, stop in self._slices(lat, lon, radius_mi):
            dots = self.ux[start:stop] * qx + self.uy[start:stop] * qy + self.uz[start:stop] * qz
            hit = dots >= floor_cos
            hit &= (self.settings[start:stop] & _IN_CLINIC) != 0
            idx = np.flatnonzero(hit)
            if len(idx):
                pos_parts.append(idx + start)
                dot_parts.append(dots[idx])
        if not pos_parts:
            return np.empty(0, dtype=np.int64), np.empty(0)
        pos, dots = np.concatenate(pos_parts), np.concatenate(dot_parts)
        keep = self._keep(pos, f)
        return (pos, dots) if keep is None else (pos[keep], dots[keep])

    def _slices(self, lat: float, lon: float, radius_mi: float) -> Iterator[tuple[int, int]]:
        south, north, west, east, wraps = geo.bounding_box(lat, lon, radius_mi)
        ranges = [(west, 180.0), (-180.0, east)] if wraps else [(west, east)]
        for band in range(max(-90, math.floor(south)), min(90, math.floor(north)) + 1):
            lo, hi = int(self.cell_start[band + 90]), int(self.cell_start[band + 91])
            if lo == hi:
                continue
            lons = self.lon32[lo:hi]
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
        qx, qy, qz = _unit(lat, lon)
        dots = self.ux[positions] * qx + self.uy[positions] * qy + self.uz[positions] * qz
        return (dots >= geo.cos_of_radius(radius_mi)) & ((self.settings[positions] & _IN_CLINIC) != 0)


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
    for key in ("ux", "uy", "uz"):
        out[key] = np.nan_to_num(out[key])
    for key, vocabulary in (("settings", vocab.SETTINGS), ("methods", vocab.METHODS),
                            ("conditions", vocab.CONDITIONS), ("services", vocab.SERVICES)):
        out[key] = out[key].astype(_mask_dtype(len(vocabulary.slugs)))
    out["accepting"] = out["accepting"].astype(np.uint8)
    out["confirmed"] = out["confirmed"].astype(np.int64)
    out["home_names"] = home_names
    return out


def _mask_dtype(bits: int):
    return np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32 if bits <= 32 else np.uint64


def _read_insurance(conn: Connection, locate: _Locator, services: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per carrier: sorted positions it covers, with their coverage bits (offered services only).
    Rows of clinics that are not published are dropped by ``locate`` (no join needed)."""
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
        parts_pos.append(pos[ok].astype(np.int32))
        parts_bits.append(plan_bits[ok] << (8 * svc[ok]).astype(np.uint32))
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
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
        out[slug] = (p[starts].copy(), np.bitwise_or.reduceat(b, starts).astype(np.uint32))
    return out


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
        self.cards: OrderedDict[str, Any] = OrderedDict()
        self.cards_token: Token | None = None


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


def _build(engine: Engine) -> Snapshot:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():  # one snapshot: the token and the rows agree
            token = read_token(conn)
            snapshot = Snapshot.build(conn, token)
    log.info("search index: %d published clinics in %.2f s (generation %s)", snapshot.n, snapshot.built_s, token[1])
    return snapshot


def _rebuild(engine: Engine, entry: _Entry) -> None:
    try:
        snapshot = _build(engine)
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
    entry: _Entry | None

    def cached_cards(self) -> OrderedDict[str, Any] | None:
        """The card cache, when this session sees committed data the cache may hold."""
        if self.entry is None or self.snapshot is None or self.token is None:
            return None
        entry = self.entry
        if entry.cards_token != self.token:
            entry.cards = OrderedDict()
            entry.cards_token = self.token
        return entry.cards


def lookup(session: Session, *, build: bool = True) -> Lookup:
    """The snapshot valid for what ``session`` sees, building or refreshing it when it is not."""
    engine = _engine_of(session)
    if engine is None or not has_state_table(session):
        return Lookup(None, None, None)
    token = read_token(session)
    entry = _entry(engine)
    snapshot = entry.snapshot
    if snapshot is not None and snapshot.token == token:
        return Lookup(token, snapshot, entry)
    if not build:
        return Lookup(token, None, entry)
    background = snapshot is not None and snapshot.built_s > SYNC_BUILD_S
    with entry.lock:
        if entry.building:
            return Lookup(token, None, entry)
        if entry.snapshot is not snapshot and entry.snapshot is not None and entry.snapshot.token == token:
            return Lookup(token, entry.snapshot, entry)
        entry.building = True
    if background:
        threading.Thread(target=_rebuild, args=(engine, entry), name="search-index", daemon=True).start()
        return Lookup(token, None, entry)
    _rebuild(engine, entry)
    snapshot = entry.snapshot
    return Lookup(token, snapshot if snapshot is not None and snapshot.token == token else None, entry)


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
    _rebuild(engine, entry)
    return entry.snapshot
