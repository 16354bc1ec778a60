"""The directory as Open Referral HSDS 3.0 documents, and the queries behind the ``/hsds`` API.

No Flask here: the API, the exports and the imports all build on these functions, so every
document kapfinder publishes has one shape. The mapping is written down in ``docs/HSDS.md``.

Ids are stable: the organization id is the clinic id, every other id is a uuid5 of one fixed
kapfinder namespace and a path such as ``<clinic id>/service/ketamine-iv``; taxonomy and term ids
are uuid5 of ``taxonomy/<vocabulary>`` and ``term/<vocabulary>/<slug>``, so they are the same in
every installation.
"""
from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from .. import coverage, vocab
from ..errors import InvalidParameter, NotFound, UnknownLocation
from ..models import Clinic

HSDS_VERSION = "3.0"
#: The fixed namespace of every kapfinder HSDS id. Never change it: ids are public.
NAMESPACE = uuid.UUID("edecf748-76c3-4c52-b886-2f278191a032")
TAXONOMY_PREFIX = "kapfinder:"
COUNTRY = "US"
CURRENCY = "USD"
ID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

#: Listing facts that are not in a vocabulary file but are published as terms all the same.
LISTING = vocab.Vocabulary("listing", "Listing facts", [
    vocab.Term("sample", "Fictional sample listing",
               "Fictional sample data made by `flask sample load`: not a real clinic."),
    vocab.Term("accepting-new-patients", "Accepting new patients",
               "Whether the clinic accepts new patients (attribute value true or false, with its as-of date)."),
    vocab.Term("rems-certified", "REMS-certified",
               "The setting is certified under the Spravato REMS programme."),
    vocab.Term("vital-signs-monitoring", "Vital-signs monitoring",
               "Blood pressure, heart rate and oxygen are monitored during dosing."),
    vocab.Term("medical-screening", "Medical screening",
               "A medical screening takes place before treatment."),
])

#: kapfinder's published taxonomies, one per vocabulary, in this order.
TAXONOMY_VOCABS: tuple[vocab.Vocabulary, ...] = (
    vocab.SERVICES, vocab.METHODS, vocab.SETTINGS, vocab.CONDITIONS, vocab.THERAPY, vocab.THERAPY_EXTRAS,
    vocab.CARRIERS, vocab.PLAN_TYPES, vocab.NETWORKS, vocab.PAYMENT_OPTIONS, vocab.PRESCRIBER_TYPES,
    vocab.THERAPIST_LICENSES, LISTING,
)
VOCAB_BY_NAME = {v.name: v for v in TAXONOMY_VOCABS}
INSURANCE_VOCABS = {vocab.CARRIERS.name, vocab.PLAN_TYPES.name, vocab.NETWORKS.name}
SAFETY_FLAGS = {"rems-certified": "rems_certified", "vital-signs-monitoring": "vital_signs_monitoring",
                "medical-screening": "medical_screening"}
DAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")
SERVICE_ORDER = ("esketamine", "ketamine-iv", "ketamine-im", "ketamine-oral", "ketamine-ketamine-nasal",
                 "psychotherapy", "evaluation")


_NAMESPACE_BYTES = NAMESPACE.bytes


def hsds_id(path: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, path))``, computed directly: an export makes millions of ids."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + path.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@lru_cache(maxsize=None)
def taxonomy_id(vocab_name: str) -> str:
    return hsds_id(f"taxonomy/{vocab_name}")


@lru_cache(maxsize=None)
def term_id(vocab_name: str, slug: str) -> str:
    return hsds_id(f"term/{vocab_name}/{slug}")


def location_id(clinic_id: str) -> str:
    return hsds_id(f"{clinic_id}/location")


# --- taxonomies -------------------------------------------------------------------------------

def taxonomy_doc(v: vocab.Vocabulary) -> dict[str, Any]:
    return dict(_taxonomy_doc(v.name, v.title))


@lru_cache(maxsize=None)
def _taxonomy_doc(name: str, title: str) -> dict[str, Any]:
    return {"id": taxonomy_id(name), "name": TAXONOMY_PREFIX + name, "description": title, "version": "1"}


def term_doc(v: vocab.Vocabulary, slug: str) -> dict[str, Any]:
    """The term as HSDS publishes it (built once per term: every attribute of an export nests one)."""
    key = (v.name, slug)
    doc = _TERM_DOCS.get(key)
    if doc is None:
        t = v.term(slug)
        doc = _TERM_DOCS[key] = {
            "id": term_id(v.name, slug), "code": slug, "name": t.label, "description": t.description or t.label,
            "taxonomy": TAXONOMY_PREFIX + v.name, "taxonomy_detail": _taxonomy_doc(v.name, v.title),
            "language": "en", "taxonomy_id": taxonomy_id(v.name)}
    return {**doc, "taxonomy_detail": dict(doc["taxonomy_detail"])}


