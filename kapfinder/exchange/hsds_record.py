"""One location of an HSDS bundle → one clinic record, read section by section (docs/HSDS.md →
Imports): the organization, the address, the phone, the schedules, the NPI, the metadata dates,
the organization's attributes, then each service's dates, terms, areas, insurance and price.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any

from .. import vocab
from ..geo import state_code
from ..hsds.documents import parse_value
from ..hsds.ids import hsds_id, location_id
from ..hsds.taxonomies import LISTING, SAFETY_FLAGS
from ..listings.rules import DAYS, LIST_FIELDS
from .common import parse_date, parse_datetime
from .records import ClinicRecord, RecordProblems

URI_SLUG = re.compile(r"/clinics/([^/?#]+)/?$")
DAY_CODES = {d.upper(): d for d in DAYS}
AMOUNT = re.compile(r"^USD (\d+|\?)-(\d+|\?) per session$")
#: Terms that fill a list field: on the organization, and on a service.
ORGANIZATION_LISTS = {vocab.PRESCRIBER_TYPES.name: "prescriber_types",
                      vocab.THERAPIST_LICENSES.name: "therapist_licenses"}
SERVICE_LISTS = {vocab.SETTINGS.name: "settings", vocab.CONDITIONS.name: "conditions",
                 vocab.THERAPY_EXTRAS.name: "therapy_extras"}
#: The yes/no facts a record starts with, all no: payment options, safety flags, the sample mark.
FLAGS = (*vocab.PAYMENT_OPTIONS.slugs, *SAFETY_FLAGS.values(), "sample", "interpreter_services")
#: A language's English name (without a bracketed abbreviation) or abbreviation → its code.
LANGUAGE_NAMES = {name.strip().lower(): t.slug for t in vocab.LANGUAGES
                  for name in re.split(r"[()]", t.label) if name.strip()}
LANGUAGE_CODES = "(ISO 639-1, or ase for ASL)"
BRACKETED_CODE = re.compile(r"\[([A-Za-z]{2,3})\]")
#: A resolved attribute: (vocabulary, slug, value, JSON pointer).
Term = tuple[str, str, str, str]


@dataclass
class _Reading:
    """The record being read: its values, where each came from (a JSON pointer), its problems."""

    problems: RecordProblems
    values: dict[str, Any] = field(default_factory=dict)
    pointers: dict[str, str] = field(default_factory=dict)


@dataclass
class _ServiceFacts:
    """What the services (and the organization's attributes) say about the clinic, gathered."""

    lists: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in LIST_FIELDS})
    flags: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(FLAGS, False))
    therapy: str | None = None
    accepting: tuple[bool | None, date | None] = (None, None)
    offers_evaluation: bool = False
    updated_at: datetime | None = None
    confirmed_fallback: date | None = None
    covered_seen: set[str] = field(default_factory=set)
    insurance: list[dict[str, Any]] = field(default_factory=list)
    prices: list[dict[str, Any]] = field(default_factory=list)


def read_record(org, optr, loc, lptr, services, org_terms: list[Term], problems: RecordProblems) -> ClinicRecord:
    r = _Reading(problems)
    _read_organization(r, org, optr, loc)
    _read_address(r, loc, lptr)
    _read_phone(r, org, optr, loc, lptr)
    _read_schedules(r, loc, lptr)
    _read_npi(r, org, optr)
    _read_metadata(r, org, optr)
    facts = _ServiceFacts()
    _read_languages(facts, loc.get("languages"), f"{lptr}/languages", problems)
    _read_organization_terms(facts, org_terms)
    for service, sptr, terms in services:
        _read_service(facts, service, sptr, terms, problems)
    _apply(r, facts, optr)
    r.pointers.setdefault("languages", f"{lptr}/languages")
    return ClinicRecord(values=r.values, insurance=facts.insurance, prices=facts.prices, pointers=r.pointers)


def _read_organization(r: _Reading, org, optr: str, loc) -> None:
    v = r.values
    v["id"] = clinic_id_for(str(org.get("id") or "") or None, str(loc.get("id") or "") or None)
    v["name"] = str(org.get("name") or loc.get("name") or "").strip()
    v["description"] = str(org.get("description") or "")
    v["website"] = org.get("website") or None
    v["email"] = org.get("email") or None
    r.pointers.update(name=f"{optr}/name", description=f"{optr}/description", website=f"{optr}/website",
                      email=f"{optr}/email")
    m = URI_SLUG.search(str(org.get("uri") or ""))
    v["slug"] = m.group(1) if m else None


