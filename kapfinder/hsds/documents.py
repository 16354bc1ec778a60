"""A clinic as HSDS 3.0 documents: organization, location, service and service_at_location.

The mapping is written down in ``docs/HSDS.md``; exports and the ``/hsds`` API both build here, so
every document kapfinder publishes has one shape (and keys in one order: exports keep it).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

from .. import vocab
from ..formats import clinic_url, iso_date, iso_exact, national_phone
from ..models import Clinic, Status
from .ids import hsds_id, location_id, sal_id, service_id, term_id
from .services import ServiceSpec, clinic_specs
from .taxonomies import LISTING, SAFETY_FLAGS, term_doc

COUNTRY = "US"
CURRENCY = "USD"
SAMPLE_ALERT = "Fictional sample listing: not a real clinic."


def _drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


def attribute_value(head: str, **pairs: Any) -> str:
    """An attribute value: "in-network; plan_types=hmo,ppo; as_of=2024-05-01" (docs/HSDS.md)."""
    parts = [head] + [f"{k}={v}" for k, v in pairs.items() if v is not None]
    return "; ".join(parts)


def parse_value(text: str) -> tuple[str, dict[str, str]]:
    """The inverse of ``attribute_value``: (head, {key: value})."""
    head, *rest = [p.strip() for p in (text or "").split(";")]
    pairs = {}
    for part in rest:
        key, _, val = part.partition("=")
        pairs[key.strip()] = val.strip()
    return head, pairs


# --- attributes ---------------------------------------------------------------------------------

def _attribute(path: str, link_id: str, entity: str, v: vocab.Vocabulary, slug: str, value: str,
               nested: bool) -> dict[str, Any]:
    doc = {"id": hsds_id(f"{path}/attribute/{v.name}/{slug}"), "link_id": link_id,
           "taxonomy_term_id": term_id(v.name, slug), "link_type": v.name, "link_entity": entity,
           "value": value}
    if nested:
        doc["taxonomy_term"] = term_doc(v, slug)
    return doc


def _organization_terms(clinic: Clinic) -> Iterator[tuple[vocab.Vocabulary, str]]:
    """The clinic-wide terms, each published with the value "true", in document order."""
    yield from ((vocab.PRESCRIBER_TYPES, s) for s in clinic.prescriber_types)
    yield from ((vocab.THERAPIST_LICENSES, s) for s in clinic.therapist_licenses)
    yield from ((vocab.PAYMENT_OPTIONS, s) for s, on in clinic.payment_options.items() if on)
    yield from ((LISTING, s) for s, column in SAFETY_FLAGS.items() if getattr(clinic, column))
    if clinic.sample:
        yield LISTING, "sample"


def organization_attributes(clinic: Clinic, nested: bool = True) -> list[dict[str, Any]]:
    return [_attribute(clinic.id, clinic.id, "organization", v, slug, "true", nested)
            for v, slug in _organization_terms(clinic)]


def _service_true_terms(clinic: Clinic, spec: ServiceSpec) -> Iterator[tuple[vocab.Vocabulary, str]]:
    """The service's terms published with the value "true", in document order (before the
    accepting-new-patients and sample attributes)."""
    yield vocab.SERVICES, spec.service
    if spec.method:
        yield vocab.METHODS, spec.method
    yield from ((vocab.SETTINGS, s) for s in clinic.settings)
    yield from ((vocab.CONDITIONS, s) for s in clinic.conditions)
    if clinic.therapy:
        yield vocab.THERAPY, clinic.therapy
    yield from ((vocab.THERAPY_EXTRAS, s) for s in clinic.therapy_extras)


def service_attributes(clinic: Clinic, spec: ServiceSpec, nested: bool = True) -> list[dict[str, Any]]:
    sid = service_id(clinic.id, spec.key)
    path = f"{clinic.id}/service/{spec.key}"
    out = [_attribute(path, sid, "service", v, slug, "true", nested) for v, slug in _service_true_terms(clinic, spec)]
    if clinic.accepting_new_patients is not None:
        value = attribute_value("true" if clinic.accepting_new_patients else "false",
                                as_of=iso_date(clinic.accepting_as_of))
        out.append(_attribute(path, sid, "service", LISTING, "accepting-new-patients", value, nested))
    if clinic.sample:
        out.append(_attribute(path, sid, "service", LISTING, "sample", "true", nested))
    seen: dict[str, int] = {}
    for row in clinic.insurance:
        if row.service != spec.service:
            continue
        n = seen[row.carrier] = seen.get(row.carrier, 0) + 1
        value = attribute_value(row.network, plan_types=",".join(row.plan_types) or "any", as_of=iso_date(row.as_of))
        out.append(_attribute(f"{path}/insurance/{n}", sid, "service", vocab.CARRIERS, row.carrier, value, nested))
    return out


# --- parts of a service and of a location ----------------------------------------------------------

def cost_options(clinic: Clinic, spec: ServiceSpec) -> list[dict[str, Any]]:
    """The service's self-pay price (the first price row of its covered service), if any."""
    row = next((r for r in clinic.prices if r.service == spec.service), None)
    if row is None:
        return []
    low = "?" if row.min_usd is None else str(row.min_usd)
    high = "?" if row.max_usd is None else str(row.max_usd)
    return [_drop_none({
        "id": hsds_id(f"{clinic.id}/service/{spec.key}/cost_option"),
        "service_id": service_id(clinic.id, spec.key),
        "valid_from": iso_date(row.as_of),
        "option": "Self-pay, per session",
        "currency": CURRENCY,
        "amount": row.min_usd if row.min_usd is not None else row.max_usd,
        "amount_description": f"USD {low}-{high} per session",
    })]


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