_TERM_DOCS: dict[tuple[str, str], dict[str, Any]] = {}


def all_taxonomies() -> list[dict[str, Any]]:
    return [taxonomy_doc(v) for v in TAXONOMY_VOCABS]


def all_terms() -> list[dict[str, Any]]:
    return [term_doc(v, s) for v in TAXONOMY_VOCABS for s in v.slugs]


@lru_cache(maxsize=1)
def term_index() -> dict[str, tuple[str, str]]:
    """Term id → (vocabulary name, slug)."""
    return {term_id(v.name, s): (v.name, s) for v in TAXONOMY_VOCABS for s in v.slugs}


@lru_cache(maxsize=1)
def taxonomy_index() -> dict[str, str]:
    """Taxonomy id → vocabulary name."""
    return {taxonomy_id(v.name): v.name for v in TAXONOMY_VOCABS}


# --- services a clinic offers -------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceSpec:
    """One HSDS service of a clinic: a covered service, split by method for racemic ketamine."""

    key: str  # esketamine | ketamine-<method> | psychotherapy | evaluation
    service: str  # the covered-service slug (insurance and prices are keyed by it)
    method: str | None

    @property
    def name(self) -> str:
        if self.service == "esketamine":
            return vocab.METHODS.label("esketamine-nasal")
        if self.method:
            label = vocab.METHODS.label(self.method)
            return label if "ketamine" in label.lower() else f"Ketamine: {label}"
        return vocab.SERVICES.label(self.service)

    @property
    def description(self) -> str:
        if self.method:
            return vocab.METHODS.term(self.method).description
        return vocab.SERVICES.term(self.service).description


def service_specs(methods: Iterable[str], therapy: str | None, offers_evaluation: bool) -> list[ServiceSpec]:
    methods = set(methods)
    specs = []
    if "esketamine-nasal" in methods:
        specs.append(ServiceSpec("esketamine", "esketamine", "esketamine-nasal"))
    for m in vocab.RACEMIC_METHODS:
        if m in methods:
            specs.append(ServiceSpec(f"ketamine-{m}", "ketamine", m))
    if therapy and therapy != "medication-only":
        specs.append(ServiceSpec("psychotherapy", "psychotherapy", None))
    if offers_evaluation:
        specs.append(ServiceSpec("evaluation", "evaluation", None))
    return specs


def clinic_specs(clinic: Clinic) -> list[ServiceSpec]:
    return service_specs(clinic.methods, clinic.therapy, clinic.offers_evaluation)


def service_id(clinic_id: str, key: str) -> str:
    return hsds_id(f"{clinic_id}/service/{key}")


def sal_id(clinic_id: str, key: str) -> str:
    return hsds_id(f"{clinic_id}/service_at_location/{key}")


# --- small formats ------------------------------------------------------------------------------

def iso_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def national_phone(e164: str | None) -> str | None:
    """"+15125550100" → "(512) 555-0100"; anything else unchanged."""
    if not e164:
        return None
    m = re.fullmatch(r"\+1(\d{3})(\d{3})(\d{4})", e164)
    return f"({m.group(1)}) {m.group(2)}-{m.group(3)}" if m else e164


def page_url(base_url: str, clinic: Clinic) -> str | None:
    return f"{base_url}/clinics/{clinic.slug}" if clinic.slug else None


def _drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


def _value(head: str, **pairs: Any) -> str:
    """An attribute value: "in-network; plan_types=hmo,ppo; as_of=2024-05-01" (docs/HSDS.md)."""
    parts = [head] + [f"{k}={v}" for k, v in pairs.items() if v is not None]
    return "; ".join(parts)


def parse_value(text: str) -> tuple[str, dict[str, str]]:
    head, *rest = [p.strip() for p in (text or "").split(";")]
    pairs = {}
    for part in rest:
        key, _, val = part.partition("=")
        pairs[key.strip()] = val.strip()
    return head, pairs


# --- documents ----------------------------------------------------------------------------------

def _attribute(path: str, link_id: str, entity: str, v: vocab.Vocabulary, slug: str, value: str,
               nested: bool) -> dict[str, Any]:
    doc = {"id": hsds_id(f"{path}/attribute/{v.name}/{slug}"), "link_id": link_id,
           "taxonomy_term_id": term_id(v.name, slug), "link_type": v.name, "link_entity": entity,
           "value": value}
    if nested:
        doc["taxonomy_term"] = term_doc(v, slug)
    return doc


