"""What a clinic's listing says about one carrier, service by service (DESIGN.md → Insurance).

Flask-free: used by the search core, the API, the HTML pages and the HSDS export alike.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from . import vocab
from .models import Clinic, ClinicInsurance


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def matching_rows(clinic: Clinic, carrier: str, service: str, plan_type: str | None,
                  rows: list[ClinicInsurance] | None = None) -> list[ClinicInsurance]:
    """Insurance rows for this carrier and service whose plan types are empty (all) or hold ``plan_type``."""
    return [
        row for row in (clinic.insurance if rows is None else rows)
        if row.carrier == carrier and row.service == service
        and (plan_type is None or not row.plan_types_mask or plan_type in row.plan_types)
    ]


def coverage_for(clinic: Clinic, carrier: str, plan_type: str | None = None) -> list[dict[str, Any]]:
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
                             as_of=_iso(chosen.as_of))
            else:
                entry.update(status="self-pay", as_of=_iso(price.as_of) if price else None)
            if chosen is None or chosen.network == "out-of-network":
                entry["notes"] = [slug for slug in vocab.PAYMENT_OPTIONS.slugs if getattr(clinic, slug)]
        entries.append(entry)
    return entries
