"""Changes applied to a search index without rebuilding it: a base snapshot plus a small delta. No Flask.

Migration 0011 lists, per generation, the clinics a committed write touched (``search_change``). A
process whose snapshot was built at generation G and whose searches now see generation G' reads the
clinics listed in (G, G'] and re-reads just those from SQL (``build.build_snapshot(only=...)``), in
one transaction with the token, so the two agree. ``Patched`` answers like a ``Snapshot``: the base
with those clinics hidden, and the delta (their current rows, the published ones) searched beside
it, merged into one order. It is exact: the delta's clinics are placed among the base's by the
same tie-break key the build ranks by (confirmation time, newest first; name; id), and at-home
programmes by (name, id); base names are read only where a bisection probes them (a few per
changed clinic, kept for the base's lifetime).

A rebuild marker (a bulk load, a TRUNCATE, a statement over ``MANY`` clinics), a generation older
than ``search_state.change_floor`` (the log keeps the last 10,000) or a new epoch (a restore) cannot
be patched: the index is rebuilt in full (``registry``). Past ``REBASE_AT`` changed clinics the
registry builds a new base in the background while ``Patched`` keeps answering.
"""
from __future__ import annotations

import copy
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from .. import geo
from .build import _names, build_snapshot
from .index import Filters, Matches, Snapshot
from .plan import AT_HOME, name_key
from .freshness import Token

#: A delta of more changed clinics than this gets a new base built in the background.
REBASE_AT = 500
STATE_SQL = "SELECT epoch, generation, change_floor FROM search_state WHERE id = 1"
CHANGES_SQL = "SELECT generation, clinic_id FROM search_change WHERE generation > :since AND generation <= :upto"
_NO_TIME = np.iinfo(np.int64).min


# --- what a base keeps for patching (computed once per base, on its first patch) --------------------

class _BaseAids:
    """Lookups on a base snapshot: clinic id -> position, and the tie-break key in rank order."""

    def __init__(self, base: Snapshot):
        self.keys = _position_keys(base)
        # A UUID's text and its 16 bytes sort alike: the build's id order serves both.
        by_id = base.by_id if base.by_id is not None and len(base.by_id) == base.n else None
        self.by_key = by_id if by_id is not None else np.argsort(self.keys, kind="stable").astype(np.int32)
        self.sorted_keys = self.keys[self.by_key]
        self.by_rank = np.empty(base.n, dtype=np.int32)  # by_rank[rank] = position
        self.by_rank[base.rank] = np.arange(base.n, dtype=np.int32)
        confirmed = base.confirmed if base.confirmed is not None else np.full(base.n, _NO_TIME, dtype=np.int64)
        self.newest_first = _newest_first(confirmed)[self.by_rank]  # sorted
        self.names: dict[str, str] = {}  # names of base clinics, as they were at the base's generation

    def positions(self, base: Snapshot, ids: list[str]) -> np.ndarray:
        """Positions of those ``ids`` the base holds."""
        if not len(self.sorted_keys) or not ids:
            return np.empty(0, dtype=np.int64)
        wanted = _keys_of(base, ids)
        at = np.searchsorted(self.sorted_keys, wanted)
        at[at == len(self.sorted_keys)] = 0
        return self.by_key[at[self.sorted_keys[at] == wanted]]


_AIDS: weakref.WeakKeyDictionary[Snapshot, _BaseAids] = weakref.WeakKeyDictionary()


def prepare(base: Snapshot) -> None:
    """Compute what patching ``base`` needs now (after a build, before searches use it), so the
    first patch does not pay for it (an argsort of the ids: ~0.5 s at a million clinics)."""
    _aids(base)


def _aids(base: Snapshot) -> _BaseAids:
    aids = _AIDS.get(base)
    if aids is None:
        aids = _AIDS[base] = _BaseAids(base)
    return aids


def _position_keys(snapshot: Snapshot) -> np.ndarray:
    if snapshot._packed is not None:
        return np.ascontiguousarray(snapshot._packed).view("S16").ravel()
    return snapshot._ids


def _keys_of(snapshot: Snapshot, ids: list[str]) -> np.ndarray:
    if snapshot._packed is not None:
        return np.array([_uuid_bytes(i) for i in ids], dtype="S16")
    return np.array(ids, dtype="U36").astype("S36")


