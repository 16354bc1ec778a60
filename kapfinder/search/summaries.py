"""Each clinic's API search result, held pre-encoded beside the index snapshot. No Flask here.

A JSON API search answered by the index needs, for its 20 results, no SQL and no result dicts:
the parts of ``serialize.clinic_summary`` that do not depend on the search (everything but
``url``, the distances, ``match``, ``stale`` and ``coverage``) are kept per clinic as JSON text,
zlib-compressed with a dictionary of the vocabularies (~1.5 KB of JSON in ~0.3 KB), and a page is
those texts joined with the few values the search gives. With a carrier, ``coverage`` is computed
by ``coverage.coverage_for`` itself, from the insurance rows, prices and payment options kept in the
same entry, so the answer is the one the dict path gives (tests/api/test_api_summaries.py holds them
equal).

A store belongs to one snapshot (``store_for``), so to one state of the directory, as the card
cache does: gunicorn's master fills it for every clinic before it forks (``preload``); a snapshot
built later is filled as searches read its clinics (their cards read through SQL once, in the round
trip that reads the freshness token anyway).
"""
from __future__ import annotations

import threading
import weakref
import zlib
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable

import numpy as np
import orjson
from sqlalchemy.orm import Session

from .. import vocab
from ..coverage import coverage_for
from ..db import raw_fetchall
from ..geo import mi_to_km, round_tenth
from ..models import STALE_AFTER
from ..serialize import clinic_summary
from .cards import InsuranceRow, PriceRow, load_cards_then

#: Keys of ``clinic_summary`` a search sets; the rest are the clinic's own.
SEARCH_KEYS = ("coverage", "distance_km", "distance_mi", "match", "stale", "url")
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_SEP = b"\x00"  # never in orjson's output (it escapes control characters)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Chunk of ids per preload query batch.
PRELOAD_CHUNK = 2_000
#: gunicorn's master packs every clinic's entry up to this many clinics (~0.5 KB each, shared by
#: the workers); a larger directory fills the entries as searches read them (``EXTRA_LIMIT``).
PRELOAD_LIMIT = 300_000
#: Entries a process keeps beyond the packed ones (~0.5 KB each).
EXTRA_LIMIT = 20_000


def _dictionary() -> bytes:
    """A zlib preset dictionary: the keys and vocabulary slugs every entry repeats."""
    words = ['"accepting_as_of":null,"accepting_new_patients":', '"address":{"city":"', '","state":"',
             '","street":"', '","zip":"', '"conditions":["', '"id":"', '"insurance":[{"as_of":"20',
             '","carrier":"', '","network":"in-network","plan_types":["', '"],"service":"',
             '"lat":', '"lon":', '"methods":["', '"name":"', '"phone":"+1', '"sample":true', '"sample":false',
             '"self_pay":[{"as_of":"20', '","max_usd":', ',"min_usd":', ',"service":"', '"services":["',
             '"settings":["in-clinic"', '"slug":"', '"verified_at":"20', 'T00:00:00Z', '"website":"https://',
             '.example', 'Ketamine', 'Clinic', 'Wellness', 'Center', 'out-of-network']
    for v in (vocab.METHODS, vocab.CONDITIONS, vocab.SERVICES, vocab.CARRIERS, vocab.PLAN_TYPES, vocab.SETTINGS):
        words += [f'"{slug}"' for slug in v.slugs]
    return "".join(words).encode()


_ZDICT = _dictionary()


def _compress(data: bytes) -> bytes:
    c = zlib.compressobj(6, zdict=_ZDICT)
    return c.compress(data) + c.flush()


