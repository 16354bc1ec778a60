"""HSDS documents → clinic records: the inverse of ``kapfinder.hsds`` (docs/HSDS.md → Imports)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from typing import Any, Iterator

from .. import vocab
from ..hsds.documents import parse_value
from ..hsds.ids import hsds_id, location_id
from ..hsds.taxonomies import SAFETY_FLAGS, TAXONOMY_PREFIX, VOCAB_BY_NAME, taxonomy_index, term_index
from ..listings.rules import DAYS
from ..geo import state_code
from .common import Skipped, parse_date, parse_datetime
from .records import ClinicRecord, RecordProblems

URI_SLUG = re.compile(r"/clinics/([^/?#]+)/?$")
DAY_CODES = {d.upper(): d for d in DAYS}
AMOUNT = re.compile(r"^USD (\d+|\?)-(\d+|\?) per session$")


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


def clinic_id_for(org_id: str | None, loc_id: str | None) -> str | None:
    if org_id and loc_id and location_id(org_id.lower()) == loc_id.lower():
        return org_id.lower()
    if loc_id:
        return hsds_id(f"location/{loc_id.lower()}")
    return org_id.lower() if org_id else None


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
        record = _record(org, optr, loc, lptr, here, org_terms, problems)
        kap = [t for _s, _p, t in here if any(v == "method" for v, _slug, _val, _ptr in t)]
        if not kap:
            if record is not None:
                _check_location_only(record, problems)
            yield None, problems, Skipped(lptr or "/", "not a KAP service: no term of kapfinder's method taxonomy")
            continue
        yield record, problems, None


def _check_location_only(record: ClinicRecord, problems: RecordProblems) -> None:
    """Even a skipped record must not carry impossible coordinates (they show a broken file)."""
    lat, lon = record.values.get("lat"), record.values.get("lon")
    if lat is not None and not -90 <= lat <= 90:
        problems.add("latitude", f"latitude {lat:g} is not between -90 and 90", record.pointers.get("lat"))
    if lon is not None and not -180 <= lon <= 180:
        problems.add("longitude", f"longitude {lon:g} is not between -180 and 180", record.pointers.get("lon"))


def _terms(attributes, pointer: str, resolve: TermResolver, problems: RecordProblems):
    out = []
    for i, attr in enumerate(attributes or []):
        if not isinstance(attr, dict):
            continue
        found = resolve(attr, f"{pointer}/{i}", problems)
        if found:
            out.append((found[0], found[1], str(attr.get("value") or ""), f"{pointer}/{i}"))
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _record(org, optr, loc, lptr, services, org_terms, problems: RecordProblems) -> ClinicRecord | None:
    pointers: dict[str, str] = {}
    v: dict[str, Any] = {}
    v["id"] = clinic_id_for(str(org.get("id") or "") or None, str(loc.get("id") or "") or None)
    v["name"] = str(org.get("name") or loc.get("name") or "").strip()
    pointers["name"] = f"{optr}/name"
    v["description"] = str(org.get("description") or "")
    v["website"] = org.get("website") or None
    v["email"] = org.get("email") or None
    pointers.update(description=f"{optr}/description", website=f"{optr}/website", email=f"{optr}/email")
    m = URI_SLUG.search(str(org.get("uri") or ""))
    v["slug"] = m.group(1) if m else None

    addresses = [a for a in loc.get("addresses") or [] if isinstance(a, dict)]
    addr_i, addr = next(((i, a) for i, a in enumerate(addresses) if a.get("address_type") == "physical"),
                        (0, addresses[0]) if addresses else (None, {}))
    aptr = f"{lptr}/addresses/{addr_i}" if addr_i is not None else lptr
    v["street"] = ", ".join(str(x).strip() for x in (addr.get("address_1"), addr.get("address_2")) if x)
    v["city"] = str(addr.get("city") or "").strip()
    v["state"] = str(addr.get("state_province") or "").strip()
    v["zip"] = str(addr.get("postal_code") or "").strip()
    pointers.update(street=f"{aptr}/address_1", city=f"{aptr}/city", state=f"{aptr}/state_province",
                    zip=f"{aptr}/postal_code")
    v["lat"], v["lon"] = _number(loc.get("latitude")), _number(loc.get("longitude"))
    pointers.update(lat=f"{lptr}/latitude", lon=f"{lptr}/longitude")

    phones = [(p, f"{lptr}/phones/{i}") for i, p in enumerate(loc.get("phones") or [])] + \
             [(p, f"{optr}/phones/{i}") for i, p in enumerate(org.get("phones") or [])]
    v["phone"] = str(phones[0][0].get("number") or "") if phones else ""
    pointers["phone"] = f"{phones[0][1]}/number" if phones else f"{lptr}/phones"

    hours, note = [], ""
    for i, sch in enumerate(loc.get("schedules") or []):
        note = note or str(sch.get("notes") or "")
        if not (sch.get("byday") and sch.get("opens_at") and sch.get("closes_at")):
            continue
        for day in str(sch["byday"]).split(","):
            code = re.sub(r"^[+-]?\d+", "", day.strip().upper())
            if code not in DAY_CODES:
                problems.add("byday", f"‘{day}’ is not a weekday code (MO…SU)", f"{lptr}/schedules/{i}/byday")
                continue
            hours.append({"day": DAY_CODES[code], "opens": str(sch["opens_at"])[:5],
                          "closes": str(sch["closes_at"])[:5]})
        pointers["hours"] = f"{lptr}/schedules/{i}"
    v["hours"], v["hours_note"] = hours, note
    if loc.get("schedules"):
        pointers["hours_note"] = f"{lptr}/schedules/0/notes"

    for ident in org.get("organization_identifiers") or []:
        kind = f"{ident.get('identifier_scheme') or ''} {ident.get('identifier_type') or ''}".upper()
        if "NPI" in kind or "NATIONAL PROVIDER" in kind:
            v["npi"] = str(ident.get("identifier") or "").strip() or None
            pointers["npi"] = f"{optr}/organization_identifiers"
            break

    for meta in org.get("metadata") or []:
        name = meta.get("field_name")
        if name in ("created_at", "verified_at", "confirmed_at"):
            try:
                v[name] = parse_datetime(str(meta.get("replacement_value") or ""))
            except ValueError:
                problems.add(name, f"‘{meta.get('replacement_value')}’ is not an ISO 8601 datetime", f"{optr}/metadata")

    # Clinic-wide facts on the organization.
    lists: dict[str, list[str]] = {k: [] for k in ("methods", "settings", "conditions", "therapy_extras",
                                                   "prescriber_types", "therapist_licenses", "at_home_states")}
    flags = {"sliding_scale": False, "financing": False, "superbill": False, "hsa_fsa": False,
             "rems_certified": False, "vital_signs_monitoring": False, "medical_screening": False, "sample": False}
    for vocab_name, slug, _value, _ptr in org_terms:
        if vocab_name == "prescriber_type":
            lists["prescriber_types"].append(slug)
        elif vocab_name == "therapist_license":
            lists["therapist_licenses"].append(slug)
        elif vocab_name == "payment_option":
            flags[slug] = True
        elif vocab_name == "listing" and slug in SAFETY_FLAGS:
            flags[SAFETY_FLAGS[slug]] = True
        elif vocab_name == "listing" and slug == "sample":
            flags["sample"] = True

    therapy = None
    accepting: tuple[bool | None, Any] = (None, None)
    covered_seen: set[str] = set()
    insurance: list[dict[str, Any]] = []
    prices: list[dict[str, Any]] = []
    offers_evaluation = False
    updated_at = confirmed_fallback = None
    for service, sptr, terms in services:
        methods = [slug for vn, slug, _v, _p in terms if vn == "method"]
        covered = next((slug for vn, slug, _v, _p in terms if vn == "service"), None)
        if covered is None and methods:
            covered = "esketamine" if "esketamine-nasal" in methods else "ketamine"
        if covered is None:
            continue  # not one of kapfinder's services (a generic HSDS service)
        lists["methods"] += methods
        offers_evaluation = offers_evaluation or covered == "evaluation"
        if updated_at is None and service.get("last_modified"):
            try:
                updated_at = parse_datetime(str(service["last_modified"]))
            except ValueError:
                problems.add("last_modified", "is not an RFC 3339 datetime", f"{sptr}/last_modified")
        if confirmed_fallback is None and service.get("assured_date"):
            try:
                confirmed_fallback = parse_date(str(service["assured_date"]))
            except ValueError:
                problems.add("assured_date", "is not a YYYY-MM-DD date", f"{sptr}/assured_date")
        for vn, slug, value, ptr in terms:
            if vn == "setting":
                lists["settings"].append(slug)
            elif vn == "condition":
                lists["conditions"].append(slug)
            elif vn == "therapy_extra":
                lists["therapy_extras"].append(slug)
            elif vn == "therapy" and therapy is None:
                therapy = slug
            elif vn == "listing" and slug == "sample":
                flags["sample"] = True
            elif vn == "listing" and slug == "accepting-new-patients" and accepting[0] is None:
                head, pairs = parse_value(value)
                if head not in ("true", "false"):
                    problems.add("value", f"‘{value}’ should start with true or false", f"{ptr}/value")
                accepting = (head == "true", _as_of(pairs, ptr, problems))
        for i, area in enumerate(service.get("service_areas") or []):
            code = str(area.get("extent") or "").upper()
            if code not in vocab.STATES:
                code = state_code(str(area.get("name") or "")) or ""
            if code:
                lists["at_home_states"].append(code)
            else:
                problems.add("service_areas", f"‘{area.get('extent') or area.get('name')}’ is not a US state",
                             f"{sptr}/service_areas/{i}")
        if covered in covered_seen:
            continue  # every racemic-method service carries the same ketamine insurance and price
        covered_seen.add(covered)
        for vn, slug, value, ptr in terms:
            if vn != "insurance":
                continue
            head, pairs = parse_value(value)
            if head not in vocab.NETWORKS:
                problems.add("value", f"‘{head}’ is not a network slug (in-network, out-of-network)", f"{ptr}/value")
                continue
            plans = [p for p in (pairs.get("plan_types") or "any").split(",") if p and p != "any"]
            for p in plans:
                if p not in vocab.PLAN_TYPES:
                    problems.add("value", f"‘{p}’ is not a plan type slug", f"{ptr}/value")
            insurance.append({"service": covered, "carrier": slug, "network": head,
                              "plan_types": vocab.PLAN_TYPES.ordered(plans), "as_of": _as_of(pairs, ptr, problems)})
        for i, option in enumerate(service.get("cost_options") or []):
            if str(option.get("currency") or "USD").upper() != "USD":
                continue
            optr_i = f"{sptr}/cost_options/{i}"
            low = high = None
            m = AMOUNT.match(str(option.get("amount_description") or ""))
            if m:
                low = None if m.group(1) == "?" else int(m.group(1))
                high = None if m.group(2) == "?" else int(m.group(2))
            elif _number(option.get("amount")) is not None:
                low = high = round(_number(option.get("amount")))
            as_of = None
            if option.get("valid_from"):
                try:
                    as_of = parse_date(str(option["valid_from"]))
                except ValueError:
                    problems.add("valid_from", "is not a YYYY-MM-DD date", f"{optr_i}/valid_from")
            prices.append({"service": covered, "min_usd": low, "max_usd": high, "as_of": as_of})
            break

    for name, slugs in lists.items():
        v[name] = (vocab.STATES if name == "at_home_states" else {
            "methods": vocab.METHODS, "settings": vocab.SETTINGS, "conditions": vocab.CONDITIONS,
            "therapy_extras": vocab.THERAPY_EXTRAS, "prescriber_types": vocab.PRESCRIBER_TYPES,
            "therapist_licenses": vocab.THERAPIST_LICENSES}[name]).ordered(slugs)
    v.update(flags)
    v["therapy"] = therapy
    v["offers_evaluation"] = offers_evaluation
    v["accepting_new_patients"], v["accepting_as_of"] = accepting
    if updated_at is not None:
        v["updated_at"] = updated_at
    if v.get("confirmed_at") is None and confirmed_fallback is not None:
        v["confirmed_at"] = datetime.combine(confirmed_fallback, time(), timezone.utc)
    # Facts carried by the services' attributes and areas, and the safety flags on the organization's.
    for name in ("methods", "settings", "at_home_states", "conditions", "therapy", "therapy_extras",
                 "accepting_new_patients", "insurance", "prices"):
        pointers.setdefault(name, f"{optr}/services")
    for name in ("rems_certified", "prescriber_types", "therapist_licenses"):
        pointers.setdefault(name, f"{optr}/attributes")
    return ClinicRecord(values=v, insurance=insurance, prices=prices, pointers=pointers)


def _as_of(pairs: dict[str, str], ptr: str, problems: RecordProblems):
    if not pairs.get("as_of"):
        return None
    try:
        return parse_date(pairs["as_of"])
    except ValueError:
        problems.add("value", f"as_of ‘{pairs['as_of']}’ is not a YYYY-MM-DD date", f"{ptr}/value")
        return None
