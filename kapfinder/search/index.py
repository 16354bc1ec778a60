"""The in-memory search index: every published clinic's position and filter columns as numpy arrays.

No Flask here. The ``indexed`` engine asks a ``Snapshot`` for the clinics within a radius that pass
the patient's filters, how many there are and which rows a page of the distance ranking needs; the
database still answers everything a page shows (``cards``) and every search the index does not take
(sorts by name or last verification, searches without a point). ``build`` reads a snapshot from the
database, ``registry`` keeps this process's latest one, ``freshness`` says whether it may answer.

Why: counting tens of thousands of matches of a 250-mile search in SQL costs tens of milliseconds on
SQLite and more on PostgreSQL; the same count over contiguous slices of sorted arrays costs well under
one. Layout (n published clinics, those with coordinates first), about 45 bytes per clinic:

* *points*: the distinct coordinates clinics sit at, sorted by (``lat_cell``, lon), so a radius reads
  one contiguous slice of points per one-degree latitude band; each point's ``ux``/``uy``/``uz``
  float64 unit vector (a point is within the radius when the dot product with the searched point is
  ≥ cos(radius / R): the same test and the same float arithmetic as the SQL path) and coordinates;
* clinics point by point (a point's clinics are one run of positions), each with its 16-byte id, its
  tie-break ``rank`` and one byte per filter column (settings, methods, conditions, accepting), and
  the languages its staff or interpreters cover (a 32- or 64-bit mask);
* per carrier, one byte per clinic for its coverage, a code for 32 bits: 8 per service, one per
  plan type, all 8 when the row names no plan type (rare patterns are kept apart, by position);
* per state, the at-home programmes serving it, in name order, with their confirmation times.
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator, Sequence

import numpy as np

from .. import coverage, geo, vocab
from ..models import unit_vector
from .freshness import Token
from .plan import AT_HOME, EDGE_SLACK_MI, IN_CLINIC

_LON_PAD = 1e-4  # degrees: float32 longitudes choose slices, float64 dot products decide
_SERVICE_SHIFT = {slug: 8 * i for i, slug in enumerate(vocab.SERVICES.slugs)}


# --- what a search asks ---------------------------------------------------------------------------

@dataclass
class Filters:
    """The filter groups of a search, as masks (0 = no filter)."""

    methods: int = 0
    conditions: int = 0
    #: Language codes: staff or interpreter languages (``Snapshot.languages`` ORs the two masks).
    languages: int = 0
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

    def __init__(self, token: Token, *, ids: np.ndarray, rank: np.ndarray, points: Sequence[np.ndarray],
                 point_start: np.ndarray, settings: np.ndarray, methods: np.ndarray, conditions: np.ndarray,
                 accepting: np.ndarray, carriers: dict[str, Coverage],
                 at_home: dict[str, tuple[np.ndarray, np.ndarray]], languages: np.ndarray | None = None):
        """``ids`` (36-byte text), ``rank`` and the filter columns are by position; ``points`` are the
        points' (lat, lon, ux, uy, uz) in (``lat_cell``, lon) order, ``point_start`` where each
        point's run of positions starts (and, last, where the clinics without coordinates start);
        ``at_home`` is per state (positions in name order, their confirmation times in µs)."""
        self.token = token
        self.n = len(ids)
        self.built_s = 0.0
        self.rank = rank
        self.p_lat, self.p_lon, self.p_ux, self.p_uy, self.p_uz = points
        self.p_start = point_start  # clinics of point i: p_start[i]:p_start[i + 1]
        self.p_lon32 = self.p_lon.astype(np.float32)
        self.cell_start = np.searchsorted(np.floor(self.p_lat), np.arange(-90, 92), side="left")
        self.settings, self.methods, self.conditions, self.accepting = settings, methods, conditions, accepting
        # Staff languages | interpreter languages, per clinic (one filter column for both).
        self.languages = languages if languages is not None else np.zeros(len(ids), dtype=np.uint64)
        self.carriers = carriers
        self.at_home = at_home
        self._packed = _pack_ids(ids)
        self._ids = ids if self._packed is None else None
        #: Confirmation times (µs, by position), for placing changed clinics among these (``delta``).
        self.confirmed: np.ndarray | None = None
        #: Positions in id order (the build sorts them anyway; ``delta`` finds changed clinics by it).
        self.by_id: np.ndarray | None = None
        #: Positions searches skip (clinics changed since the build: ``delta.Patched`` answers for
        #: them). Set only on a copy: a snapshot as built hides nothing.
        self.hidden: np.ndarray | None = None

    # -- reading --

    def id_at(self, positions: np.ndarray) -> list[str]:
        if self._packed is None:
            return [v.decode() for v in self._ids[positions].tolist()]
        return [str(uuid.UUID(bytes=row)) for row in map(bytes, self._packed[positions])]

    def passes(self, pos: np.ndarray, f: Filters, setting: int) -> np.ndarray:
        """Which clinics at ``pos`` offer ``setting``, are not hidden (patched away) and pass ``f``."""
        keep = (self.settings[pos] & setting) != 0
        if self.hidden is not None:
            keep &= ~self.hidden[pos]
        filtered = self._keep(pos, f)
        if filtered is not None:
            keep &= filtered
        return keep

    def _keep(self, pos: np.ndarray, f: Filters) -> np.ndarray | None:
        """Which of ``pos`` pass the filters (a boolean array), or None when nothing filters."""
        if not (f.methods or f.conditions or f.languages or f.accepting or f.carrier is not None):
            return None
        keep = np.ones(len(pos), dtype=bool)
        if f.methods:
            keep &= (self.methods[pos] & f.methods) != 0
        if f.conditions:
            keep &= (self.conditions[pos] & f.conditions) != 0
        if f.languages:
            keep &= (self.languages[pos] & np.uint64(f.languages)) != 0
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
        qx, qy, qz = unit_vector(lat, lon)
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
        keep = self.passes(pos, f, IN_CLINIC)
        kept = np.add.reduceat(keep.astype(np.int64), np.cumsum(counts) - counts)
        some = kept > 0
        return Matches(points[some], dots[some], kept[some], pos[keep], int(kept.sum()))

    def ranked(self, m: Matches, start: int, stop: int, lat: float, lon: float) -> list[tuple[str, float]]:
        """Matches [start, stop) of the distance ranking: distance rounded to 0.1 mi, then ``rank``."""
        rows, miles = self.ranked_positions(m, start, stop, lat, lon)
        return list(zip(self.id_at(rows), miles.tolist()))

    def ranked_positions(self, m: Matches, start: int, stop: int, lat: float,
                         lon: float) -> tuple[np.ndarray, np.ndarray]:
        """``ranked`` as (positions, exact miles).

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
        return rows[order], per_row[order]

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
        keep = self.passes(pos, f, AT_HOME)
        return pos[keep], confirmed[keep]

    def near(self, positions: np.ndarray, lat: float, lon: float, radius_mi: float) -> np.ndarray:
        """Which of ``positions`` are in-clinic listings within the radius (a boolean array)."""
        located = positions < self.p_start[-1]
        if not located.any():
            return located
        qx, qy, qz = unit_vector(lat, lon)
        points = np.searchsorted(self.p_start, np.where(located, positions, 0), side="right") - 1
        dots = self.p_ux[points] * qx + self.p_uy[points] * qy + self.p_uz[points] * qz
        return located & (dots >= geo.cos_of_radius(radius_mi)) & ((self.settings[positions] & IN_CLINIC) != 0)


def _runs(first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions first[i], first[i] + 1, … (counts[i] of them) for every i, one after another."""
    total = int(counts.sum())
    return np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(total)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(value: datetime) -> int:
    """Microseconds since the epoch, exactly (a naive datetime is UTC, as stored)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // timedelta(microseconds=1)


@dataclass
class Coverage:
    """One carrier's coverage of every clinic: a byte each. Codes 1-254 stand for the 254 commonest
    32-bit patterns (``table``); 255 means "see ``rare_bits``" (sorted by position), 0 no coverage."""

    codes: np.ndarray
    table: np.ndarray
    rare_positions: np.ndarray
    rare_bits: np.ndarray
    COMMON = 254  # patterns with a code of their own

    @classmethod
    def of(cls, n: int, positions: np.ndarray, bits: np.ndarray) -> Coverage:
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