def _read_address(r: _Reading, loc, lptr: str) -> None:
    """The physical address (else the first one), and the coordinates."""
    addresses = [a for a in loc.get("addresses") or [] if isinstance(a, dict)]
    addr_i, addr = next(((i, a) for i, a in enumerate(addresses) if a.get("address_type") == "physical"),
                        (0, addresses[0]) if addresses else (None, {}))
    aptr = f"{lptr}/addresses/{addr_i}" if addr_i is not None else lptr
    v = r.values
    v["street"] = ", ".join(str(x).strip() for x in (addr.get("address_1"), addr.get("address_2")) if x)
    v["city"] = str(addr.get("city") or "").strip()
    v["state"] = str(addr.get("state_province") or "").strip()
    v["zip"] = str(addr.get("postal_code") or "").strip()
    v["lat"], v["lon"] = _number(loc.get("latitude")), _number(loc.get("longitude"))
    r.pointers.update(street=f"{aptr}/address_1", city=f"{aptr}/city", state=f"{aptr}/state_province",
                      zip=f"{aptr}/postal_code", lat=f"{lptr}/latitude", lon=f"{lptr}/longitude")


def _read_phone(r: _Reading, org, optr: str, loc, lptr: str) -> None:
    """The location's first phone, else the organization's."""
    phones = [(p, f"{lptr}/phones/{i}") for i, p in enumerate(loc.get("phones") or [])] + \
             [(p, f"{optr}/phones/{i}") for i, p in enumerate(org.get("phones") or [])]
    r.values["phone"] = str(phones[0][0].get("number") or "") if phones else ""
    r.pointers["phone"] = f"{phones[0][1]}/number" if phones else f"{lptr}/phones"


def _read_schedules(r: _Reading, loc, lptr: str) -> None:
    """Weekly opening hours (one per day of each ``byday``), and the first note."""
    hours, note = [], ""
    for i, sch in enumerate(loc.get("schedules") or []):
        note = note or str(sch.get("notes") or "")
        if not (sch.get("byday") and sch.get("opens_at") and sch.get("closes_at")):
            continue
        for day in str(sch["byday"]).split(","):
            code = re.sub(r"^[+-]?\d+", "", day.strip().upper())
            if code not in DAY_CODES:
                r.problems.add("byday", f"‘{day}’ is not a weekday code (MO…SU)", f"{lptr}/schedules/{i}/byday")
                continue
            hours.append({"day": DAY_CODES[code], "opens": str(sch["opens_at"])[:5],
                          "closes": str(sch["closes_at"])[:5]})
        r.pointers["hours"] = f"{lptr}/schedules/{i}"
    r.values["hours"], r.values["hours_note"] = hours, note
    if loc.get("schedules"):
        r.pointers["hours_note"] = f"{lptr}/schedules/0/notes"


def _read_npi(r: _Reading, org, optr: str) -> None:
    for ident in org.get("organization_identifiers") or []:
        kind = f"{ident.get('identifier_scheme') or ''} {ident.get('identifier_type') or ''}".upper()
        if "NPI" in kind or "NATIONAL PROVIDER" in kind:
            r.values["npi"] = str(ident.get("identifier") or "").strip() or None
            r.pointers["npi"] = f"{optr}/organization_identifiers"
            return


def _read_metadata(r: _Reading, org, optr: str) -> None:
    """The dates the export keeps as metadata records."""
    for meta in org.get("metadata") or []:
        name = meta.get("field_name")
        if name in ("created_at", "verified_at", "confirmed_at"):
            try:
                r.values[name] = parse_datetime(str(meta.get("replacement_value") or ""))
            except ValueError:
                r.problems.add(name, f"‘{meta.get('replacement_value')}’ is not an ISO 8601 datetime",
                               f"{optr}/metadata")
        elif name == "languages_as_of":
            r.values[name] = _date(meta.get("replacement_value") or "", name, f"{optr}/metadata", r.problems)


def _language_code(record: dict[str, Any]) -> str:
    """A language record's code (ISO 639-1, or 639-3 for ASL), else its name if it is one of ours."""
    code = str(record.get("code") or "").strip().lower()
    return code or LANGUAGE_NAMES.get(str(record.get("name") or "").strip().lower(), "")


def _read_languages(facts: _ServiceFacts, records, pointer: str, problems: RecordProblems) -> None:
    """Staff languages: ``language`` records of the location (kapfinder's) or of a service."""
    for i, record in enumerate(records or []):
        if not isinstance(record, dict):
            continue
        code = _language_code(record)
        if code in vocab.LANGUAGES:
            facts.lists["languages"].append(code)
        elif code:
            problems.add("languages", f"‘{code}’ is not a known language code {LANGUAGE_CODES}", f"{pointer}/{i}/code")
        else:
            problems.add("languages", f"‘{record.get('name') or ''}’ is neither a language code nor a language "
                                      "kapfinder knows", f"{pointer}/{i}")


