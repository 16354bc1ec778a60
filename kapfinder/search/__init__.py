"""The search core: ``SearchCriteria`` in, a ranked page of clinics out. No Flask here.

Used by the HTML pages, the JSON API, the HSDS API and the benchmark alike. One search goes
resolve → plan → engine → cards → page:

* ``criteria``: query parameters checked into ``SearchCriteria`` (every bad one reported);
* ``plan``: the place resolved, the sort, the two groups (in-clinic near the place, then at-home
  programmes serving its state) and which rows of each a page shows;
* engines that answer a plan: ``indexed`` (the in-memory index, for distance-ranked searches) and
  ``sql`` (SQL or PostGIS, for everything else, and whenever the index may not answer);
  the index itself: ``index`` (the numpy snapshot), ``build`` (reading it from the database),
  ``registry`` (this process's snapshot per database), ``freshness`` (the token that says whether
  a session sees the snapshot's data);
* ``cards``: the read-only clinic cards a page shows, with their cache;
* ``page``: ``SearchPage`` and its hits (``SearchHit``).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..models import utcnow
from . import indexed, sql
from .cards import ClinicCard, load_cards
from .criteria import InvalidCriteria, SearchCriteria, parse_criteria
from .freshness import search_cache_key
from .page import SearchHit, SearchPage, build_page
from .plan import make_plan, resolve
from .sql import filter_conditions, has_postgis

__all__ = ["ClinicCard", "InvalidCriteria", "SearchCriteria", "SearchHit", "SearchPage", "filter_conditions",
           "has_postgis", "parse_criteria", "search", "search_cache_key"]


def search(session: Session, criteria: SearchCriteria, now: datetime | None = None, cache=None,
           use_index: bool = True) -> SearchPage:
    """Run a search. Raises UnknownLocation, AmbiguousLocation or InvalidParameter for the location.

    ``cache`` (optional, see ``kapfinder.cache``) keeps gazetteer answers between requests.
    ``use_index``: answer distance-ranked searches from the in-memory index when it is current for
    what ``session`` sees; otherwise, and for every other search, SQL answers.
    """
    location = resolve(session, criteria, cache=cache)
    plan = make_plan(criteria, location, now or utcnow())
    answer = indexed.answer(session, plan) if use_index and plan.sort == "distance" else None
    if answer is None:
        answer = sql.answer(session, plan)
    cards = answer.cards if answer.cards is not None else load_cards(session, answer.ids)
    return build_page(plan, answer, cards)