#: The organization's metadata records: (clinic column, HSDS last_action_type).
METADATA = (("created_at", "create"), ("verified_at", "verify"), ("confirmed_at", "confirm"),
            ("languages_as_of", "verify"))


def metadata(clinic: Clinic) -> list[dict[str, Any]]:
    out = []
    for kind, action in METADATA:
        value = getattr(clinic, kind)
        if value is None:
            continue
        out.append({"id": hsds_id(f"{clinic.id}/metadata/{kind}"), "resource_id": clinic.id,
                    "resource_type": "organization", "last_action_date": iso_date(value),
                    "last_action_type": action, "field_name": kind, "previous_value": "",
                    "replacement_value": iso_exact(value) if isinstance(value, datetime) else iso_date(value),
                    "updated_by": "kapfinder"})
    return out


def languages(clinic: Clinic) -> list[dict[str, Any]]:
    """The languages the staff offer care in, as HSDS ``language`` records of the location (the spec:
    spoken there, interpretation not included). ASL has the ISO 639-3 code ``ase``."""
    return [{"id": hsds_id(f"{clinic.id}/language/{code}"), "location_id": location_id(clinic.id),
             "name": vocab.LANGUAGES.label(code), "code": code} for code in clinic.languages]


def interpretation_services(clinic: Clinic) -> str | None:
    """``service.interpretation_services``: free text for people, with each code in brackets so an
    import reads the languages back ("Interpreter services available for: Spanish [es]")."""
    if not clinic.interpreter_services:
        return None
    covered = ", ".join(f"{vocab.LANGUAGES.label(code)} [{code}]" for code in clinic.interpreter_languages)
    return f"{INTERPRETERS} for: {covered}" if covered else f"{INTERPRETERS}."


INTERPRETERS = "Interpreter services available"


def address(clinic: Clinic) -> dict[str, Any]:
    return {"id": hsds_id(f"{clinic.id}/address"), "location_id": location_id(clinic.id),
            "address_1": clinic.street or "", "city": clinic.city or "", "state_province": clinic.state or "",
            "postal_code": clinic.zip or "", "country": COUNTRY, "address_type": "physical"}


def phones(clinic: Clinic) -> list[dict[str, Any]]:
    if not clinic.phone:
        return []
    return [{"id": hsds_id(f"{clinic.id}/phone"), "location_id": location_id(clinic.id),
             "number": national_phone(clinic.phone), "type": "voice"}]


def organization_identifiers(clinic: Clinic) -> list[dict[str, Any]]:
    if not clinic.npi:
        return []
    return [{"id": hsds_id(f"{clinic.id}/organization_identifier/npi"), "organization_id": clinic.id,
             "identifier_scheme": "US-NPI", "identifier_type": "National Provider Identifier",
             "identifier": clinic.npi}]


# --- documents --------------------------------------------------------------------------------------

def location_doc(clinic: Clinic, full: bool = True) -> dict[str, Any]:
    doc = _drop_none({"id": location_id(clinic.id), "location_type": "physical",
                      "organization_id": clinic.id, "name": clinic.name,
                      "latitude": clinic.lat, "longitude": clinic.lon})
    if full:
        doc["addresses"] = [address(clinic)]
        doc["phones"] = phones(clinic)
        doc["schedules"] = schedules(clinic)
        doc["languages"] = languages(clinic)
    return doc


def organization_list_doc(clinic: Clinic, base_url: str) -> dict[str, Any]:
    return _drop_none({"id": clinic.id, "name": clinic.name, "description": clinic.description or "",
                       "email": clinic.email or None, "website": clinic.website or None,
                       "uri": clinic_url(base_url, clinic.slug)})


def _status(clinic: Clinic) -> str:
    return "active" if clinic.status == Status.PUBLISHED else "inactive"


def service_list_doc(clinic: Clinic, spec: ServiceSpec, base_url: str, with_org: bool = True) -> dict[str, Any]:
    doc = _drop_none({
        "id": service_id(clinic.id, spec.key), "organization_id": clinic.id, "name": spec.name,
        "description": spec.description, "url": clinic_url(base_url, clinic.slug), "email": clinic.email or None,
        "status": _status(clinic),
        "assured_date": iso_date(clinic.confirmed_at),
        "alert": SAMPLE_ALERT if clinic.sample else None,
        "interpretation_services": interpretation_services(clinic),
        "last_modified": iso_exact(clinic.updated_at),
    })
    if with_org:
        doc["organization"] = organization_list_doc(clinic, base_url)
    return doc


def minimal_service_doc(clinic: Clinic, spec: ServiceSpec) -> dict[str, Any]:
    return _drop_none({"id": service_id(clinic.id, spec.key), "name": spec.name, "status": _status(clinic),
                       "last_modified": iso_exact(clinic.updated_at)})


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
    doc["organization_identifiers"] = organization_identifiers(clinic)
    doc["attributes"] = organization_attributes(clinic)
    doc["metadata"] = metadata(clinic)
    specs = clinic_specs(clinic)
    if full_service:
        doc["services"] = [service_doc(clinic, s, base_url, in_organization=True) for s in specs]
    else:
        doc["services"] = [service_list_doc(clinic, s, base_url, with_org=False) for s in specs]
    return doc