def organization_attributes(clinic: Clinic, nested: bool = True) -> list[dict[str, Any]]:
    path, oid = clinic.id, clinic.id
    out = []
    for slug in clinic.prescriber_types:
        out.append(_attribute(path, oid, "organization", vocab.PRESCRIBER_TYPES, slug, "true", nested))
    for slug in clinic.therapist_licenses:
        out.append(_attribute(path, oid, "organization", vocab.THERAPIST_LICENSES, slug, "true", nested))
    for slug, on in clinic.payment_options.items():
        if on:
            out.append(_attribute(path, oid, "organization", vocab.PAYMENT_OPTIONS, slug, "true", nested))
    for slug, column in SAFETY_FLAGS.items():
        if getattr(clinic, column):
            out.append(_attribute(path, oid, "organization", LISTING, slug, "true", nested))
    if clinic.sample:
        out.append(_attribute(path, oid, "organization", LISTING, "sample", "true", nested))
    return out


def service_attributes(clinic: Clinic, spec: ServiceSpec, nested: bool = True) -> list[dict[str, Any]]:
    sid = service_id(clinic.id, spec.key)
    path = f"{clinic.id}/service/{spec.key}"
    out = [_attribute(path, sid, "service", vocab.SERVICES, spec.service, "true", nested)]
    if spec.method:
        out.append(_attribute(path, sid, "service", vocab.METHODS, spec.method, "true", nested))
    for slug in clinic.settings:
        out.append(_attribute(path, sid, "service", vocab.SETTINGS, slug, "true", nested))
    for slug in clinic.conditions:
        out.append(_attribute(path, sid, "service", vocab.CONDITIONS, slug, "true", nested))
    if clinic.therapy:
        out.append(_attribute(path, sid, "service", vocab.THERAPY, clinic.therapy, "true", nested))
    for slug in clinic.therapy_extras:
        out.append(_attribute(path, sid, "service", vocab.THERAPY_EXTRAS, slug, "true", nested))
    if clinic.accepting_new_patients is not None:
        value = _value("true" if clinic.accepting_new_patients else "false",
                       as_of=clinic.accepting_as_of.isoformat() if clinic.accepting_as_of else None)
        out.append(_attribute(path, sid, "service", LISTING, "accepting-new-patients", value, nested))
    if clinic.sample:
        out.append(_attribute(path, sid, "service", LISTING, "sample", "true", nested))
    seen: dict[str, int] = {}
    for row in clinic.insurance:
        if row.service != spec.service:
            continue
        n = seen[row.carrier] = seen.get(row.carrier, 0) + 1
        value = _value(row.network, plan_types=",".join(row.plan_types) or "any",
                       as_of=row.as_of.isoformat() if row.as_of else None)
        doc = _attribute(f"{path}/insurance/{n}", sid, "service", vocab.CARRIERS, row.carrier, value, nested)
        out.append(doc)
    return out


def cost_options(clinic: Clinic, spec: ServiceSpec) -> list[dict[str, Any]]:
    out = []
    for row in clinic.prices:
        if row.service != spec.service:
            continue
        low = "?" if row.min_usd is None else str(row.min_usd)
        high = "?" if row.max_usd is None else str(row.max_usd)
        amount = row.min_usd if row.min_usd is not None else row.max_usd
        out.append(_drop_none({
            "id": hsds_id(f"{clinic.id}/service/{spec.key}/cost_option"),
            "service_id": service_id(clinic.id, spec.key),
            "valid_from": row.as_of.isoformat() if row.as_of else None,
            "option": "Self-pay, per session",
            "currency": CURRENCY,
            "amount": amount,
            "amount_description": f"USD {low}-{high} per session",
        }))
        break
    return out


def service_areas(clinic: Clinic, spec: ServiceSpec) -> list[dict[str, Any]]:
    if "at-home" not in clinic.settings:
        return []
    return [{
        "id": hsds_id(f"{clinic.id}/service/{spec.key}/service_area/{state}"),
        "service_id": service_id(clinic.id, spec.key),
        "name": vocab.STATE_NAMES[state],
        "description": f"At-home programme serving patients anywhere in {vocab.STATE_NAMES[state]}.",
        "extent": state,
        "extent_type": "text",
    } for state in clinic.at_home_states]


def schedules(clinic: Clinic) -> list[dict[str, Any]]:
    lid = location_id(clinic.id)
    note = clinic.hours_note or None
    out = []
    for i, entry in enumerate(clinic.hours or []):
        day = entry["day"].upper()
        out.append(_drop_none({
            "id": hsds_id(f"{clinic.id}/schedule/{i}"), "location_id": lid, "freq": "WEEKLY", "interval": 1,
            "wkst": "MO", "byday": day, "opens_at": f"{entry['opens']}:00", "closes_at": f"{entry['closes']}:00",
            "description": f"{day} {entry['opens']}-{entry['closes']}", "notes": note,
        }))
    if not out and note:
        out.append({"id": hsds_id(f"{clinic.id}/schedule/0"), "location_id": lid, "notes": note})
    return out


