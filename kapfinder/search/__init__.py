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
           "has_postgis", "parse_criteria", "search", "search_cache_key", "search_json"]


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


def search_json(session: Session, criteria: SearchCriteria, url_prefix: str, now: datetime | None = None,
                cache=None) -> bytes | None:
    """The JSON API's search body (``serialize.search_response`` encoded with sorted keys and a
    final newline, as ``flask.jsonify`` writes it), built
    from the index and each clinic's pre-encoded result (``summaries``): no card SQL, no result
    dicts. None when the index may not answer this search (a sort other than distance, or a
    snapshot not current for what ``session`` sees): then ``search`` answers. ``url_prefix`` is
    what a clinic's slug is appended to for its ``url``. Raises as ``search`` does."""
    import orjson

    from . import summaries

    now = now or utcnow()
    location = resolve(session, criteria, cache=cache)
    plan = make_plan(criteria, location, now)
    if plan.sort != "distance":
        return None
    answer = indexed.answer(session, plan, store=summaries.store_for)
    if answer is None:
        return None
    total = answer.near_total + answer.state_total
    page = SearchPage(criteria=criteria, location=location, sort=plan.sort, total=total, page=criteria.page,
                      per_page=criteria.per_page, pages=plan.pages(total))
    cutoff = summaries.cutoff_micros(now)
    carrier, plan_type = criteria.insurance, criteria.plan_type if criteria.insurance else None
    results = []
    prefix = orjson.dumps(url_prefix)[1:-1]
    for cid, distance, match in answer.rows:
        entry = answer.cards[cid]
        slug = entry.slug  # JSON text
        url = b"null" if slug in (b"null", b'""') else b'"' + prefix + slug[1:]
        results.append(entry.json(url=url, distance_mi=distance if match == "distance" else None, match=match,
                                  cutoff_us=cutoff, carrier=carrier, plan_type=plan_type))
    head = orjson.dumps({"page": page.page, "pages": page.pages, "per_page": page.per_page,
                         "query": page.query()}, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return b"".join([head[:-1], b',"results":[', b",".join(results), b'],"total":', str(total).encode(), b"}\n"])