def _uuid_bytes(value: str) -> bytes:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return b"\xff" * 16  # not a UUID: not in a base whose ids all are
    return parsed.bytes if str(parsed) == value else b"\xff" * 16


def _newest_first(confirmed: np.ndarray) -> np.ndarray:
    return np.where(confirmed == _NO_TIME, np.iinfo(np.int64).max, -confirmed)


# --- the patched index ---------------------------------------------------------------------------

@dataclass
class _Matches:
    base: Matches
    delta: Matches
    total: int
    nb: int = 0  # the base's size: delta positions follow it

    @property
    def clinics(self) -> np.ndarray:
        """Every match's position in the patched index (base matches, then the delta's)."""
        return np.r_[self.base.clinics, self.delta.clinics + self.nb]


class Patched:
    """The index at ``token``: ``base`` with the clinics changed since hidden, and ``delta`` (those
    clinics as they are now). Positions below ``base.n`` are the base's, the rest the delta's."""

    def __init__(self, token: Token, base: Snapshot, masked: Snapshot, delta: Snapshot, changed: frozenset[str],
                 delta_rank: np.ndarray, at_home: dict[str, tuple[np.ndarray, np.ndarray]]):
        self.token = token
        self.base, self.masked, self.delta, self.changed = base, masked, delta, changed
        self.delta_rank = delta_rank  # each delta clinic's place among the base's ranks (a float)
        self.at_home = at_home  # merged lists of the states the delta serves
        self.nb = base.n
        self.n = base.n - int(np.count_nonzero(masked.hidden)) + delta.n
        self.built_s = base.built_s
        self.latest = changed  # the clinics changed since the index this one was patched from

    def id_at(self, positions: np.ndarray) -> list[str]:
        positions = np.asarray(positions, dtype=np.int64)
        in_base = positions < self.nb
        out: list[Any] = [None] * len(positions)
        for where, ids in ((np.flatnonzero(in_base), self.masked.id_at(positions[in_base])),
                           (np.flatnonzero(~in_base), self.delta.id_at(positions[~in_base] - self.nb))):
            for i, cid in zip(where.tolist(), ids):
                out[i] = cid
        return out

    def within(self, lat: float, lon: float, radius_mi: float, f: Filters) -> _Matches:
        base = self.masked.within(lat, lon, radius_mi, f)
        delta = self.delta.within(lat, lon, radius_mi, f)
        return _Matches(base, delta, base.total + delta.total, self.nb)

    def ranked(self, m: _Matches, start: int, stop: int, lat: float, lon: float) -> list[tuple[str, float]]:
        """Matches [start, stop) of the merged ranking (distance to 0.1 mi, then the tie-break rank).

        At most ``d`` (the delta's matches) of the merged rows before ``start`` are the delta's, so
        the base's rows from ``start - d`` on, merged with all of the delta's, hold the page."""
        d = m.delta.total
        stop = min(stop, m.total)
        if start >= stop:
            return []
        if d:
            d_rows, d_miles = self.delta.ranked_positions(m.delta, 0, d, lat, lon)
        else:
            d_rows, d_miles = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        b_start = max(0, start - d)
        b_stop = min(stop, m.base.total)
        if b_start < b_stop:
            b_rows, b_miles = self.masked.ranked_positions(m.base, b_start, b_stop, lat, lon)
        else:
            b_rows, b_miles = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
            if b_start > 0:
                return []  # cannot happen: the base would hold fewer than ``start - d`` rows
        buckets = np.array([geo.round_tenth(x) for x in np.r_[b_miles, d_miles].tolist()], dtype=np.float64)
        ranks = np.r_[self.base.rank[b_rows].astype(np.float64), self.delta_rank[d_rows]]
        positions = np.r_[b_rows, d_rows + self.nb]
        miles = np.r_[b_miles, d_miles]
        order = np.lexsort((ranks, buckets))
        if len(b_rows) and b_start > 0:
            # Merged rows before the first base row fetched are delta rows before ``start``.
            first = int(np.flatnonzero(order == 0)[0])
            order = order[first:]
            offset = b_start + first
        else:
            offset = 0
        order = order[max(0, start - offset):stop - offset]
        return list(zip(self.id_at(positions[order]), miles[order].tolist()))

    def in_state_at_home(self, state: str, f: Filters) -> tuple[np.ndarray, np.ndarray]:
        merged = self.at_home.get(state)
        if merged is None:
            return self.masked.in_state_at_home(state, f)
        positions, confirmed = merged
        keep = self._passes(positions, f, AT_HOME)
        return positions[keep], confirmed[keep]

    def near(self, positions: np.ndarray, lat: float, lon: float, radius_mi: float) -> np.ndarray:
        in_base = positions < self.nb
        out = np.zeros(len(positions), dtype=bool)
        if in_base.any():
            out[in_base] = self.masked.near(positions[in_base], lat, lon, radius_mi)
        if (~in_base).any():
            out[~in_base] = self.delta.near(positions[~in_base] - self.nb, lat, lon, radius_mi)
        return out

    def _passes(self, positions: np.ndarray, f: Filters, setting: int) -> np.ndarray:
        keep = np.zeros(len(positions), dtype=bool)
        in_base = positions < self.nb
        for part, snapshot, pos in ((in_base, self.masked, positions[in_base]),
                                    (~in_base, self.delta, positions[~in_base] - self.nb)):
            if not len(pos):
                continue
            keep[part] = snapshot.passes(pos, f, setting)
        return keep