def metadata(clinic: Clinic) -> list[dict[str, Any]]:
    out = []
    for kind, action, value in (("created_at", "create", clinic.created_at),
                                ("verified_at", "verify", clinic.verified_at),
                                ("confirmed_at", "confirm", clinic.confirmed_at)):
        if value is None:
            continue
        out.append({"id": hsds_id(f"{clinic.id}/metadata/{kind}"), "resource_id": clinic.id,
                    "resource_type": "organization", "last_action_date": value.date().isoformat(),
                    "last_action_type": action, "field_name": kind, "previous_value": "",
                    "replacement_value": iso_datetime(value), "updated_by": "kapfinder"})
    return out


def address(clinic: Clinic) -> dict[str, Any]:
    return {"id": hsds_id(f"{clinic.id}/address"), "location_id": location_id(clinic.id),
            "address_1": clinic.street or "", "city": clinic.city or "", "state_province": clinic.state or "",
            "postal_code": clinic.zip or "", "country": COUNTRY, "address_type": "physical"}


def location_doc(clinic: Clinic, full: bool = True) -> dict[str, Any]:
    doc = _drop_none({"id": location_id(clinic.id), "location_type": "physical",
                      "organization_id": clinic.id, "name": clinic.name,
                      "latitude": clinic.lat, "longitude": clinic.lon})
    if full:
        doc["addresses"] = [address(clinic)]
        doc["phones"] = [{"id": hsds_id(f"{clinic.id}/phone"), "location_id": location_id(clinic.id),
                          "number": national_phone(clinic.phone), "type": "voice"}] if clinic.phone else []
        doc["schedules"] = schedules(clinic)
    return doc


def organization_list_doc(clinic: Clinic, base_url: str) -> dict[str, Any]:
    return _drop_none({"id": clinic.id, "name": clinic.name, "description": clinic.description or "",
                       "email": clinic.email or None, "website": clinic.website or None,
                       "uri": page_url(base_url, clinic)})


def service_list_doc(clinic: Clinic, spec: ServiceSpec, base_url: str, with_org: bool = True) -> dict[str, Any]:
    doc = _drop_none({
        "id": service_id(clinic.id, spec.key), "organization_id": clinic.id, "name": spec.name,
        "description": spec.description, "url": page_url(base_url, clinic), "email": clinic.email or None,
        "status": "active" if clinic.status == "published" else "inactive",
        "assured_date": clinic.confirmed_at.date().isoformat() if clinic.confirmed_at else None,
        "alert": "Fictional sample listing: not a real clinic." if clinic.sample else None,
        "last_modified": iso_datetime(clinic.updated_at),
    })
    if with_org:
        doc["organization"] = organization_list_doc(clinic, base_url)
    return doc


def minimal_service_doc(clinic: Clinic, spec: ServiceSpec) -> dict[str, Any]:
    return _drop_none({"id": service_id(clinic.id, spec.key), "name": spec.name,
                       "status": "active" if clinic.status == "published" else "inactive",
                       "last_modified": iso_datetime(clinic.updated_at)})


def service_doc(clinic: Clinic, spec: ServiceSpec, base_url: str, *, in_organization: bool = False) -> dict[str, Any]:
    """The fully nested service (compiled ``service.json``)."""
    doc = service_list_doc(clinic, spec, base_url, with_org=not in_organization)
    sal: dict[str, Any] = {"id": sal_id(clinic.id, spec.key), "service_id": doc["id"],
                           "location_id": location_id(clinic.id)}
    if not in_organization:
        sal["location"] = location_doc(clinic)
    doc.update({
        "service_areas": service_areas(clinic, spec),
        "service_at_locations": [sal],
        "cost_options": cost_options(clinic, spec),
        "attributes": service_attributes(clinic, spec),
    })
    return doc


def sal_list_doc(clinic: Clinic, spec: ServiceSpec, base_url: str) -> dict[str, Any]:
    return {"id": sal_id(clinic.id, spec.key), "service_id": service_id(clinic.id, spec.key),
            "location_id": location_id(clinic.id), "location": location_doc(clinic, full=False),
            "service": service_list_doc(clinic, spec, base_url)}


def sal_doc(clinic: Clinic, spec: ServiceSpec, base_url: str) -> dict[str, Any]:
    """The fully nested service_at_location (compiled ``service_at_location.json``)."""
    service = service_doc(clinic, spec, base_url)
    service.pop("service_at_locations")
    return {"id": sal_id(clinic.id, spec.key), "service_id": service["id"], "location_id": location_id(clinic.id),
            "location": location_doc(clinic), "service": service}


def organization_doc(clinic: Clinic, base_url: str, *, full_service: bool = True) -> dict[str, Any]:
    """The fully nested organization (compiled ``organization.json``)."""
    doc = organization_list_doc(clinic, base_url)
    doc["locations"] = [location_doc(clinic)]
    doc["organization_identifiers"] = [{
        "id": hsds_id(f"{clinic.id}/organization_identifier/npi"), "organization_id": clinic.id,
        "identifier_scheme": "US-NPI", "identifier_type": "National Provider Identifier",
        "identifier": clinic.npi}] if clinic.npi else []
    doc["attributes"] = organization_attributes(clinic)
    doc["metadata"] = metadata(clinic)
    specs = clinic_specs(clinic)
    if full_service:
        doc["services"] = [service_doc(clinic, s, base_url, in_organization=True) for s in specs]
    else:
        doc["services"] = [service_list_doc(clinic, s, base_url, with_org=False) for s in specs]
    return doc


