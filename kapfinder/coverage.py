"""What a clinic's listing says about one carrier, service by service (DESIGN.md → Insurance).

Flask-free: used by the search core, the API, the HTML pages and the HSDS export alike.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from . import vocab
from .formats import iso_date
from .models import ClinicFacts, InsuranceFacts


def matching_rows(clinic: ClinicFacts, carrier: str, service: str, plan_type: str | None,
                  rows: list[InsuranceFacts] | None = None) -> list[InsuranceFacts]:
    """Insurance rows for this carrier and service whose plan types are empty (all) or hold ``plan_type``."""
    return [
        row for row in (clinic.insurance if rows is None else rows)
        if row.carrier == carrier and row.service == service
        and (plan_type is None or not row.plan_types_mask or plan_type in row.plan_types)
    ]


def coverage_for(clinic: ClinicFacts, carrier: str, plan_type: str | None = None) -> list[dict[str, Any]]:
    """One entry per service slug, in vocabulary order.

    ``status`` is ``not-offered`` when the clinic does not offer the service, else the network of a
    matching insurance row (in-network wins over out-of-network), else ``self-pay``. A clinic-wide
    superbill never makes a service out-of-network: it is a note.
    """
    offered = set(clinic.services)
    prices = {p.service: p for p in clinic.prices}
    insurance = [row for row in clinic.insurance if row.carrier == carrier]
    entries = []
    for service in vocab.SERVICES.slugs:
        price = prices.get(service)
        entry: dict[str, Any] = {
            "service": service, "status": "not-offered", "network": None, "plan_types": [],
            "min_usd": None, "max_usd": None, "as_of": None, "notes": [],
        }
        if service in offered:
            rows = matching_rows(clinic, carrier, service, plan_type, insurance)
            chosen = next((r for r in rows if r.network == "in-network"), None) or (rows[0] if rows else None)
            if price is not None:
                entry["min_usd"], entry["max_usd"] = price.min_usd, price.max_usd
            if chosen is not None:
                entry.update(status=chosen.network, network=chosen.network, plan_types=chosen.plan_types,
                             as_of=iso_date(chosen.as_of))
            else:
                entry.update(status="self-pay", as_of=iso_date(price.as_of) if price else None)
            if chosen is None or chosen.network == "out-of-network":
                entry["notes"] = [slug for slug in vocab.PAYMENT_OPTIONS.slugs if getattr(clinic, slug)]
        entries.append(entry)
    return entries


# --- the insurance filter: which services the patient means (DESIGN.md → Insurance) -------------
#
# The rule lives here once. ``search.filter_conditions`` (SQL, PostGIS), ``search.index`` (the
# in-memory index) and ``hsds.service_terms`` build their filters from ``wanted_services``, and
# ``takes_insurance`` is the same rule over a loaded clinic; a test compares them on random pairs.

#: Network values that count as "takes this insurance" for a service.
COVERED = vocab.NETWORKS.slugs  # in-network, out-of-network

#: The covered service each administration method implies.
SERVICE_OF_METHOD = {method: ("esketamine" if method == "esketamine-nasal" else "ketamine")
                     for method in vocab.METHODS.slugs}


@dataclass(frozen=True)
class WantedService:
    """A service whose coverage satisfies the insurance filter, with the chosen methods that imply it.

    ``methods`` is a mask of the patient's methods: the clinic must list at least one of them for this
    service to count (0: no method condition, when the patient gave ``service`` or no method).
    """

    service: str
    methods: int = 0


def wanted_services(service: str | None, methods: Iterable[str] = ()) -> tuple[WantedService, ...]:
    """The services an ``insurance`` filter is about, in vocabulary order.

    With ``service``, that service. Without it but with methods, the service each chosen method
    implies, counted only where the clinic lists one of those methods. With neither, every service.
    """
    if service:
        return (WantedService(service),)
    chosen = list(methods)
    if chosen:
        by_service: dict[str, int] = {}
        for method in chosen:
            implied = SERVICE_OF_METHOD[method]
            by_service[implied] = by_service.get(implied, 0) | vocab.METHODS.mask([method])
        return tuple(WantedService(s, by_service[s]) for s in vocab.SERVICES.slugs if s in by_service)
    return tuple(WantedService(s) for s in vocab.SERVICES.slugs)


def applies_to(wanted: WantedService, methods_mask: int) -> bool:
    """Whether a clinic listing ``methods_mask`` is asked about this service at all."""
    return not wanted.methods or bool(methods_mask & wanted.methods)


def answering_services(clinic: ClinicFacts, service: str | None, methods: Iterable[str] = ()) -> list[str]:
    """The services the patient asked this clinic about (those its result card leads with)."""
    return [w.service for w in wanted_services(service, methods) if applies_to(w, clinic.methods_mask)]


def takes_insurance(clinic: ClinicFacts, carrier: str, plan_type: str | None = None, service: str | None = None,
                    methods: Iterable[str] = (), coverage: list[dict[str, Any]] | None = None) -> bool:
    """The ``insurance`` filter over one clinic: in or out of network for a service the patient means."""
    status = {e["service"]: e["status"] for e in (coverage or coverage_for(clinic, carrier, plan_type))}
    return any(status[s] in COVERED for s in answering_services(clinic, service, methods))


def leading_services(clinic: ClinicFacts, entries: list[dict[str, Any]], service: str | None,
                     methods: Iterable[str] = ()) -> tuple[str, ...]:
    """The services a result card answers first: those the patient asked about (``service``, or what
    the chosen methods the clinic lists imply); with neither, the services the carrier covers."""
    if service or methods:
        asked = set(answering_services(clinic, service, methods))
        return tuple(e["service"] for e in entries if e["service"] in asked and e["status"] != "not-offered")
    return tuple(e["service"] for e in entries if e["status"] in COVERED)


def covering_rows(clinic: ClinicFacts, wanted: Iterable[WantedService],
                  rows: list[InsuranceFacts] | None = None) -> list[InsuranceFacts]:
    """Insurance rows, of any carrier and plan type, that satisfy the filter for ``wanted``: in or out
    of network for a wanted service that the clinic offers and is asked about."""
    offered = set(clinic.services)
    services = {w.service for w in wanted if w.service in offered and applies_to(w, clinic.methods_mask)}
    return [row for row in (clinic.insurance if rows is None else rows)
            if row.service in services and row.network in COVERED]
