"""A page of search results: the hits, with distances and coverage answers, and the totals. No Flask here."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import coverage, geo
from .cards import ClinicCard
from .criteria import SearchCriteria
from .plan import Answer, Plan


@dataclass
class SearchHit:
    clinic: ClinicCard
    distance_mi: float | None
    match: str | None  # "distance", "state", or None without a location
    coverage: list[dict[str, Any]] | None = None
    #: With a carrier: the services the patient asked about, whose coverage the card leads with.
    leading: tuple[str, ...] = ()

    @property
    def distance_mi_rounded(self) -> float | None:
        return None if self.distance_mi is None else geo.round_tenth(self.distance_mi)


@dataclass
class SearchPage:
    criteria: SearchCriteria
    location: geo.ResolvedLocation | None
    sort: str
    total: int
    page: int
    per_page: int
    pages: int
    hits: list[SearchHit] = field(default_factory=list)
    distance_total: int = 0
    state_total: int = 0

    def query(self) -> dict[str, Any]:
        """The API's ``query`` echo: normalised parameters, the resolved location, the sort used."""
        q = self.criteria.as_query()
        q.pop("lat")
        q.pop("lon")
        q["location"] = self.location.as_json() if self.location else None
        q["sort"] = self.sort
        if self.location is None:
            q["radius"] = None  # no location, no radius
        return q

    @property
    def has_sample(self) -> bool:
        return any(h.clinic.sample for h in self.hits)


def build_page(plan: Plan, answer: Answer, cards: dict[str, ClinicCard]) -> SearchPage:
    """The page ``answer`` gives for ``plan``, its rows shown as ``cards``."""
    criteria = plan.criteria
    total = answer.near_total + answer.state_total
    return SearchPage(criteria=criteria, location=plan.location, sort=plan.sort, total=total, page=criteria.page,
                      per_page=criteria.per_page, pages=plan.pages(total), hits=_hits(plan, answer, cards),
                      distance_total=answer.near_total, state_total=answer.state_total)


def _hits(plan: Plan, answer: Answer, cards: dict[str, ClinicCard]) -> list[SearchHit]:
    criteria, point = plan.criteria, plan.point
    hits = []
    for cid, distance, match in answer.rows:
        clinic = cards[cid]
        if match == "distance" and distance is None and point is not None:
            distance = geo.distance_mi(point.lat, point.lon, clinic.lat, clinic.lon)
        entries, leading = None, ()
        if criteria.insurance:
            entries = coverage.coverage_for(clinic, criteria.insurance, criteria.plan_type)
            leading = coverage.leading_services(clinic, entries, criteria.service, criteria.methods)
        hits.append(SearchHit(clinic, distance if match == "distance" else None, match, entries, leading))
    return hits