# --- which terms a service carries (for the taxonomy filters) ------------------------------------

def service_terms(clinic: Clinic, spec: ServiceSpec) -> set[tuple[str, str]]:
    """(vocabulary, slug) of every term a service carries or that describes its insurance."""
    terms = {(vocab.SERVICES.name, spec.service)}
    if spec.method:
        terms.add((vocab.METHODS.name, spec.method))
    for v, slugs in ((vocab.SETTINGS, clinic.settings), (vocab.CONDITIONS, clinic.conditions),
                     (vocab.THERAPY_EXTRAS, clinic.therapy_extras), (vocab.PRESCRIBER_TYPES, clinic.prescriber_types),
                     (vocab.THERAPIST_LICENSES, clinic.therapist_licenses)):
        terms.update((v.name, s) for s in slugs)
    if clinic.therapy:
        terms.add((vocab.THERAPY.name, clinic.therapy))
    terms.update((vocab.PAYMENT_OPTIONS.name, s) for s, on in clinic.payment_options.items() if on)
    terms.update((LISTING.name, s) for s, col in SAFETY_FLAGS.items() if getattr(clinic, col))
    if clinic.sample:
        terms.add((LISTING.name, "sample"))
    if clinic.accepting_new_patients is not None:
        terms.add((LISTING.name, "accepting-new-patients"))
    # A service carries a carrier's terms when the insurance filter for it would keep the clinic.
    wanted = coverage.wanted_services(None, [spec.method]) if spec.method else coverage.wanted_services(spec.service)
    for row in coverage.covering_rows(clinic, wanted):
        terms.add((vocab.CARRIERS.name, row.carrier))
        terms.add((vocab.NETWORKS.name, row.network))
        terms.update((vocab.PLAN_TYPES.name, p) for p in (row.plan_types or vocab.PLAN_TYPES.slugs))
    return terms


# --- list parameters ----------------------------------------------------------------------------

