"""HSDS documents → clinic records: the inverse of ``kapfinder.hsds`` (docs/HSDS.md → Imports).

A document is cut into bundles (one organization with its locations and services); each physical
location of a bundle becomes one clinic record (``hsds_record`` reads it, section by section).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .. import vocab
from ..hsds.taxonomies import TAXONOMY_PREFIX, VOCAB_BY_NAME, taxonomy_index, term_index
from .common import Skipped
from .hsds_record import Term, read_record
from .records import ClinicRecord, Item, RecordProblems

MAX_PROBLEMS_PER_DOCUMENT = 50


@dataclass
class Bundle:
    """One organization's records as found in a document, each with its JSON pointer."""

    organization: dict[str, Any]
    org_pointer: str
    locations: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    services: list[tuple[dict[str, Any], str]] = field(default_factory=list)


def bundles_of(doc: Any, base: str = "") -> Iterator[Bundle | Skipped | str]:
    """The bundles of one JSON document (organization, service, service_at_location, location, or a
    paging envelope of them). A string is a problem: the document is none of those."""
    if isinstance(doc, dict) and isinstance(doc.get("contents"), list):
        for i, item in enumerate(doc["contents"]):
            yield from bundles_of(item, f"{base}/contents/{i}")
        return
    if not isinstance(doc, dict):
        yield "is not a JSON object"
        return
    kind = document_kind(doc)
    if kind == "organization":
        b = Bundle(doc, base)
        b.locations = [(loc, f"{base}/locations/{i}") for i, loc in enumerate(doc.get("locations") or [])]
        b.services = [(s, f"{base}/services/{i}") for i, s in enumerate(doc.get("services") or [])]
        yield b
    elif kind == "service":
        org = doc.get("organization") or {"id": doc.get("organization_id"), "name": doc.get("name", "")}
        b = Bundle(org, f"{base}/organization")
        for i, sal in enumerate(doc.get("service_at_locations") or []):
            if isinstance(sal.get("location"), dict):
                b.locations.append((sal["location"], f"{base}/service_at_locations/{i}/location"))
        b.services = [(doc, base)]
        yield b
    elif kind == "service_at_location":
        service = doc.get("service") or {}
        org = service.get("organization") or {"id": service.get("organization_id"), "name": service.get("name", "")}
        b = Bundle(org, f"{base}/service/organization")
        if isinstance(doc.get("location"), dict):
            b.locations.append((doc["location"], f"{base}/location"))
        if service:
            service = dict(service)
            service.setdefault("service_at_locations", [{"id": doc.get("id"), "location_id": doc.get("location_id")}])
            b.services = [(service, f"{base}/service")]
        yield b
    elif kind == "location":
        org = {"id": doc.get("organization_id"), "name": doc.get("name", "")}
        b = Bundle(org, base)
        b.locations = [(doc, base)]
        yield b
    elif kind == "taxonomy":
        yield Skipped(base or "/", "a taxonomy or taxonomy term, not a listing")
    else:
        yield "is not an HSDS organization, service, service_at_location or location document"


def document_kind(doc: dict[str, Any]) -> str | None:
    if "location_type" in doc:
        return "location"
    if isinstance(doc.get("service"), dict) or isinstance(doc.get("location"), dict) \
            or ("service_id" in doc and "location_id" in doc):
        return "service_at_location"
    if "status" in doc and "name" in doc:
        return "service"
    if "taxonomy_detail" in doc or ("code" in doc and "taxonomy" in doc) \
            or ("version" in doc and set(doc) <= {"id", "name", "description", "uri", "version", "metadata"}):
        return "taxonomy"
    if "name" in doc and ("description" in doc or "locations" in doc or "services" in doc):
        return "organization"
    return None


def schema_for(kind: str | None) -> str | None:
    return {"organization": "compiled/organization", "service": "compiled/service",
            "service_at_location": "compiled/service_at_location", "location": "location"}.get(kind or "")


