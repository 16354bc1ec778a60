"""Read-only clinic cards: what a search result shows, loaded with a few Core queries. No Flask here.

A results page needs each clinic's columns, insurance rows, self-pay prices and at-home states.
Loading 20 ORM ``Clinic`` objects with their collections costs ~5 ms; the same facts as plain
objects cost a fraction of that, and can be kept between requests while the directory does not change
(``CardCache``: one per state of the directory, kept as long as the index snapshot that stands for
it). A card is a ``models.ClinicFacts``, as ``Clinic`` is: it answers every column and derived property
the result card, the map, the API summary and ``coverage_for`` read, from the same code.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterable

from sqlalchemy.orm import Session

from ..db import raw_fetchall, raw_fetchall_many
from ..models import Clinic, ClinicAtHomeState, ClinicInsurance, ClinicPrice
from ..models.facts import ClinicDerived, InsuranceDerived
from .plan import AT_HOME

_CLINIC = Clinic.__table__
_INSURANCE = ClinicInsurance.__table__
_PRICE = ClinicPrice.__table__
_AT_HOME = ClinicAtHomeState.__table__
#: Long columns a result never shows (the clinic page reads the whole listing through the ORM);
#: leaving them out makes a card a third of the size, so the process keeps three times as many.
LEFT_OUT = frozenset({"description", "hours", "hours_note", "ux", "uy", "uz", "lat_cell"})
#: Longest IN (...) list sent at once (SQLite's default limit on variables is 32,766).
CHUNK = 500
#: Cards kept per state of the directory (a card is ~3.5 KB; a miss costs only its rows, read in
#: the round trip every search makes anyway).
CARD_CACHE_SIZE = 1_000


def _row_type(name: str, table, *derived: type) -> type:
    base = namedtuple(name, list(table.c.keys()))
    return type(name, (base, *derived), {"__slots__": ()})


InsuranceRow = _row_type("InsuranceRow", _INSURANCE, InsuranceDerived)
PriceRow = _row_type("PriceRow", _PRICE)
AtHomeRow = _row_type("AtHomeRow", _AT_HOME)


def _rows(kind: type, raw: str) -> property:
    # Cards keep their rows as plain tuples, which the cyclic garbage collector stops tracking, so a
    # process caching thousands of cards pays no long GC pauses; named rows are made on access.
    return property(lambda self: [kind._make(values) for values in getattr(self, raw)])


class ClinicCard(ClinicDerived):
    """A published clinic as search results read it: every column, plus its three collections.
    Read-only; its derived properties are ``Clinic``'s (``models.facts.ClinicDerived``).

    Columns are kept as the driver returned them and converted (datetimes, dates, booleans, JSON)
    the first time they are read: a page reads a dozen of a card's fifty columns, and conversion is
    most of what loading costs.
    """

    def __init__(self, raw: tuple, layout: dict[str, tuple[int, Any]]):
        self.__dict__["_raw"] = raw
        self.__dict__["_layout"] = layout
        self._insurance: tuple[tuple, ...] = ()
        self._prices: tuple[tuple, ...] = ()
        self._at_home: tuple[tuple, ...] = ()

    def __getattr__(self, name: str) -> Any:  # only for attributes not converted yet
        try:
            index, convert = self._layout[name]
        except KeyError:
            raise AttributeError(name) from None
        value = self._raw[index]
        if convert is not None:
            value = convert(value)
        self.__dict__[name] = value
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):  # only the loader sets anything: the rows it read
            raise AttributeError(f"a ClinicCard is read-only ({name})")
        super().__setattr__(name, value)

    insurance = _rows(InsuranceRow, "_insurance")
    prices = _rows(PriceRow, "_prices")
    at_home_state_rows = _rows(AtHomeRow, "_at_home")

    def __repr__(self) -> str:
        return f"<ClinicCard {self.slug or self.id} {self.status}>"


class CardCache:
    """Cards read at one state of the directory, least recently used first out."""

    def __init__(self) -> None:
        self._cards: OrderedDict[str, ClinicCard] = OrderedDict()

    def load_then(self, session: Session, ids: Iterable[str], then: str,
                  fresh: Callable[[list], bool]) -> tuple[dict[str, ClinicCard] | None, list]:
        """``load_cards_then`` for the cards not kept. ``fresh`` is asked about the rows of
        ``then``, read after the cards: when it says that the session does not see this cache's
        state of the directory, (None, rows) and nothing is kept; read after them, a fresh answer
        also proves that the cards read were of that state."""
        ids = list(ids)
        found = {}
        for cid in ids:
            card = self._cards.get(cid)
            if card is not None:
                found[cid] = card
        loaded, rows = load_cards_then(session, [cid for cid in ids if cid not in found], then)
        if not fresh(rows):
            return None, rows
        for cid in found:
            try:
                self._cards.move_to_end(cid)
            except KeyError:  # another thread evicted it meanwhile: still a valid card
                pass
        if loaded:
            self._cards.update(loaded)
            found.update(loaded)
            try:
                while len(self._cards) > CARD_CACHE_SIZE:
                    self._cards.popitem(last=False)
            except KeyError:  # emptied by another thread
                pass
        return found, rows

    def keep_from(self, other: CardCache, dropped: frozenset[str]) -> None:
        """Take ``other``'s cards but those of ``dropped`` clinics (the next state of the directory
        after a few changes: ``registry``)."""
        for cid, card in list(other._cards.items()):
            if cid not in dropped:
                self._cards[cid] = card


_CACHES: weakref.WeakKeyDictionary[Any, CardCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_for(state: Any) -> CardCache:
    """The card cache of one state of the directory, kept as long as ``state``, the object that
    stands for it (the search index snapshot built at that state)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(state)
        if cache is None:
            cache = _CACHES[state] = CardCache()
        return cache


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _converter(column, dialect):
    """What SQLAlchemy would apply to this column's raw value (None: the driver's value is final).
    A type whose processor needs the driver's type code (PostgreSQL floats) gets none: psycopg
    returns those as Python values already."""
    try:
        return column.type.dialect_impl(dialect).result_processor(dialect, None)
    except Exception:  # noqa: BLE001 - see the docstring
        return None


