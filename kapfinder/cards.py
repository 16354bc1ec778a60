"""Read-only clinic cards: what a search result shows, loaded with a few Core queries. No Flask here.

A results page needs each clinic's columns, insurance rows, self-pay prices and at-home states.
Loading 20 ORM ``Clinic`` objects with their collections costs ~5 ms; the same facts as plain
objects cost a fraction of that, and can be kept between requests while the directory does not change
(``searchindex`` owns that cache). A card answers every attribute and derived property the result
card, the map, the API summary and ``coverage_for`` read, the same way ``Clinic`` does.
"""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Clinic, ClinicAtHomeState, ClinicInsurance, ClinicPrice

_CLINIC = Clinic.__table__
_INSURANCE = ClinicInsurance.__table__
_PRICE = ClinicPrice.__table__
_AT_HOME = ClinicAtHomeState.__table__
#: Longest IN (...) list sent at once (SQLite's default limit on variables is 32,766).
CHUNK = 500


def _derived(name: str) -> property:
    """The getter of one of ``Clinic``'s derived properties (no setter: cards are read-only)."""
    return property(Clinic.__dict__[name].fget)


class Row:
    """One insurance, price or at-home row of a card."""

    def __init__(self, mapping: Any):
        self.__dict__.update(mapping)

    plan_types = property(ClinicInsurance.__dict__["plan_types"].fget)

    def __repr__(self) -> str:
        return f"<Row {self.__dict__}>"


class ClinicCard:
    """A published clinic as search results read it: every column, plus its three collections."""

    def __init__(self, mapping: Any):
        self.__dict__.update(mapping)
        self.insurance: list[Row] = []
        self.prices: list[Row] = []
        self.at_home_state_rows: list[Row] = []

    methods = _derived("methods")
    settings = _derived("settings")
    conditions = _derived("conditions")
    services = _derived("services")
    therapy_extras = _derived("therapy_extras")
    prescriber_types = _derived("prescriber_types")
    therapist_licenses = _derived("therapist_licenses")
    at_home_states = _derived("at_home_states")
    payment_options = _derived("payment_options")
    is_stale = Clinic.is_stale

    def __repr__(self) -> str:
        return f"<ClinicCard {self.slug or self.id} {self.status}>"


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def load_cards(session: Session, ids: Iterable[str]) -> dict[str, ClinicCard]:
    """Cards for these clinic ids, keyed by id (ids that do not exist are left out)."""
    wanted = list(dict.fromkeys(ids))
    cards: dict[str, ClinicCard] = {}
    for chunk in _chunks(wanted):
        for row in session.execute(select(_CLINIC).where(_CLINIC.c.id.in_(chunk))):
            cards[row.id] = ClinicCard(row._mapping)
        if not cards:
            continue
        for table, attribute, order in ((_INSURANCE, "insurance", _INSURANCE.c.id),
                                        (_PRICE, "prices", _PRICE.c.id),
                                        (_AT_HOME, "at_home_state_rows", _AT_HOME.c.state)):
            stmt = select(table).where(table.c.clinic_id.in_(chunk)).order_by(order)
            for row in session.execute(stmt):
                card = cards.get(row.clinic_id)
                if card is not None:
                    getattr(card, attribute).append(Row(row._mapping))
    return cards