# --- reading the changes --------------------------------------------------------------------------

def _transaction(conn: Connection) -> Connection:
    if conn.dialect.name == "postgresql":
        return conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def changed_between(engine: Engine, since: Token, upto: Token) -> frozenset[str] | None:
    """The clinics changed after ``since`` up to ``upto`` (both of one epoch), or None when the log
    cannot say (a rebuild marker, a log trimmed past ``since``, another epoch)."""
    if since[0] != upto[0] or since[1] > upto[1]:
        return None
    if since[1] == upto[1]:
        return frozenset()
    with engine.connect() as conn:
        state = conn.execute(text(STATE_SQL)).first()
        if state is None or state[0] != since[0] or int(state[2]) > since[1]:
            return None
        rows = conn.execute(text(CHANGES_SQL), {"since": since[1], "upto": upto[1]}).all()
    if any(cid is None for _g, cid in rows):
        return None
    return frozenset(cid for _g, cid in rows)


def advance(engine: Engine, current: Snapshot | Patched) -> Snapshot | Patched | None:
    """``current`` brought up to the directory as it is now, by patching; None when the changes
    since its base cannot be patched (a rebuild marker, a trimmed log, a new epoch)."""
    base = current.base if isinstance(current, Patched) else current
    with engine.connect() as conn:
        conn = _transaction(conn)
        with conn.begin():  # the token, the change log and the clinics read agree
            state = conn.execute(text(STATE_SQL)).first()
            if state is None:
                return None
            epoch, generation, floor = state[0], int(state[1]), int(state[2])
            if epoch != base.token[0] or floor > base.token[1] or generation < current.token[1]:
                return None
            if generation == current.token[1]:
                return current
            rows = conn.execute(text(CHANGES_SQL), {"since": base.token[1], "upto": generation}).all()
            if any(cid is None for _g, cid in rows):
                return None
            changed = frozenset(cid for _g, cid in rows)
            patched = patch(conn, base, (epoch, generation), changed)
    # The clinics changed since ``current``: their cards are dropped, the rest kept.
    patched.latest = frozenset(cid for g, cid in rows if g > current.token[1])
    return patched


def patch(conn: Connection, base: Snapshot, token: Token, changed: frozenset[str]) -> Patched:
    """``base`` with ``changed`` clinics re-read on ``conn`` (which sees the directory at ``token``)."""
    aids = _aids(base)
    ids = sorted(changed)
    delta = build_snapshot(conn, token, only=ids)
    hidden = np.zeros(base.n, dtype=bool)
    hidden[aids.positions(base, ids)] = True
    masked = copy.copy(base)
    masked.hidden = hidden
    delta_ids = delta.id_at(np.arange(delta.n))
    delta_names = _names(conn, delta_ids) if delta.n else {}
    delta_rank = _place(conn, base, aids, hidden, delta, delta_ids, delta_names)
    at_home = _merge_at_home(conn, base, aids, hidden, delta, delta_ids, delta_names)
    return Patched(token, base, masked, delta, changed, delta_rank, at_home)