def _read_interpretation(facts: _ServiceFacts, service, sptr: str, problems: RecordProblems) -> None:
    """``interpretation_services``: any text means interpreter services; the languages are the codes in
    brackets kapfinder writes, else the language names the text mentions."""
    text = str(service.get("interpretation_services") or "").strip()
    if not text:
        return
    facts.flags["interpreter_services"] = True
    codes = BRACKETED_CODE.findall(text)
    if not codes:
        codes = [code for name, code in LANGUAGE_NAMES.items()
                 if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text, re.IGNORECASE)]
    for code in (c.lower() for c in codes):
        if code in vocab.LANGUAGES:
            facts.lists["interpreter_languages"].append(code)
        else:
            problems.add("interpretation_services", f"‘{code}’ is not a known language code {LANGUAGE_CODES}",
                         f"{sptr}/interpretation_services")


def _read_organization_terms(facts: _ServiceFacts, terms: list[Term]) -> None:
    """Clinic-wide facts on the organization: prescribers, therapists, payment, safety, sample."""
    for vocab_name, slug, _value, _ptr in terms:
        if vocab_name in ORGANIZATION_LISTS:
            facts.lists[ORGANIZATION_LISTS[vocab_name]].append(slug)
        elif vocab_name == vocab.PAYMENT_OPTIONS.name:
            facts.flags[slug] = True
        elif vocab_name == LISTING.name and slug in SAFETY_FLAGS:
            facts.flags[SAFETY_FLAGS[slug]] = True
        elif vocab_name == LISTING.name and slug == "sample":
            facts.flags["sample"] = True


def _read_service(facts: _ServiceFacts, service, sptr: str, terms: list[Term], problems: RecordProblems) -> None:
    methods = [slug for vn, slug, _v, _p in terms if vn == vocab.METHODS.name]
    covered = next((slug for vn, slug, _v, _p in terms if vn == vocab.SERVICES.name), None)
    if covered is None and methods:
        covered = "esketamine" if "esketamine-nasal" in methods else "ketamine"
    if covered is None:
        return  # not one of kapfinder's services (a generic HSDS service)
    facts.lists["methods"] += methods
    facts.offers_evaluation = facts.offers_evaluation or covered == "evaluation"
    _read_service_dates(facts, service, sptr, problems)
    _read_service_terms(facts, terms, problems)
    _read_service_areas(facts, service, sptr, problems)
    _read_languages(facts, service.get("languages"), f"{sptr}/languages", problems)
    _read_interpretation(facts, service, sptr, problems)
    if covered in facts.covered_seen:
        return  # every racemic-method service carries the same ketamine insurance and price
    facts.covered_seen.add(covered)
    facts.insurance += _insurance(covered, terms, problems)
    price = _price(covered, service, sptr, problems)
    if price is not None:
        facts.prices.append(price)


def _read_service_dates(facts: _ServiceFacts, service, sptr: str, problems: RecordProblems) -> None:
    """The first service's ``last_modified`` and ``assured_date`` (the latter when metadata has none)."""
    if facts.updated_at is None and service.get("last_modified"):
        try:
            facts.updated_at = parse_datetime(str(service["last_modified"]))
        except ValueError:
            problems.add("last_modified", "is not an RFC 3339 datetime", f"{sptr}/last_modified")
    if facts.confirmed_fallback is None and service.get("assured_date"):
        facts.confirmed_fallback = _date(service["assured_date"], "assured_date", f"{sptr}/assured_date", problems)


def _read_service_terms(facts: _ServiceFacts, terms: list[Term], problems: RecordProblems) -> None:
    for vn, slug, value, ptr in terms:
        if vn in SERVICE_LISTS:
            facts.lists[SERVICE_LISTS[vn]].append(slug)
        elif vn == vocab.THERAPY.name and facts.therapy is None:
            facts.therapy = slug
        elif vn == LISTING.name and slug == "sample":
            facts.flags["sample"] = True
        elif vn == LISTING.name and slug == "accepting-new-patients" and facts.accepting[0] is None:
            head, pairs = parse_value(value)
            if head not in ("true", "false"):
                problems.add("value", f"‘{value}’ should start with true or false", f"{ptr}/value")
            facts.accepting = (head == "true", _as_of(pairs, ptr, problems))