class _Plan:
    """Per dialect: the statements (read through the driver: no per-row typing) and each column's
    converter."""

    def __init__(self, dialect):
        names = [name for name in _CLINIC.c.keys() if name not in LEFT_OUT]
        self.layout = {name: (i, _converter(_CLINIC.c[name], dialect)) for i, name in enumerate(names)}
        self.clinics = f"SELECT {', '.join(names)} FROM clinic WHERE id IN {{ids}}"
        self.children = []
        for table, attribute, order in ((_INSURANCE, "_insurance", "id"), (_PRICE, "_prices", "id"),
                                        (_AT_HOME, "_at_home", "state")):
            columns = list(table.c.keys())
            converters = [_converter(table.c[c], dialect) for c in columns]
            sql = f"SELECT {', '.join(columns)} FROM {table.name} WHERE clinic_id IN {{ids}} ORDER BY {order}"
            self.children.append((sql, attribute, columns.index("clinic_id"),
                                  [(i, f) for i, f in enumerate(converters) if f is not None]))
        # PostgreSQL: the three in one UNION ALL, one round trip instead of three (SQLite, in
        # process, plans three small queries better than their union).
        self.union = _UNION if dialect.name == "postgresql" else None


_PLANS: dict[str, _Plan] = {}


def load_cards(session: Session, ids: Iterable[str]) -> dict[str, ClinicCard]:
    """Cards for these clinic ids, keyed by id (ids that do not exist are left out)."""
    return load_cards_then(session, ids, None)[0]