def _name_key_at(conn: Connection, base: Snapshot, aids: _BaseAids, position: int) -> tuple[str, str]:
    """(name key, id) of an unchanged base clinic. Names are read one at a time, when a bisection
    probes them, and kept: a name read while its clinic was unchanged is its name at the base's
    generation, whatever happens to the clinic later."""
    cid = base.id_at(np.array([position]))[0]
    name = aids.names.get(cid)
    if name is None:
        name = aids.names[cid] = conn.execute(text("SELECT name FROM clinic WHERE id = :id"), {"id": cid}).scalar() or ""
    return name_key(name), cid


def _bisect(conn: Connection, base: Snapshot, aids: _BaseAids, positions: np.ndarray, key: tuple[str, str]) -> int:
    """How many of ``positions`` (unchanged base clinics in (name key, id) order) sort before ``key``."""
    lo, hi = 0, len(positions)
    while lo < hi:
        mid = (lo + hi) // 2
        if _name_key_at(conn, base, aids, int(positions[mid])) < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _place(conn: Connection, base: Snapshot, aids: _BaseAids, hidden: np.ndarray, delta: Snapshot,
           delta_ids: list[str], delta_names: dict[str, str]) -> np.ndarray:
    """Each delta clinic's rank among the base's, as a float between two base ranks: after every
    unchanged base clinic whose tie-break key is smaller, before every one whose key is larger;
    delta clinics between the same two base ranks keep the delta's own order (the delta is ranked
    by the same key, and within one patch every slot is computed over the same unchanged clinics,
    so two delta clinics are never placed out of order)."""
    if not delta.n:
        return np.empty(0, dtype=np.float64)
    confirmed = delta.confirmed if delta.confirmed is not None else np.full(delta.n, _NO_TIME, dtype=np.int64)
    keys = _newest_first(confirmed)
    lo = np.searchsorted(aids.newest_first, keys, side="left")
    hi = np.searchsorted(aids.newest_first, keys, side="right")
    slots = lo.astype(np.int64)
    for j in np.flatnonzero(hi > lo).tolist():  # confirmation times the base shares: names decide
        ranks = np.arange(lo[j], hi[j])
        positions = aids.by_rank[ranks]
        kept = ~hidden[positions]
        ranks, positions = ranks[kept], positions[kept]  # in rank order, which is key order
        smaller = _bisect(conn, base, aids, positions, (name_key(delta_names.get(delta_ids[j], "")), delta_ids[j]))
        if smaller:
            slots[j] = max(int(slots[j]), int(ranks[smaller - 1]) + 1)
    return slots - 1 + (delta.rank.astype(np.float64) + 1) / (delta.n + 1)


def _merge_at_home(conn: Connection, base: Snapshot, aids: _BaseAids, hidden: np.ndarray, delta: Snapshot,
                   delta_ids: list[str], delta_names: dict[str, str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per state the delta serves: base and delta programmes in one (name, id) order, as positions
    of the patched index, with their confirmation times."""
    out = {}
    for state, (d_pos, d_confirmed) in delta.at_home.items():
        b_pos, b_confirmed = base.at_home.get(state, (np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64)))
        kept = ~hidden[b_pos] if len(b_pos) else np.empty(0, dtype=bool)
        b_pos, b_confirmed = b_pos[kept].astype(np.int64), b_confirmed[kept]
        at = np.array([_bisect(conn, base, aids, b_pos, (name_key(delta_names.get(delta_ids[p], "")), delta_ids[p]))
                       for p in d_pos.tolist()], dtype=np.int64)
        # Base entry i sorts as (i, 1); a delta entry before base entry ``at`` as (at, 0), in delta order.
        major = np.r_[np.arange(len(b_pos)), at]
        minor = np.r_[np.ones(len(b_pos), dtype=np.int64), np.zeros(len(at), dtype=np.int64)]
        order = np.lexsort((np.arange(len(major)), minor, major))
        out[state] = (np.r_[b_pos, d_pos.astype(np.int64) + base.n][order], np.r_[b_confirmed, d_confirmed][order])
    return out