MAX_VALUE_LENGTH = 200
MAX_PROXIMITY_M = 804_672  # 500 miles
DEFAULT_PROXIMITY_MI = 25
METRES_PER_MILE = 1609.344
RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
ZIP_PARAM = re.compile(r"^\d{5}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ListQuery:
    page: int = 1
    per_page: int = 20
    search: str | None = None
    taxonomy_term_id: str | None = None
    taxonomy_id: str | None = None
    organization_id: str | None = None
    modified_after: datetime | None = None
    minimal: bool = False
    full: bool = False
    full_service: bool = False
    ndjson: bool = False
    top_only: bool = False
    parent_id: str | None = None
    postcode: str | None = None
    proximity_m: float | None = None


#: The parameters each list endpoint takes (as in the official openapi.json, plus ``minimal``).
LIST_PARAMETERS = {
    "services": ("search", "page", "per_page", "format", "taxonomy_term_id", "taxonomy_id", "organization_id",
                 "modified_after", "minimal", "full"),
    "organizations": ("search", "full_service", "full", "page", "per_page", "format"),
    "service_at_locations": ("search", "taxonomy_term_id", "taxonomy_id", "organization_id", "modified_after",
                             "full", "page", "per_page", "format", "postcode", "proximity"),
    "taxonomies": ("search", "page", "per_page", "format"),
    "taxonomy_terms": ("search", "page", "per_page", "format", "taxonomy_id", "top_only", "parent_id"),
}
BOOLEAN_PARAMETERS = {"minimal", "full", "full_service", "top_only"}
ID_PARAMETERS = {"taxonomy_term_id", "taxonomy_id", "organization_id", "parent_id"}


def parse_rfc3339(text: str) -> datetime | None:
    m = RFC3339.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = m.group(7) or ""
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    zone = m.group(8).upper()
    try:
        tz = timezone.utc if zone == "Z" else timezone(
            (1 if zone[0] == "+" else -1) * (datetime.strptime(zone[1:], "%H:%M") - datetime(1900, 1, 1)))
        return datetime(year, month, day, hour, minute, min(second, 59), micro, tzinfo=tz).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def parse_flag(name: str, given: Sequence[str]) -> bool:
    """A boolean parameter: absent, ``true`` or ``false``."""
    if not given:
        return False
    if len(given) > 1:
        raise InvalidParameter(name, "repeated")
    if given[0] not in ("true", "false"):
        raise InvalidParameter(name, "unknown_value", value=given[0][:MAX_VALUE_LENGTH])
    return given[0] == "true"


def parse_list_query(endpoint: str, args: Mapping[str, Sequence[str]]) -> ListQuery:
    """The parameters of one list endpoint, checked; raises InvalidParameter naming the first bad one."""
    allowed = LIST_PARAMETERS[endpoint]
    values: dict[str, str] = {}
    for name in allowed:
        given = list(args.get(name, ()))
        if not given:
            continue
        if len(given) > 1:
            raise InvalidParameter(name, "repeated")
        value = given[0]
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidParameter(name, "too_long", max=MAX_VALUE_LENGTH)
        if CONTROL.search(value):
            raise InvalidParameter(name, "control_character")
        values[name] = value

    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in BOOLEAN_PARAMETERS:
            if value not in ("true", "false"):
                raise InvalidParameter(name, "unknown_value", value=value)
            out[name] = value == "true"
        elif name in ("page", "per_page"):
            if not re.fullmatch(r"[+-]?\d{1,9}", value):
                raise InvalidParameter(name, "not_a_number")
            number = int(value)
            lo, hi = (1, 10**9) if name == "page" else (1, 100)
            if not lo <= number <= hi:
                raise InvalidParameter(name, "out_of_range", min=lo, max=hi)
            out[name] = number
        elif name in ID_PARAMETERS:
            if not ID_PATTERN.match(value):
                raise InvalidParameter(name, "unknown_value", value=value)
            out[name] = value.lower()
        elif name == "format":
            if value not in ("json", "ndjson"):
                raise InvalidParameter(name, "unknown_value", value=value)
            out["ndjson"] = value == "ndjson"
        elif name == "modified_after":
            moment = parse_rfc3339(value)
            if moment is None:
                raise InvalidParameter(name, "unknown_value", value=value)
            out[name] = moment
        elif name == "postcode":
            if not ZIP_PARAM.match(value):
                raise UnknownLocation(value, field="postcode")
            out[name] = value
        elif name == "proximity":
            try:
                metres = float(value)
            except ValueError:
                raise InvalidParameter(name, "not_a_number") from None
            if not math.isfinite(metres) or not 0 < metres <= MAX_PROXIMITY_M:
                raise InvalidParameter(name, "out_of_range", min=0, max=MAX_PROXIMITY_M)
            out["proximity_m"] = metres
        elif name == "search":
            out[name] = value.strip().lower() or None
    if "proximity_m" in out and "postcode" not in out:
        raise InvalidParameter("postcode", "required")
    return ListQuery(**out)


# --- paging -------------------------------------------------------------------------------------

@dataclass
class Page:
    total_items: int
    page_number: int
    per_page: int
    contents: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        total_pages = math.ceil(self.total_items / self.per_page) if self.total_items else 0
        return {"total_items": self.total_items, "total_pages": total_pages, "page_number": self.page_number,
                "size": len(self.contents), "first_page": self.page_number == 1,
                "last_page": self.page_number >= total_pages, "empty": len(self.contents) == 0,
                "contents": self.contents}


def _slice(q: ListQuery) -> tuple[int, int]:
    start = (q.page - 1) * q.per_page
    return start, start + q.per_page


# --- queries ------------------------------------------------------------------------------------

_FULL_LOAD = (selectinload(Clinic.insurance), selectinload(Clinic.prices), selectinload(Clinic.at_home_state_rows))


def published() -> Select:
    return select(Clinic).where(Clinic.status == "published")


def _ordered(stmt: Select) -> Select:
    return stmt.order_by(func.lower(Clinic.name), Clinic.id)


def load_clinics(session: Session, ids: Sequence[str]) -> dict[str, Clinic]:
    found: dict[str, Clinic] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        found.update((c.id, c) for c in session.scalars(
            published().where(Clinic.id.in_(chunk)).options(*_FULL_LOAD)))
    return found


def get_clinic(session: Session, clinic_id: str) -> Clinic:
    clinic = session.scalars(published().where(Clinic.id == clinic_id.lower()).options(*_FULL_LOAD)).first() \
        if ID_PATTERN.match(clinic_id or "") else None
    if clinic is None:
        raise NotFound("id", "not_found")
    return clinic


def _text_match(q: str):
    return or_(func.lower(Clinic.name).contains(q, autoescape=True),
               func.lower(Clinic.description).contains(q, autoescape=True))


def organizations_page(session: Session, q: ListQuery, base_url: str) -> Page:
    stmt = published()
    if q.search:
        stmt = stmt.where(_text_match(q.search))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    start, stop = _slice(q)
    clinics = session.scalars(_ordered(stmt).offset(start).limit(q.per_page).options(*_FULL_LOAD)).all()
    return Page(total, q.page, q.per_page, [_org_item(c, q, base_url) for c in clinics])


def _org_item(clinic: Clinic, q: ListQuery, base_url: str) -> dict[str, Any]:
    if q.full or q.full_service:
        return organization_doc(clinic, base_url, full_service=q.full_service)
    return organization_list_doc(clinic, base_url)


def iter_organizations(session: Session, q: ListQuery, base_url: str) -> Iterator[dict[str, Any]]:
    stmt = published()
    if q.search:
        stmt = stmt.where(_text_match(q.search))
    ids = list(session.scalars(_ordered(stmt.with_only_columns(Clinic.id))))
    for i in range(0, len(ids), 500):
        chunk = load_clinics(session, ids[i:i + 500])
        for cid in ids[i:i + 500]:
            if cid in chunk:
                yield _org_item(chunk[cid], q, base_url)


def _service_filter(q: ListQuery):
    """A predicate over (clinic, spec), or None when nothing beyond SQL is needed."""
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


def _candidate_ids(session: Session, q: ListQuery) -> list[tuple[str, bool, float | None]]:
    """(clinic id, name/description matched the search, distance in miles) in list order."""
    if q.postcode:
        return _near_postcode(session, q)
    text_hit = _text_match(q.search).label("text_hit") if q.search else None
    columns = [Clinic.id] + ([text_hit] if text_hit is not None else [])
    stmt = _ordered(select(*columns).where(Clinic.status == "published", *_clinic_conditions(q)))
    return [(row[0], bool(row[1]) if text_hit is not None else False, None) for row in session.execute(stmt)]


def _near_postcode(session: Session, q: ListQuery) -> list[tuple[str, bool, float | None]]:
    """Clinics within ``proximity`` of a ZIP centroid, ranked by the search core (same order as /search).

    HSDS says "only show results within the proximity from the centroid": the search core's second
    group (at-home programmes serving the ZIP's state, wherever their office is) stays on /search
    and /api/v1, and only its distance matches are kept here.
    """
    from .. import geo, search

    if geo.lookup_zip(session, q.postcode) is None:
        raise UnknownLocation(q.postcode, field="postcode")
    miles = q.proximity_m / METRES_PER_MILE if q.proximity_m else DEFAULT_PROXIMITY_MI
    criteria = search.SearchCriteria(location=q.postcode, radius=miles, page=1, per_page=10**9)
    page = search.search(session, criteria)
    allowed = None
    conds = _clinic_conditions(q)
    if conds or q.search:
        text = _text_match(q.search).label("t") if q.search else None
        stmt = select(Clinic.id, *([text] if text is not None else [])).where(
            Clinic.id.in_([h.clinic.id for h in page.hits]), *conds)
        allowed = {row[0]: bool(row[1]) if text is not None else False for row in session.execute(stmt)}
    out = []
    for hit in page.hits:
        if hit.match != "distance" or hit.distance_mi is None or hit.distance_mi > miles:
            continue
        if allowed is not None and hit.clinic.id not in allowed:
            continue
        out.append((hit.clinic.id, allowed.get(hit.clinic.id, False) if allowed else False, hit.distance_mi))
    return out


def _spec_rows(session: Session, q: ListQuery) -> Iterator[tuple[Clinic | None, str, ServiceSpec, bool]]:
    """Every (clinic, clinic id, spec, text hit) the list covers, in order; clinics loaded in chunks.

    The candidates are found at once (so an unknown postcode raises before anything is streamed);
    the documents are built as the iterator is consumed.
    """
    return _expand(session, q, _candidate_ids(session, q))


def _expand(session: Session, q: ListQuery, candidates) -> Iterator[tuple[Clinic | None, str, ServiceSpec, bool]]:
    keep = _service_filter(q)
    for i in range(0, len(candidates), 500):
        chunk = candidates[i:i + 500]
        clinics = load_clinics(session, [c[0] for c in chunk])
        for cid, text_hit, _d in chunk:
            clinic = clinics.get(cid)
            if clinic is None:
                continue
            for spec in clinic_specs(clinic):
                if keep(clinic, spec, text_hit):
                    yield clinic, cid, spec, text_hit


def _paged(rows: Iterator, q: ListQuery, build) -> Page:
    start, stop = _slice(q)
    contents, total = [], 0
    for clinic, _cid, spec, _hit in rows:
        if start <= total < stop:
            contents.append(build(clinic, spec))
        total += 1
    return Page(total, q.page, q.per_page, contents)


def _service_item(q: ListQuery, base_url: str):
    def build(clinic: Clinic, spec: ServiceSpec) -> dict[str, Any]:
        if q.minimal:
            return minimal_service_doc(clinic, spec)
        if q.full:
            return service_doc(clinic, spec, base_url)
        return service_list_doc(clinic, spec, base_url)
    return build


def _sal_item(q: ListQuery, base_url: str):
    def build(clinic: Clinic, spec: ServiceSpec) -> dict[str, Any]:
        return sal_doc(clinic, spec, base_url) if q.full else sal_list_doc(clinic, spec, base_url)
    return build


def services_page(session: Session, q: ListQuery, base_url: str) -> Page:
    return _paged(_spec_rows(session, q), q, _service_item(q, base_url))


def iter_services(session: Session, q: ListQuery, base_url: str) -> Iterator[dict[str, Any]]:
    build = _service_item(q, base_url)
    return (build(clinic, spec) for clinic, _cid, spec, _hit in _spec_rows(session, q))


def sals_page(session: Session, q: ListQuery, base_url: str) -> Page:
    return _paged(_spec_rows(session, q), q, _sal_item(q, base_url))


def iter_sals(session: Session, q: ListQuery, base_url: str) -> Iterator[dict[str, Any]]:
    build = _sal_item(q, base_url)
    return (build(clinic, spec) for clinic, _cid, spec, _hit in _spec_rows(session, q))


_ID_CACHE: dict[str, Any] = {"stamp": None, "ids": {}}


def _id_map(session: Session) -> dict[str, tuple[str, str]]:
    """Service and service_at_location id → (clinic id, service key), for every published clinic.

    Ids are uuid5 hashes, so the clinic cannot be read off an id: the map is computed from the
    masks (no child rows needed) and rebuilt whenever the published directory changes.
    """
    stamp = tuple(session.execute(select(func.count(), func.max(Clinic.updated_at), func.max(Clinic.version))
                                  .where(Clinic.status == "published")).one())
    if _ID_CACHE["stamp"] != stamp:
        ids: dict[str, tuple[str, str]] = {}
        stmt = select(Clinic.id, Clinic.methods_mask, Clinic.therapy, Clinic.offers_evaluation).where(
            Clinic.status == "published")
        for cid, methods_mask, therapy, evaluation in session.execute(stmt):
            for spec in service_specs(vocab.METHODS.unmask(methods_mask or 0), therapy, bool(evaluation)):
                ids[service_id(cid, spec.key)] = (cid, spec.key)
                ids[sal_id(cid, spec.key)] = (cid, spec.key)
        _ID_CACHE.update(stamp=stamp, ids=ids)
    return _ID_CACHE["ids"]


def _find_spec(session: Session, wanted: str, id_of) -> tuple[Clinic, ServiceSpec]:
    """The clinic and spec whose id (service or service_at_location, as ``id_of`` makes) is ``wanted``."""
    if not ID_PATTERN.match(wanted or ""):
        raise NotFound("id", "not_found")
    wanted = wanted.lower()
    found = _id_map(session).get(wanted)
    if found is not None:
        clinic = session.scalars(published().where(Clinic.id == found[0]).options(*_FULL_LOAD)).first()
        if clinic is not None:
            for spec in clinic_specs(clinic):
                if spec.key == found[1] and id_of(clinic.id, spec.key) == wanted:
                    return clinic, spec
    raise NotFound("id", "not_found")


def service_by_id(session: Session, wanted: str, base_url: str) -> dict[str, Any]:
    clinic, spec = _find_spec(session, wanted, service_id)
    return service_doc(clinic, spec, base_url)


def sal_by_id(session: Session, wanted: str, base_url: str) -> dict[str, Any]:
    clinic, spec = _find_spec(session, wanted, sal_id)
    return sal_doc(clinic, spec, base_url)


def organization_by_id(session: Session, wanted: str, base_url: str, full_service: bool) -> dict[str, Any]:
    return organization_doc(get_clinic(session, wanted), base_url, full_service=full_service)


def _text_hit(doc: dict[str, Any], q: str | None) -> bool:
    return not q or q in doc["name"].lower() or q in (doc.get("description") or "").lower()


def taxonomy_items(q: ListQuery) -> list[dict[str, Any]]:
    return [t for t in all_taxonomies() if _text_hit(t, q.search)]


def term_items(q: ListQuery) -> list[dict[str, Any]]:
    items = [t for t in all_terms() if _text_hit(t, q.search)]
    if q.taxonomy_id:
        items = [t for t in items if t["taxonomy_id"] == q.taxonomy_id]
    if q.parent_id:  # kapfinder's taxonomies are flat: no term has a parent
        items = [t for t in items if t.get("parent_id") == q.parent_id]
    return items


def static_page(items: list[dict[str, Any]], q: ListQuery) -> Page:
    start, stop = _slice(q)
    return Page(len(items), q.page, q.per_page, items[start:stop])


def taxonomy_by_id(wanted: str) -> dict[str, Any]:
    name = taxonomy_index().get((wanted or "").lower())
    if name is None:
        raise NotFound("id", "not_found")
    return taxonomy_doc(VOCAB_BY_NAME[name])


def term_by_id(wanted: str) -> dict[str, Any]:
    found = term_index().get((wanted or "").lower())
    if found is None:
        raise NotFound("id", "not_found")
    return term_doc(VOCAB_BY_NAME[found[0]], found[1])


def api_root(base_url: str) -> dict[str, Any]:
    return {"version": HSDS_VERSION, "profile": "https://openreferral.org/hsds/",
            "openapi_url": f"{base_url}/hsds/openapi.json"}