def _decompress(data: bytes) -> bytes:
    d = zlib.decompressobj(zdict=_ZDICT)
    return d.decompress(data) + d.flush()


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def encode(card: Any) -> bytes:
    """One clinic's entry: its confirmation time in µs, its slug, the four runs of static JSON
    members between the keys a search sets, and its coverage facts; compressed."""
    static = clinic_summary(card, url=None)
    for key in SEARCH_KEYS:
        static.pop(key, None)
    keys = sorted(static)
    runs: list[list[str]] = [[], [], [], []]
    for key in keys:  # sorted: runs split where the search's keys fall
        run = 0 if key < "distance_km" else 1 if key < "match" else 2 if key < "stale" else 3
        runs[run].append(key)
    parts = [b"" if card.confirmed_at is None else str(_micros(card.confirmed_at)).encode(),
             orjson.dumps(card.slug)]
    for run in runs:
        parts.append(orjson.dumps({k: static[k] for k in run}, option=_OPTIONS)[1:-1])
    facts = {"s": card.services,
             "p": [[p.service, p.min_usd, p.max_usd, _iso(p.as_of)] for p in card.prices],
             "i": [[r.carrier, r.service, r.network, r.plan_types_mask, _iso(r.as_of)] for r in card.insurance],
             "o": [slug for slug in vocab.PAYMENT_OPTIONS.slugs if getattr(card, slug)]}
    parts.append(orjson.dumps(facts))
    return _compress(_SEP.join(parts))


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class _CoverageFacts:
    """What ``coverage_for`` reads of a clinic, from an entry's facts (rows without their ids,
    which it does not read)."""

    def __init__(self, facts: dict[str, Any]):
        self.services = facts["s"]
        self.prices = [PriceRow(None, None, s, lo, hi, date.fromisoformat(a) if a else None)
                       for s, lo, hi, a in facts["p"]]
        self.insurance = [InsuranceRow(None, None, ca, s, n, m, date.fromisoformat(a) if a else None)
                          for ca, s, n, m, a in facts["i"]]
        self._options = set(facts["o"])

    def __getattr__(self, name: str) -> bool:
        if name in vocab.PAYMENT_OPTIONS.slugs:
            return name in self._options
        raise AttributeError(name)


class Summary:
    """One clinic's entry, opened."""

    __slots__ = ("confirmed_us", "slug", "runs", "facts")

    def __init__(self, stored: bytes):
        parts = _decompress(stored).split(_SEP)
        self.confirmed_us = int(parts[0]) if parts[0] else None
        self.slug = parts[1]  # JSON text
        self.runs = parts[2:6]
        self.facts = parts[6]

    def json(self, *, url: bytes, distance_mi: float | None, match: str | None, cutoff_us: int,
             carrier: str | None, plan_type: str | None) -> bytes:
        """The result object, as ``orjson.dumps(clinic_summary(...), OPT_SORT_KEYS)`` gives it."""
        if distance_mi is None:
            mi = km = b"null"
        else:
            mi = orjson.dumps(round_tenth(distance_mi))
            km = orjson.dumps(round_tenth(mi_to_km(distance_mi)))
        stale = b"true" if self.confirmed_us is None or self.confirmed_us < cutoff_us else b"false"
        a, b, c, d = self.runs
        cov = None
        if carrier is not None:
            entries = coverage_for(_CoverageFacts(orjson.loads(self.facts)), carrier, plan_type)
            cov = b'"coverage":' + orjson.dumps(entries, option=_OPTIONS)
        members = [a, cov, b'"distance_km":' + km, b'"distance_mi":' + mi, b,
                   b'"match":' + (b"null" if match is None else orjson.dumps(match)), c,
                   b'"stale":' + stale, b'"url":' + url, d]
        return b"{" + b",".join([m for m in members if m]) + b"}"


