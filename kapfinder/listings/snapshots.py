"""A listing's editable content as a *snapshot*: a dict of JSON-able values keyed by field name
(``FIELDS``), which is also what a pending revision and the audit log store. Checking submitted
values into one, reading one off a listing, comparing two and writing one back. No Flask here."""
from __future__ import annotations

import json
from datetime import date
from typing import Any, Mapping

from sqlalchemy.orm import Session

from .. import geo, vocab
from ..models import Clinic, ClinicInsurance, ClinicPrice
from .rules import BOOL_FIELDS, LIST_FIELDS, check_listing, insurance_key

#: Changes to these wait for a moderator once a listing is published.
MODERATED_FIELDS = (
    "name", "street", "city", "state", "zip", "lat", "lon", "phone", "website", "email", "npi",
    "methods", "settings", "at_home_states",
    "prescriber_types", "therapist_licenses", "rems_certified", "vital_signs_monitoring", "medical_screening",
    "languages", "interpreter_services", "interpreter_languages",
)
#: Changes to these publish at once.
IMMEDIATE_FIELDS = (
    "description", "hours", "hours_note", "conditions", "therapy", "therapy_extras", "offers_evaluation",
    "sliding_scale", "financing", "superbill", "hsa_fsa", "accepting_new_patients", "insurance", "prices",
)
FIELDS = MODERATED_FIELDS + IMMEDIATE_FIELDS
#: Dated together by ``Clinic.languages_as_of``: the day the owner last changed any of them.
LANGUAGE_FIELDS = ("languages", "interpreter_services", "interpreter_languages")


def clean_listing(session: Session, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise a submitted listing into a snapshot (without coordinates placed).

    ``data`` holds plain values keyed by ``FIELDS`` (lists for list fields; ``insurance`` and
    ``prices`` as lists of dicts). Raises :class:`InvalidListing` with every problem found.
    The rules live in ``listings.rules``, shared with every import format.
    """
    def zip_state(zip5: str) -> str | None:
        row = geo.lookup_zip(session, zip5)
        return None if row is None else row.state

    return check_listing(data, zip_state)


def snapshot(clinic: Clinic) -> dict[str, Any]:
    """The clinic's editable content as JSON-able values keyed by field name."""
    out: dict[str, Any] = {}
    for key in FIELDS:
        if key == "insurance":
            out[key] = sorted(({"carrier": r.carrier, "service": r.service, "network": r.network,
                                "plan_types": r.plan_types} for r in clinic.insurance), key=insurance_key)
        elif key == "prices":
            rows = {p.service: {"service": p.service, "min_usd": p.min_usd, "max_usd": p.max_usd}
                    for p in clinic.prices}
            out[key] = [rows[s] for s in vocab.SERVICES.slugs if s in rows]
        elif key == "hours":
            out[key] = [dict(h) for h in (clinic.hours or [])]
        elif key in LIST_FIELDS:
            out[key] = list(getattr(clinic, key))
        elif key in BOOL_FIELDS:
            out[key] = bool(getattr(clinic, key))
        else:
            out[key] = getattr(clinic, key)
    return out


def in_snapshot_order(values: Mapping[str, Any]) -> dict[str, Any]:
    """Snapshot values from elsewhere (an import) with insurance and prices in the order and shape
    :func:`snapshot` gives them, so that comparing the two shows only real changes."""
    out = dict(values)
    if "insurance" in out:
        rows = {}
        for item in out["insurance"]:
            row = {"carrier": item["carrier"], "service": item["service"], "network": item["network"],
                   "plan_types": vocab.PLAN_TYPES.ordered(item.get("plan_types") or [])}
            rows[(row["carrier"], row["service"], tuple(row["plan_types"]))] = row
        out["insurance"] = sorted(rows.values(), key=insurance_key)
    if "prices" in out:
        prices = {p["service"]: {"service": p["service"], "min_usd": p.get("min_usd"), "max_usd": p.get("max_usd")}
                  for p in out["prices"]}
        out["prices"] = [prices[s] for s in vocab.SERVICES.slugs if s in prices]
    return out


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"old": ..., "new": ...}}`` for each field of ``new`` that differs from ``old``."""
    return {k: {"old": old.get(k), "new": new[k]} for k in FIELDS if k in new and not same(old.get(k), new[k])}


def same(a: Any, b: Any) -> bool:
    """Equal as JSON text, keys sorted (a date compares as its ISO text)."""
    return _norm(a) == _norm(b)


def _norm(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def apply(session: Session, clinic: Clinic, values: Mapping[str, Any], today: date) -> None:
    """Write snapshot values onto the clinic, keeping as-of dates of what did not change."""
    # No autoflush half-way: one UPDATE of the row, so one version step per change.
    with session.no_autoflush:
        _apply_values(session, clinic, values, today)


def _apply_values(session: Session, clinic: Clinic, values: Mapping[str, Any], today: date) -> None:
    for key, value in values.items():
        if key == "insurance":
            old = {_row_key(r.carrier, r.service, r.plan_types, r.network): r for r in clinic.insurance}
            rows = []
            for item in value:
                kept = old.get(_row_key(item["carrier"], item["service"], item["plan_types"], item["network"]))
                if kept is None:
                    kept = ClinicInsurance(carrier=item["carrier"], service=item["service"],
                                           network=item["network"], as_of=today)
                    kept.plan_types = item["plan_types"]
                rows.append(kept)
            clinic.insurance = rows
        elif key == "prices":
            old_prices = {p.service: p for p in clinic.prices}
            prices = []
            for item in value:
                row = old_prices.get(item["service"])
                if row is None or (row.min_usd, row.max_usd) != (item["min_usd"], item["max_usd"]):
                    row = row or ClinicPrice(service=item["service"])
                    row.min_usd, row.max_usd, row.as_of = item["min_usd"], item["max_usd"], today
                prices.append(row)
            clinic.prices = prices
        elif key == "accepting_new_patients":
            if clinic.accepting_new_patients != value or clinic.accepting_as_of is None:
                clinic.accepting_as_of = today if value is not None else None
            clinic.accepting_new_patients = value
        elif key in LANGUAGE_FIELDS:
            if not same(getattr(clinic, key), value):
                setattr(clinic, key, value)
                clinic.languages_as_of = today
        elif key == "zip":
            clinic.zip = value
            clinic.timezone = geo.timezone_for_zip(session, value)
        else:
            setattr(clinic, key, value)


def _row_key(carrier, service, plan_types, network) -> tuple:
    return (carrier, service, tuple(plan_types), network)