def load_cards_then(session: Session, ids: Iterable[str], then: str | None) -> tuple[dict[str, ClinicCard], list]:
    """``load_cards``, then the statement ``then`` after the cards' own (in the same round trip on
    PostgreSQL): (cards, the rows of ``then``)."""
    dialect = session.get_bind().dialect
    plan = _PLANS.get(dialect.name)
    if plan is None:
        plan = _PLANS[dialect.name] = _Plan(dialect)
    wanted = list(dict.fromkeys(ids))
    cards: dict[str, ClinicCard] = {}
    then_rows: list = []
    chunks: list[list[str] | None] = list(_chunks(wanted))
    if then is not None and (plan.union is None or not chunks):
        chunks.append(None)  # ``then`` on its own, last (SQLite runs statements one by one anyway)
    # Equal values (vocabulary slugs, dates, the clinic id) are shared between rows: a card's rows
    # then cost a third of the memory.
    share = {}.setdefault
    for i, chunk in enumerate(chunks):
        last = then is not None and i == len(chunks) - 1
        if chunk is None:
            then_rows = raw_fetchall(session, then)
            continue
        if plan.union is not None:  # clinics and their rows in one round trip
            statements = [(plan.clinics, chunk), (plan.union, chunk)] + ([(then, ())] if last else [])
            clinic_rows, union_rows, *after = raw_fetchall_many(session, statements)
            if last:
                then_rows = after[0]
        else:
            clinic_rows = raw_fetchall(session, plan.clinics, chunk)
        for row in clinic_rows:
            card = ClinicCard(tuple(row), plan.layout)
            cards[card.id] = card
        if not cards:
            continue
        rows = _union_rows(union_rows) if plan.union is not None else _child_rows(session, plan, chunk, cards)
        grouped: dict[tuple[int, str], list[tuple]] = {}
        for kind, row in rows:
            _sql, _attribute, clinic_at, converters = plan.children[kind]
            if converters:
                row = list(row)
                for at, convert in converters:
                    row[at] = convert(row[at])
            grouped.setdefault((kind, row[clinic_at]), []).append(tuple(map(share, row, row)))
        for (kind, clinic_id), kept in grouped.items():
            card = cards.get(clinic_id)
            if card is not None:
                setattr(card, plan.children[kind][1], tuple(kept))
    return cards, then_rows


def _child_rows(session: Session, plan: _Plan, chunk: list[str], cards: dict[str, ClinicCard]):
    """(kind, row) of the three child tables, one query each (SQLite, in process)."""
    at_home = any(card.settings_mask & AT_HOME for card in cards.values())
    for kind, (sql, attribute, _at, _conv) in enumerate(plan.children):
        if attribute == "_at_home" and not at_home:
            continue  # only at-home programmes serve states: most pages need no such query
        for row in raw_fetchall(session, sql, chunk):
            yield kind, row


def _union_rows(rows):
    """(kind, row in its table's column order) from ``_UNION``'s padded columns."""
    for kind, clinic_id, rid, a, b, c, x, y, as_of in rows:
        if kind == 0:
            yield 0, (rid, clinic_id, a, b, c, x, as_of)
        elif kind == 1:
            yield 1, (rid, clinic_id, a, x, y, as_of)
        else:
            yield 2, (clinic_id, a)


_UNION = """
SELECT 0, clinic_id, id, carrier, service, network, plan_types_mask, NULL::integer, as_of
  FROM clinic_insurance WHERE clinic_id IN {ids}
UNION ALL
SELECT 1, clinic_id, id, service, NULL::varchar, NULL::varchar, min_usd, max_usd, as_of
  FROM clinic_price WHERE clinic_id IN {ids}
UNION ALL
SELECT 2, clinic_id, NULL::integer, state, NULL::varchar, NULL::varchar, NULL::integer, NULL::integer, NULL::date
  FROM clinic_at_home_state WHERE clinic_id IN {ids}
ORDER BY 1, 3, 4"""
