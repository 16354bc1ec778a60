"""The ``/hsds`` API's lists and look-ups by id, over the published directory.

A list answers one page (``*_page``) or every item as an iterator (``iter_*``, for NDJSON); both read
published clinics a chunk at a time and build their documents in ``documents``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from .. import geo, search, vocab
from ..errors import NotFound, UnknownLocation
from ..models import Clinic, Status
from .documents import (minimal_service_doc, organization_doc, organization_list_doc, sal_doc, sal_list_doc,
                        service_doc, service_list_doc)
from .ids import ID_PATTERN, sal_id, service_id
from .params import DEFAULT_PROXIMITY_MI, METRES_PER_MILE, ListQuery
from .services import ServiceSpec, clinic_specs, service_specs, service_terms
from .taxonomies import VOCAB_BY_NAME, all_taxonomies, all_terms, taxonomy_doc, taxonomy_index, term_doc, term_index

HSDS_VERSION = "3.0"
CHUNK = 500

Document = dict[str, Any]
Build = Callable[[Clinic, ServiceSpec], Document]


@dataclass
class Page:
    total_items: int
    page_number: int
    per_page: int
    contents: list[Document] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        total_pages = math.ceil(self.total_items / self.per_page) if self.total_items else 0
        return {"total_items": self.total_items, "total_pages": total_pages, "page_number": self.page_number,
                "size": len(self.contents), "first_page": self.page_number == 1,
                "last_page": self.page_number >= total_pages, "empty": len(self.contents) == 0,
                "contents": self.contents}


def _slice(q: ListQuery) -> tuple[int, int]:
    start = (q.page - 1) * q.per_page
    return start, start + q.per_page


def api_root(base_url: str) -> Document:
    return {"version": HSDS_VERSION, "profile": "https://openreferral.org/hsds/",
            "openapi_url": f"{base_url}/hsds/openapi.json"}


# --- published clinics ----------------------------------------------------------------------------

_FULL_LOAD = (selectinload(Clinic.insurance), selectinload(Clinic.prices), selectinload(Clinic.at_home_state_rows))
IS_PUBLISHED = Clinic.status == Status.PUBLISHED


def published() -> Select:
    return select(Clinic).where(IS_PUBLISHED)


def _ordered(stmt: Select) -> Select:
    return stmt.order_by(func.lower(Clinic.name), Clinic.id)


def _chunks(items: Sequence) -> Iterator[Sequence]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def load_clinics(session: Session, ids: Sequence[str]) -> dict[str, Clinic]:
    found: dict[str, Clinic] = {}
    for chunk in _chunks(ids):
        found.update((c.id, c) for c in session.scalars(published().where(Clinic.id.in_(chunk)).options(*_FULL_LOAD)))
    return found


def _published_clinic(session: Session, clinic_id: str) -> Clinic | None:
    return session.scalars(published().where(Clinic.id == clinic_id).options(*_FULL_LOAD)).first()


def get_clinic(session: Session, clinic_id: str) -> Clinic:
    clinic = _published_clinic(session, clinic_id.lower()) if ID_PATTERN.match(clinic_id or "") else None
    if clinic is None:
        raise NotFound("id", "not_found")
    return clinic


def _text_match(q: str):
    return or_(func.lower(Clinic.name).contains(q, autoescape=True),
               func.lower(Clinic.description).contains(q, autoescape=True))


# --- organizations ----------------------------------------------------------------------------------

def _organizations(q: ListQuery) -> Select:
    stmt = published()
    return stmt.where(_text_match(q.search)) if q.search else stmt


def _org_item(clinic: Clinic, q: ListQuery, base_url: str) -> Document:
    if q.full or q.full_service:
        return organization_doc(clinic, base_url, full_service=q.full_service)
    return organization_list_doc(clinic, base_url)


def organizations_page(session: Session, q: ListQuery, base_url: str) -> Page:
    stmt = _organizations(q)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    start, _stop = _slice(q)
    clinics = session.scalars(_ordered(stmt).offset(start).limit(q.per_page).options(*_FULL_LOAD)).all()
    return Page(total, q.page, q.per_page, [_org_item(c, q, base_url) for c in clinics])


def iter_organizations(session: Session, q: ListQuery, base_url: str) -> Iterator[Document]:
    ids = list(session.scalars(_ordered(_organizations(q).with_only_columns(Clinic.id))))
    for chunk in _chunks(ids):
        clinics = load_clinics(session, chunk)
        for cid in chunk:
            if cid in clinics:
                yield _org_item(clinics[cid], q, base_url)


# --- services and services at locations ---------------------------------------------------------------

def _service_filter(q: ListQuery) -> Callable[[Clinic, ServiceSpec, bool], bool]:
    """A predicate over (clinic, spec, the clinic's name or description matched the search)."""
    term = term_index().get(q.taxonomy_term_id) if q.taxonomy_term_id else None
    vocab_name = taxonomy_index().get(q.taxonomy_id) if q.taxonomy_id else None

    def keep(clinic: Clinic, spec: ServiceSpec, text_hit: bool) -> bool:
        if q.search and not (text_hit or q.search in spec.name.lower() or q.search in spec.description.lower()):
            return False
        if q.taxonomy_term_id or q.taxonomy_id:
            terms = service_terms(clinic, spec)
            if q.taxonomy_term_id and (term is None or term not in terms):
                return False
            if q.taxonomy_id and (vocab_name is None or not any(t[0] == vocab_name for t in terms)):
                return False
        return True

    return keep


def _clinic_conditions(q: ListQuery) -> list:
    conds = []
    if q.organization_id:
        conds.append(Clinic.id == q.organization_id)
    if q.modified_after:
        conds.append(Clinic.updated_at >= q.modified_after)
    return conds


def _with_text_hits(session: Session, q: ListQuery, where: list) -> list[tuple[str, bool]]:
    """(clinic id, name or description matched the search) of the published clinics ``where`` keeps."""
    text_hit = _text_match(q.search).label("text_hit") if q.search else None
    columns = [Clinic.id] + ([text_hit] if text_hit is not None else [])
    stmt = _ordered(select(*columns).where(IS_PUBLISHED, *where))
    return [(row[0], bool(row[1]) if text_hit is not None else False) for row in session.execute(stmt)]


def _candidates(session: Session, q: ListQuery) -> list[tuple[str, bool]]:
    """(clinic id, name or description matched the search) in list order."""
    if q.postcode:
        return _near_postcode(session, q)
    return _with_text_hits(session, q, _clinic_conditions(q))


def _near_postcode(session: Session, q: ListQuery) -> list[tuple[str, bool]]:
    """Clinics within ``proximity`` of a ZIP centroid, ranked by the search core (same order as /search).

    HSDS says "only show results within the proximity from the centroid": the search core's second
    group (at-home programmes serving the ZIP's state, wherever their office is) stays on /search
    and /api/v1, and only its distance matches are kept here.
    """
    if geo.lookup_zip(session, q.postcode) is None:
        raise UnknownLocation(q.postcode, field="postcode")
    miles = q.proximity_m / METRES_PER_MILE if q.proximity_m else DEFAULT_PROXIMITY_MI
    criteria = search.SearchCriteria(location=q.postcode, radius=miles, page=1, per_page=10**9)
    hits = [hit.clinic.id for hit in search.search(session, criteria).hits
            if hit.match == "distance" and hit.distance_mi is not None and hit.distance_mi <= miles]
    conds = _clinic_conditions(q)
    if not (conds or q.search):
        return [(cid, False) for cid in hits]
    allowed = dict(_with_text_hits(session, q, [Clinic.id.in_(hits), *conds]))
    return [(cid, allowed[cid]) for cid in hits if cid in allowed]


def _spec_rows(session: Session, q: ListQuery) -> Iterator[tuple[Clinic, ServiceSpec]]:
    """Every (clinic, spec) the list covers, in order; clinics loaded in chunks.

    The candidates are found at once (so an unknown postcode raises before anything is streamed);
    the documents are built as the iterator is consumed.
    """
    return _expand(session, _service_filter(q), _candidates(session, q))


def _expand(session: Session, keep, candidates: list[tuple[str, bool]]) -> Iterator[tuple[Clinic, ServiceSpec]]:
    for chunk in _chunks(candidates):
        clinics = load_clinics(session, [cid for cid, _hit in chunk])
        for cid, text_hit in chunk:
            clinic = clinics.get(cid)
            if clinic is None:
                continue
            for spec in clinic_specs(clinic):
                if keep(clinic, spec, text_hit):
                    yield clinic, spec


def _paged(rows: Iterator[tuple[Clinic, ServiceSpec]], q: ListQuery, build: Build) -> Page:
    start, stop = _slice(q)
    contents, total = [], 0
    for clinic, spec in rows:
        if start <= total < stop:
            contents.append(build(clinic, spec))
        total += 1
    return Page(total, q.page, q.per_page, contents)


def _service_item(q: ListQuery, base_url: str) -> Build:
    def build(clinic: Clinic, spec: ServiceSpec) -> Document:
        if q.minimal:
            return minimal_service_doc(clinic, spec)
        if q.full:
            return service_doc(clinic, spec, base_url)
        return service_list_doc(clinic, spec, base_url)
    return build


def _sal_item(q: ListQuery, base_url: str) -> Build:
    def build(clinic: Clinic, spec: ServiceSpec) -> Document:
        return sal_doc(clinic, spec, base_url) if q.full else sal_list_doc(clinic, spec, base_url)
    return build


def services_page(session: Session, q: ListQuery, base_url: str) -> Page:
    return _paged(_spec_rows(session, q), q, _service_item(q, base_url))


def iter_services(session: Session, q: ListQuery, base_url: str) -> Iterator[Document]:
    build = _service_item(q, base_url)
    return (build(clinic, spec) for clinic, spec in _spec_rows(session, q))


def sals_page(session: Session, q: ListQuery, base_url: str) -> Page:
    return _paged(_spec_rows(session, q), q, _sal_item(q, base_url))


def iter_sals(session: Session, q: ListQuery, base_url: str) -> Iterator[Document]:
    build = _sal_item(q, base_url)
    return (build(clinic, spec) for clinic, spec in _spec_rows(session, q))


# --- look-ups by id -----------------------------------------------------------------------------------

_ID_CACHE: dict[str, Any] = {"stamp": None, "ids": {}}


def _id_map(session: Session) -> dict[str, tuple[str, str]]:
    """Service and service_at_location id → (clinic id, service key), for every published clinic.

    Ids are uuid5 hashes, so the clinic cannot be read off an id: the map is computed from the
    masks (no child rows needed) and rebuilt whenever the published directory changes.
    """
    stamp = tuple(session.execute(select(func.count(), func.max(Clinic.updated_at), func.max(Clinic.version))
                                  .where(IS_PUBLISHED)).one())
    if _ID_CACHE["stamp"] != stamp:
        ids: dict[str, tuple[str, str]] = {}
        stmt = select(Clinic.id, Clinic.methods_mask, Clinic.therapy, Clinic.offers_evaluation).where(IS_PUBLISHED)
        for cid, methods_mask, therapy, evaluation in session.execute(stmt):
            for spec in service_specs(vocab.METHODS.unmask(methods_mask or 0), therapy, bool(evaluation)):
                ids[service_id(cid, spec.key)] = (cid, spec.key)
                ids[sal_id(cid, spec.key)] = (cid, spec.key)
        _ID_CACHE.update(stamp=stamp, ids=ids)
    return _ID_CACHE["ids"]


def _find_spec(session: Session, wanted: str, id_of: Callable[[str, str], str]) -> tuple[Clinic, ServiceSpec]:
    """The clinic and spec whose id (service or service_at_location, as ``id_of`` makes) is ``wanted``."""
    if not ID_PATTERN.match(wanted or ""):
        raise NotFound("id", "not_found")
    wanted = wanted.lower()
    found = _id_map(session).get(wanted)
    if found is not None:
        clinic = _published_clinic(session, found[0])
        if clinic is not None:
            for spec in clinic_specs(clinic):
                if spec.key == found[1] and id_of(clinic.id, spec.key) == wanted:
                    return clinic, spec
    raise NotFound("id", "not_found")


def service_by_id(session: Session, wanted: str, base_url: str) -> Document:
    clinic, spec = _find_spec(session, wanted, service_id)
    return service_doc(clinic, spec, base_url)


def sal_by_id(session: Session, wanted: str, base_url: str) -> Document:
    clinic, spec = _find_spec(session, wanted, sal_id)
    return sal_doc(clinic, spec, base_url)


def organization_by_id(session: Session, wanted: str, base_url: str, full_service: bool) -> Document:
    return organization_doc(get_clinic(session, wanted), base_url, full_service=full_service)


# --- taxonomies and terms (no database) ----------------------------------------------------------------

def _text_hit(doc: Document, q: str | None) -> bool:
    return not q or q in doc["name"].lower() or q in (doc.get("description") or "").lower()


def _taxonomy_items(q: ListQuery) -> list[Document]:
    return [t for t in all_taxonomies() if _text_hit(t, q.search)]


def _term_items(q: ListQuery) -> list[Document]:
    items = [t for t in all_terms() if _text_hit(t, q.search)]
    if q.taxonomy_id:
        items = [t for t in items if t["taxonomy_id"] == q.taxonomy_id]
    if q.parent_id:  # kapfinder's taxonomies are flat: no term has a parent
        items = [t for t in items if t.get("parent_id") == q.parent_id]
    return items


def _static_page(items: list[Document], q: ListQuery) -> Page:
    start, stop = _slice(q)
    return Page(len(items), q.page, q.per_page, items[start:stop])


def taxonomies_page(_session: Session, q: ListQuery, _base_url: str) -> Page:
    return _static_page(_taxonomy_items(q), q)


def iter_taxonomies(_session: Session, q: ListQuery, _base_url: str) -> Iterator[Document]:
    return iter(_taxonomy_items(q))


def terms_page(_session: Session, q: ListQuery, _base_url: str) -> Page:
    return _static_page(_term_items(q), q)


def iter_terms(_session: Session, q: ListQuery, _base_url: str) -> Iterator[Document]:
    return iter(_term_items(q))


def taxonomy_by_id(wanted: str) -> Document:
    name = taxonomy_index().get((wanted or "").lower())
    if name is None:
        raise NotFound("id", "not_found")
    return taxonomy_doc(VOCAB_BY_NAME[name])


def term_by_id(wanted: str) -> Document:
    found = term_index().get((wanted or "").lower())
    if found is None:
        raise NotFound("id", "not_found")
    return term_doc(VOCAB_BY_NAME[found[0]], found[1])


PageOf = Callable[[Session, ListQuery, str], Page]
ItemsOf = Callable[[Session, ListQuery, str], Iterator[Document]]
#: Each list endpoint (``params.LIST_PARAMETERS``): one page of it, and every item of it (NDJSON).
LISTS: dict[str, tuple[PageOf, ItemsOf]] = {
    "services": (services_page, iter_services),
    "organizations": (organizations_page, iter_organizations),
    "service_at_locations": (sals_page, iter_sals),
    "taxonomies": (taxonomies_page, iter_taxonomies),
    "taxonomy_terms": (terms_page, iter_terms),
}