class TermResolver:
    """Attribute → (vocabulary, slug) of a kapfinder term; foreign terms → None; bad ones → a problem."""

    def __init__(self, file_terms: dict[str, dict[str, Any]] | None = None):
        self.file_terms = file_terms or {}

    def __call__(self, attr: dict[str, Any], pointer: str, problems: RecordProblems) -> tuple[str, str] | None:
        nested = attr.get("taxonomy_term") if isinstance(attr.get("taxonomy_term"), dict) else None
        tid = str(attr.get("taxonomy_term_id") or (nested or {}).get("id") or "").lower()
        known = term_index().get(tid)
        if known:
            return known
        term = nested or self.file_terms.get(tid)
        if term is None:
            if tid:
                problems.add("taxonomy_term_id", f"unknown taxonomy term {tid}", f"{pointer}/taxonomy_term_id")
            return None
        detail = term.get("taxonomy_detail") if isinstance(term.get("taxonomy_detail"), dict) else {}
        tax_id = str(term.get("taxonomy_id") or detail.get("id") or "").lower()
        tax_name = str(term.get("taxonomy") or detail.get("name") or "")
        vocab_name = taxonomy_index().get(tax_id)
        if vocab_name is None and tax_name.startswith(TAXONOMY_PREFIX):
            vocab_name = tax_name[len(TAXONOMY_PREFIX):]
            if vocab_name not in VOCAB_BY_NAME:
                problems.add("taxonomy", f"‘{tax_name}’ is not a kapfinder taxonomy", f"{pointer}/taxonomy_term")
                return None
        if vocab_name is None:
            return None  # a term of somebody else's taxonomy: not ours to read
        code = str(term.get("code") or "")
        if code not in VOCAB_BY_NAME[vocab_name]:
            problems.add("taxonomy_term", f"‘{code}’ is not a term of {TAXONOMY_PREFIX}{vocab_name}",
                         f"{pointer}/taxonomy_term")
            return None
        return vocab_name, code


def records_of(bundle: Bundle, resolve: TermResolver, new_problems) -> Iterator[
        tuple[ClinicRecord | None, RecordProblems, Skipped | None]]:
    """One record per physical location of the bundle (or a skip reason)."""
    org, optr = bundle.organization, bundle.org_pointer
    org_problems = new_problems()
    org_terms = _terms(org.get("attributes"), f"{optr}/attributes", resolve, org_problems)
    services = []
    for service, sptr in bundle.services:
        terms = _terms(service.get("attributes"), f"{sptr}/attributes", resolve, org_problems)
        services.append((service, sptr, terms))
    if not bundle.locations:
        where = optr or "/"
        yield None, org_problems, Skipped(where, "no location: kapfinder lists clinics at a physical place")
        return
    for index, (loc, lptr) in enumerate(bundle.locations):
        problems = new_problems()
        problems.items.extend(org_problems.items if index == 0 else [])
        loc_id = str(loc.get("id") or "")
        here = [(s, p, t) for s, p, t in services
                if len(bundle.locations) == 1 or not s.get("service_at_locations")
                or any(str(sal.get("location_id") or "").lower() == loc_id.lower()
                       for sal in s.get("service_at_locations") or [])]
        record = read_record(org, optr, loc, lptr, here, org_terms, problems)
        if not any(v == vocab.METHODS.name for _s, _p, terms in here for v, _slug, _val, _ptr in terms):
            _check_location_only(record, problems)
            yield None, problems, Skipped(lptr or "/", "not a KAP service: no term of kapfinder's method taxonomy")
            continue
        yield record, problems, None


def bundle_items(bundle: Bundle, resolve: TermResolver, locate: Callable[[str | None], str]) -> Iterator[Item]:
    """The records of a bundle as a reader yields them; ``locate`` names a JSON pointer's place."""
    for record, problems, skipped in records_of(bundle, resolve, lambda: RecordProblems(locate)):
        if skipped is not None:
            skipped = Skipped(locate(skipped.where), skipped.reason)
        if record is not None:
            record.values["_where"] = locate(bundle.org_pointer)
            record.locate = locate
        yield record, problems.items, skipped


def _check_location_only(record: ClinicRecord, problems: RecordProblems) -> None:
    """Even a skipped record must not carry impossible coordinates (they show a broken file)."""
    lat, lon = record.values.get("lat"), record.values.get("lon")
    if lat is not None and not -90 <= lat <= 90:
        problems.add("latitude", f"latitude {lat:g} is not between -90 and 90", record.pointers.get("lat"))
    if lon is not None and not -180 <= lon <= 180:
        problems.add("longitude", f"longitude {lon:g} is not between -180 and 180", record.pointers.get("lon"))


def _terms(attributes, pointer: str, resolve: TermResolver, problems: RecordProblems) -> list[Term]:
    out = []
    for i, attr in enumerate(attributes or []):
        if not isinstance(attr, dict):
            continue
        found = resolve(attr, f"{pointer}/{i}", problems)
        if found:
            out.append((found[0], found[1], str(attr.get("value") or ""), f"{pointer}/{i}"))
    return out
