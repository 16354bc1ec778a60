"""What a search returns, in which order, and which rows a page shows. No Flask here.

A search has at most two groups of results, always in this order:

1. *near*: in-clinic listings within the radius of the place (or in the state, when the place is a
   state), ranked by the chosen sort; without a place, every match, of the chosen setting;
2. *in the state*: at-home programmes serving the place's state that are not in group 1 already,
   listings confirmed within ``STALE_AFTER`` first, then by name.

Both engines (``sql`` and ``indexed``) answer a ``Plan``: they count each group and return the rows
its ``window`` names, so the two-group paging is decided here once. The distance ranking
(DESIGN.md) is distance rounded to 0.1 mile, listings not stale first, newest confirmation, name
(``name_key``), id.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from .. import geo, vocab
from ..models import STALE_AFTER, ClinicFacts
from .criteria import SearchCriteria

IN_CLINIC = vocab.SETTINGS.mask(["in-clinic"])
AT_HOME = vocab.SETTINGS.mask(["at-home"])
#: Slack (miles) on the ranking's bucket edges: the float error of a dot product near 1 is ~10 cm.
EDGE_SLACK_MI = 0.001

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def name_key(name: str) -> str:
    """Case-insensitive name order: ``lower()`` as SQLite folds it (ASCII), the same on every path."""
    return name.translate(_ASCII_LOWER)


def resolve(session: Session, criteria: SearchCriteria, cache: Any = None) -> geo.ResolvedLocation | None:
    """The place searched around, or None. Raises UnknownLocation, AmbiguousLocation or
    InvalidParameter. ``cache`` (``kapfinder.cache``) keeps gazetteer answers between requests."""
    if criteria.location:
        return geo.resolve_location(session, criteria.location, cache=cache)
    if criteria.lat is not None and criteria.lon is not None:
        return geo.resolve_point(session, criteria.lat, criteria.lon, field="lat")
    return None


class Window(NamedTuple):
    """The rows of each group one page shows: positions in group 1's order, then in group 2's."""

    near: range
    in_state: range


@dataclass(frozen=True)
class Plan:
    criteria: SearchCriteria
    location: geo.ResolvedLocation | None
    sort: str  # "distance", "name" or "verified"
    now: datetime

    @property
    def point(self) -> geo.ResolvedLocation | None:
        """The location when it has coordinates (distances are measured from it)."""
        return self.location if self.location is not None and self.location.has_point else None

    @property
    def cutoff(self) -> datetime:
        """Listings confirmed before this are stale."""
        return self.now - STALE_AFTER

    @property
    def near(self) -> bool:
        """Whether group 1 is searched (without a place it is every match)."""
        return self.location is None or self.criteria.setting in (None, "in-clinic")

    @property
    def near_match(self) -> str | None:
        """What a hit of group 1 says it matched: "distance" (by place), or None without one."""
        return None if self.location is None else "distance"

    @property
    def home_state(self) -> str | None:
        """The state whose at-home programmes are group 2, or None when there is no group 2."""
        if self.location is None or self.criteria.setting not in (None, "at-home"):
            return None
        return self.location.state or None

    @property
    def offset(self) -> int:
        return (self.criteria.page - 1) * self.criteria.per_page

    def window(self, near_total: int, state_total: int) -> Window:
        """Which rows this page shows, given how many each group holds: group 2 follows group 1."""
        per_page, offset = self.criteria.per_page, self.offset
        near = range(min(offset, near_total), min(offset + per_page, near_total))
        start = max(0, offset - near_total)
        return Window(near, range(min(start, state_total), min(start + per_page - len(near), state_total)))

    def pages(self, total: int) -> int:
        return math.ceil(total / self.criteria.per_page) if total else 0


def make_plan(criteria: SearchCriteria, location: geo.ResolvedLocation | None, now: datetime) -> Plan:
    """The plan for these criteria around ``location``: by distance when there is a point to measure
    from (unless another sort is asked for), else by name."""
    with_point = location is not None and location.has_point
    sort = criteria.sort or ("distance" if with_point else "name")
    if sort == "distance" and not with_point:
        sort = "name"
    return Plan(criteria, location, sort, now)


@dataclass
class Answer:
    """An engine's answer to a plan: the page's rows, (clinic id, distance in miles or None, match),
    and how many results each group holds."""

    rows: list[tuple[str, float | None, str | None]]
    near_total: int
    state_total: int
    #: Cards for ``rows`` when the engine read them itself (the index checks its freshness with them).
    cards: dict[str, ClinicFacts] | None = None  # ClinicCards, as a cache hit left them

    @property
    def ids(self) -> list[str]:
        return [cid for cid, _d, _m in self.rows]