def _read_service_areas(facts: _ServiceFacts, service, sptr: str, problems: RecordProblems) -> None:
    """At-home states: a state code as ``extent``, else a state's name."""
    for i, area in enumerate(service.get("service_areas") or []):
        code = str(area.get("extent") or "").upper()
        if code not in vocab.STATES:
            code = state_code(str(area.get("name") or "")) or ""
        if code:
            facts.lists["at_home_states"].append(code)
        else:
            problems.add("service_areas", f"‘{area.get('extent') or area.get('name')}’ is not a US state",
                         f"{sptr}/service_areas/{i}")


def _insurance(covered: str, terms: list[Term], problems: RecordProblems) -> list[dict[str, Any]]:
    """The covered service's insurance rows, one per carrier attribute."""
    out = []
    for vn, slug, value, ptr in terms:
        if vn != vocab.CARRIERS.name:
            continue
        head, pairs = parse_value(value)
        if head not in vocab.NETWORKS:
            problems.add("value", f"‘{head}’ is not a network slug (in-network, out-of-network)", f"{ptr}/value")
            continue
        plans = [p for p in (pairs.get("plan_types") or "any").split(",") if p and p != "any"]
        for p in plans:
            if p not in vocab.PLAN_TYPES:
                problems.add("value", f"‘{p}’ is not a plan type slug", f"{ptr}/value")
        out.append({"service": covered, "carrier": slug, "network": head,
                    "plan_types": vocab.PLAN_TYPES.ordered(plans), "as_of": _as_of(pairs, ptr, problems)})
    return out


def _price(covered: str, service, sptr: str, problems: RecordProblems) -> dict[str, Any] | None:
    """The covered service's price: the first cost option in US dollars."""
    for i, option in enumerate(service.get("cost_options") or []):
        if str(option.get("currency") or "USD").upper() != "USD":
            continue
        low = high = None
        m = AMOUNT.match(str(option.get("amount_description") or ""))
        if m:
            low = None if m.group(1) == "?" else int(m.group(1))
            high = None if m.group(2) == "?" else int(m.group(2))
        elif _number(option.get("amount")) is not None:
            low = high = round(_number(option.get("amount")))
        as_of = _date(option["valid_from"], "valid_from", f"{sptr}/cost_options/{i}/valid_from", problems) \
            if option.get("valid_from") else None
        return {"service": covered, "min_usd": low, "max_usd": high, "as_of": as_of}
    return None


def _apply(r: _Reading, facts: _ServiceFacts, optr: str) -> None:
    """The gathered facts into the record's values (lists in vocabulary order)."""
    v = r.values
    for name, vocabulary in LIST_FIELDS.items():
        v[name] = vocabulary.ordered(facts.lists[name])
    v.update(facts.flags)
    v["therapy"] = facts.therapy
    v["offers_evaluation"] = facts.offers_evaluation
    v["accepting_new_patients"], v["accepting_as_of"] = facts.accepting
    if facts.updated_at is not None:
        v["updated_at"] = facts.updated_at
    if v.get("confirmed_at") is None and facts.confirmed_fallback is not None:
        v["confirmed_at"] = datetime.combine(facts.confirmed_fallback, time(), timezone.utc)
    # Facts carried by the services' attributes and areas, and the safety flags on the organization's.
    for name in ("methods", "settings", "at_home_states", "conditions", "therapy", "therapy_extras",
                 "accepting_new_patients", "insurance", "prices"):
        r.pointers.setdefault(name, f"{optr}/services")
    for name in ("interpreter_services", "interpreter_languages"):
        r.pointers.setdefault(name, f"{optr}/services")
    for name in ("rems_certified", "prescriber_types", "therapist_licenses"):
        r.pointers.setdefault(name, f"{optr}/attributes")


def _date(text: Any, name: str, pointer: str, problems: RecordProblems) -> date | None:
    try:
        return parse_date(str(text))
    except ValueError:
        problems.add(name, "is not a YYYY-MM-DD date", pointer)
        return None


def _as_of(pairs: dict[str, str], ptr: str, problems: RecordProblems):
    if not pairs.get("as_of"):
        return None
    try:
        return parse_date(pairs["as_of"])
    except ValueError:
        problems.add("value", f"as_of ‘{pairs['as_of']}’ is not a YYYY-MM-DD date", f"{ptr}/value")
        return None


def clinic_id_for(org_id: str | None, loc_id: str | None) -> str | None:
    if org_id and loc_id and location_id(org_id.lower()) == loc_id.lower():
        return org_id.lower()
    if loc_id:
        return hsds_id(f"location/{loc_id.lower()}")
    return org_id.lower() if org_id else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None
