"""Clinics and search pages as the plain dicts of the JSON API v1 (DESIGN.md → JSON API, API shapes).

Flask-free: the API, the HSDS export and the HTML views may all read these shapes. URLs are passed
in (``url=`` or ``url_for_clinic``) so nothing here needs a request or an app.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from . import vocab
from .formats import iso_date, iso_seconds
from .geo import mi_to_km, round_tenth

if TYPE_CHECKING:
    from .models import Clinic, ClinicFacts
    from .search.page import SearchPage


def _index(vocabulary: vocab.Vocabulary) -> Callable[[str], int]:
    order = {slug: i for i, slug in enumerate(vocabulary.slugs)}
    return lambda slug: order.get(slug, len(order))


_service_index = _index(vocab.SERVICES)
_carrier_index = _index(vocab.CARRIERS)
_network_index = _index(vocab.NETWORKS)


def insurance_items(clinic: ClinicFacts) -> list[dict[str, Any]]:
    """The clinic's insurance rows, by service, then carrier, then network (vocabulary order)."""
    rows = sorted(clinic.insurance, key=lambda r: (_service_index(r.service), _carrier_index(r.carrier),
                                                   _network_index(r.network), r.plan_types_mask or 0))
    return [{"carrier": r.carrier, "plan_types": r.plan_types, "service": r.service, "network": r.network,
             "as_of": iso_date(r.as_of)} for r in rows]


def self_pay_items(clinic: ClinicFacts) -> list[dict[str, Any]]:
    rows = sorted(clinic.prices, key=lambda p: _service_index(p.service))
    return [{"service": p.service, "min_usd": p.min_usd, "max_usd": p.max_usd, "as_of": iso_date(p.as_of)}
            for p in rows]


def distances(distance_mi: float | None) -> tuple[float | None, float | None]:
    """(miles, km), each rounded to one decimal from the unrounded distance; (None, None) without one."""
    if distance_mi is None:
        return None, None
    return round_tenth(distance_mi), round_tenth(mi_to_km(distance_mi))


def clinic_summary(clinic: ClinicFacts, *, url: str | None, distance_mi: float | None = None, match: str | None = None,
                   coverage: list[dict[str, Any]] | None = None, now: datetime | None = None) -> dict[str, Any]:
    """One search result. ``coverage`` (from ``coverage.coverage_for``) is included only when given."""
    mi, km = distances(distance_mi)
    out: dict[str, Any] = {
        "id": clinic.id.lower(),
        "slug": clinic.slug,
        "name": clinic.name,
        "url": url,
        "distance_mi": mi,
        "distance_km": km,
        "match": match,
        "lat": clinic.lat,
        "lon": clinic.lon,
        "address": {"street": clinic.street, "city": clinic.city, "state": clinic.state, "zip": clinic.zip},
        "phone": clinic.phone,
        "website": clinic.website,
        "methods": clinic.methods,
        "settings": clinic.settings,
        "conditions": clinic.conditions,
        "services": clinic.services,
        "insurance": insurance_items(clinic),
        "self_pay": self_pay_items(clinic),
        "accepting_new_patients": clinic.accepting_new_patients,
        "accepting_as_of": iso_date(clinic.accepting_as_of),
        "languages": clinic.languages,
        "interpreter_services": bool(clinic.interpreter_services),
        "interpreter_languages": clinic.interpreter_languages,
        "languages_as_of": iso_date(clinic.languages_as_of),
        "verified_at": iso_seconds(clinic.verified_at),
        "stale": clinic.is_stale(now),
        "sample": bool(clinic.sample),
    }
    if coverage is not None:
        out["coverage"] = coverage
    return out


def clinic_detail(clinic: Clinic, *, url: str | None, now: datetime | None = None) -> dict[str, Any]:
    """One clinic's whole public listing: the summary fields plus the rest (no distance: no location)."""
    out = clinic_summary(clinic, url=url, now=now)
    out.update({
        "description": clinic.description or "",
        "email": clinic.email,
        "hours": [{"day": h["day"], "opens": h["opens"], "closes": h["closes"]} for h in (clinic.hours or [])],
        "hours_note": clinic.hours_note or "",
        "timezone": clinic.timezone,
        "at_home_states": clinic.at_home_states,
        "therapy": clinic.therapy,
        "therapy_extras": clinic.therapy_extras,
        "payment_options": clinic.payment_options,
        "safety": {
            "prescriber_types": clinic.prescriber_types,
            "therapist_licenses": clinic.therapist_licenses,
            "rems_certified": bool(clinic.rems_certified),
            "vital_signs_monitoring": bool(clinic.vital_signs_monitoring),
            "medical_screening": bool(clinic.medical_screening),
        },
        "npi": clinic.npi,
        "confirmed_at": iso_seconds(clinic.confirmed_at),
        "updated_at": iso_seconds(clinic.updated_at),
    })
    return out


def search_response(page: SearchPage, url_for_clinic: Callable[[ClinicFacts], str | None],
                    now: datetime | None = None) -> dict[str, Any]:
    """The body of ``GET /api/v1/clinics``: the normalised query echo, counts and one page of results."""
    return {
        "query": page.query(),
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        "pages": page.pages,
        "results": [
            clinic_summary(hit.clinic, url=url_for_clinic(hit.clinic), distance_mi=hit.distance_mi,
                           match=hit.match, coverage=hit.coverage, now=now)
            for hit in page.hits
        ],
    }