class SummaryStore:
    """The entries of one snapshot's clinics, by id.

    ``preload`` packs them into one bytes object with a numpy array of offsets and one of sorted ids:
    reading an entry then writes to no object of the store, so the pages gunicorn's master filled stay
    shared by its workers (a dict of 100,000 bytes objects would be copied into every worker page by
    page, as reading an object updates its reference count). Entries read after that (a snapshot
    built later) are kept in a dict, up to ``EXTRA_LIMIT``.
    """

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype="S1")
        self._offsets = np.zeros(1, dtype=np.int64)
        self._blob = b""
        self._extra: dict[str, bytes] = {}
        #: Packed entries no longer true at this store's state (their clinics changed since).
        self._stale: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self._keys) + len(self._extra)

    def _packed(self, ids: list[str]) -> list[bytes | None]:
        if not len(self._keys) or not ids:
            return [None] * len(ids)
        wanted = np.array([cid.encode() for cid in ids], dtype=self._keys.dtype)
        at = np.minimum(np.searchsorted(self._keys, wanted), len(self._keys) - 1)
        hit = self._keys[at] == wanted
        starts, stops = self._offsets[at].tolist(), self._offsets[at + 1].tolist()
        blob = self._blob
        return [blob[start:stop] if ok else None for ok, start, stop in zip(hit.tolist(), starts, stops)]

    def load_then(self, session: Session, ids: Iterable[str], then: str,
                  fresh: Callable[[list], bool]) -> tuple[dict[str, Summary] | None, list]:
        """As ``CardCache.load_then``: the entries of ``ids`` (the missing ones read through SQL in
        the round trip of ``then``), or (None, rows) when ``fresh`` says that the session does not
        see this store's state of the directory (then nothing read is kept)."""
        ids = list(ids)
        found = dict(zip(ids, self._packed(ids)))
        stale = self._stale
        for cid, stored in found.items():
            if stored is None or cid in stale:
                found[cid] = self._extra.get(cid)
        missing = [cid for cid, stored in found.items() if stored is None]
        if missing:
            cards, rows = load_cards_then(session, missing, then)
        else:
            cards, rows = {}, raw_fetchall(session, then)
        if not fresh(rows):
            return None, rows
        for cid, card in cards.items():
            found[cid] = encode(card)
            if len(self._extra) < EXTRA_LIMIT:
                self._extra[cid] = found[cid]
        return {cid: Summary(stored) for cid, stored in found.items() if stored is not None}, rows

    def preload(self, session: Session, ids: list[str], then: str, fresh: Callable[[list], bool]) -> bool:
        """Read and pack the entries of ``ids``; False (and nothing kept) if the directory moved on."""
        entries: list[tuple[bytes, bytes]] = []
        for i in range(0, len(ids), PRELOAD_CHUNK):
            cards, rows = load_cards_then(session, ids[i:i + PRELOAD_CHUNK], then)
            if not fresh(rows):
                return False
            entries += [(cid.encode(), encode(card)) for cid, card in cards.items()]
        entries.sort()
        width = max((len(k) for k, _e in entries), default=1)
        self._keys = np.array([k for k, _e in entries], dtype=f"S{width}")
        self._offsets = np.concatenate([[0], np.cumsum([len(e) for _k, e in entries], dtype=np.int64)])
        self._blob = b"".join(e for _k, e in entries)
        self._extra = {}
        self._stale = frozenset()
        return True

    def keep_from(self, other: SummaryStore, dropped: frozenset[str]) -> None:
        """Take ``other``'s entries but those of ``dropped`` clinics (a later state of the
        directory: the packed buffers are shared, not copied). A store that has entries keeps them."""
        if len(self):
            return
        self._keys, self._offsets, self._blob = other._keys, other._offsets, other._blob
        self._stale = other._stale | dropped
        self._extra = {cid: e for cid, e in list(other._extra.items()) if cid not in dropped}

    def packed(self) -> tuple[np.ndarray, np.ndarray, bytes]:
        """What ``preload`` packed, to hand to another process (``unpack``)."""
        return self._keys, self._offsets, self._blob

    def unpack(self, packed: tuple[np.ndarray, np.ndarray, bytes]) -> None:
        self._keys, self._offsets, self._blob = packed
        self._extra = {}
        self._stale = frozenset()


_STORES: weakref.WeakKeyDictionary[Any, SummaryStore] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def store_for(state: Any) -> SummaryStore:
    """The store of one state of the directory, kept as long as ``state`` (its index snapshot)."""
    with _STORES_LOCK:
        store = _STORES.get(state)
        if store is None:
            store = _STORES[state] = SummaryStore()
        return store


def cutoff_micros(now: datetime) -> int:
    """Listings confirmed before this (µs since the epoch) are stale at ``now``."""
    return _micros(now - STALE_AFTER)
