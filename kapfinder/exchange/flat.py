"""The flat CSV: one row per clinic, for people who edit in a spreadsheet (header in docs/HSDS.md)."""
from __future__ import annotations

import re
from typing import Any

from .. import hsds, vocab
from ..models import Clinic
from .common import format_number, iso_datetime, parse_date, parse_datetime
from .records import ClinicRecord, RecordProblems

HEADER = (
    "id", "slug", "name", "description", "street", "city", "state", "zip", "lat", "lon", "phone", "website",
    "email", "hours", "hours_note", "methods", "settings", "at_home_states", "conditions", "therapy",
    "therapy_extras", "offers_evaluation", "accepting_new_patients", "accepting_as_of", "sliding_scale",
    "financing", "superbill", "hsa_fsa", "prescriber_types", "therapist_licenses", "rems_certified",
    "vital_signs_monitoring", "medical_screening", "npi", "insurance", "prices", "sample", "created_at",
    "verified_at", "confirmed_at", "updated_at",
)
REQUIRED = ("name", "street", "city", "state", "zip", "methods")
LISTS = {"methods": vocab.METHODS, "settings": vocab.SETTINGS, "at_home_states": vocab.STATES,
         "conditions": vocab.CONDITIONS, "therapy_extras": vocab.THERAPY_EXTRAS,
         "prescriber_types": vocab.PRESCRIBER_TYPES, "therapist_licenses": vocab.THERAPIST_LICENSES}
FLAGS = ("offers_evaluation", "sliding_scale", "financing", "superbill", "hsa_fsa", "rems_certified",
         "vital_signs_monitoring", "medical_screening", "sample")
DATETIMES = ("created_at", "verified_at", "confirmed_at", "updated_at")
HOURS_ITEM = re.compile(r"^(mo|tu|we|th|fr|sa|su)\s+(\d{2}:\d{2})\s*-\s*(\d{2}:\d{2})$")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def clinic_row(clinic: Clinic) -> dict[str, str]:
    """The flat row of a clinic (cells not yet escaped)."""
    insurance = "; ".join(
        f"{r.service}:{r.carrier}:{r.network}:{','.join(r.plan_types)}:{r.as_of.isoformat() if r.as_of else ''}"
        for r in clinic.insurance)
    prices = "; ".join(
        f"{p.service}:{'' if p.min_usd is None else p.min_usd}-{'' if p.max_usd is None else p.max_usd}:"
        f"{p.as_of.isoformat() if p.as_of else ''}" for p in clinic.prices)
    row = {
        "id": clinic.id, "slug": clinic.slug or "", "name": clinic.name, "description": clinic.description or "",
        "street": clinic.street or "", "city": clinic.city or "", "state": clinic.state or "", "zip": clinic.zip or "",
        "lat": format_number(clinic.lat) if clinic.lat is not None else "",
        "lon": format_number(clinic.lon) if clinic.lon is not None else "",
        "phone": hsds.national_phone(clinic.phone) or "", "website": clinic.website or "", "email": clinic.email or "",
        "hours": "; ".join(f"{h['day']} {h['opens']}-{h['closes']}" for h in clinic.hours or []),
        "hours_note": clinic.hours_note or "",
        "therapy": clinic.therapy or "",
        "accepting_new_patients": "" if clinic.accepting_new_patients is None else _flag(clinic.accepting_new_patients),
        "accepting_as_of": clinic.accepting_as_of.isoformat() if clinic.accepting_as_of else "",
        "npi": clinic.npi or "", "insurance": insurance, "prices": prices,
    }
    for name in LISTS:
        row[name] = ";".join(getattr(clinic, name))
    for name in FLAGS:
        row[name] = _flag(getattr(clinic, name))
    for name in DATETIMES:
        row[name] = iso_datetime(getattr(clinic, name))
    return {k: row[k] for k in HEADER}


def record_from_row(row: dict[str, str], report: RecordProblems) -> ClinicRecord | None:
    """A clinic record from a flat row; problems go to ``report`` (field = the column)."""
    values: dict[str, Any] = {}

    def text(name: str) -> str:
        return (row.get(name) or "").strip()

    for name in REQUIRED:
        if not text(name):
            report.add(name, "is required")
    if text("id"):
        if not hsds.ID_PATTERN.match(text("id")):
            report.add("id", f"‘{text('id')}’ is not a UUID")
        values["id"] = text("id").lower()
    for name in ("slug", "name", "street", "city", "website", "email", "hours_note", "npi"):
        values[name] = text(name) or None
    values["description"] = row.get("description") or ""
    values["hours_note"] = row.get("hours_note") or ""
    values["name"] = text("name")
    values["street"], values["city"] = text("street"), text("city")
    values["state"], values["zip"] = text("state").upper(), text("zip")
    for name in ("lat", "lon"):
        if text(name):
            try:
                values[name] = float(text(name))
            except ValueError:
                report.add(name, f"‘{text(name)}’ is not a number")
    values["phone_text"] = text("phone")
    for name, v in LISTS.items():
        slugs = [s.strip() for s in text(name).split(";") if s.strip()]
        if name == "at_home_states":
            slugs = [s.upper() for s in slugs]
        for s in slugs:
            if s not in v:
                report.add(name, f"‘{s}’ is not a {v.title.lower()} slug")
        values[name] = v.ordered(slugs)
    if text("therapy"):
        if text("therapy") not in vocab.THERAPY:
            report.add("therapy", f"‘{text('therapy')}’ is not a care-model slug")
        values["therapy"] = text("therapy")
    else:
        values["therapy"] = None
    for name in FLAGS:
        values[name] = _parse_flag(text(name), name, report) or False
    values["accepting_new_patients"] = _parse_flag(text("accepting_new_patients"), "accepting_new_patients", report)
    values["accepting_as_of"] = _date(text("accepting_as_of"), "accepting_as_of", report)
    for name in DATETIMES:
        if text(name):
            try:
                values[name] = parse_datetime(text(name))
            except ValueError:
                report.add(name, f"‘{text(name)}’ is not an ISO 8601 datetime")
    hours = []
    for item in [p.strip() for p in text("hours").split(";") if p.strip()]:
        m = HOURS_ITEM.match(item.lower())
        if not m:
            report.add("hours", f"‘{item}’ is not like ‘mo 09:00-17:00’")
            continue
        hours.append({"day": m.group(1), "opens": m.group(2), "closes": m.group(3)})
    values["hours"] = hours

    insurance = []
    for item in [p.strip() for p in text("insurance").split(";") if p.strip()]:
        parts = [p.strip() for p in item.split(":")]
        if len(parts) != 5:
            report.add("insurance", f"‘{item}’ is not like ‘service:carrier:network:plan,plan:as_of’")
            continue
        service, carrier, network, plans, as_of = parts
        plan_types = [p.strip() for p in plans.split(",") if p.strip()]
        for slug, v, what in ((service, vocab.SERVICES, "service"), (carrier, vocab.CARRIERS, "insurance"),
                              (network, vocab.NETWORKS, "network")):
            if slug not in v:
                report.add("insurance", f"‘{slug}’ is not a {what} slug")
        for p in plan_types:
            if p not in vocab.PLAN_TYPES:
                report.add("insurance", f"‘{p}’ is not a plan type slug")
        insurance.append({"service": service, "carrier": carrier, "network": network,
                          "plan_types": vocab.PLAN_TYPES.ordered(plan_types),
                          "as_of": _date(as_of, "insurance", report)})
    prices = []
    for item in [p.strip() for p in text("prices").split(";") if p.strip()]:
        m = re.fullmatch(r"([a-z-]+):(\d*)-(\d*):([0-9-]*)", item)
        if not m:
            report.add("prices", f"‘{item}’ is not like ‘service:min-max:as_of’")
            continue
        if m.group(1) not in vocab.SERVICES:
            report.add("prices", f"‘{m.group(1)}’ is not a service slug")
        prices.append({"service": m.group(1), "min_usd": int(m.group(2)) if m.group(2) else None,
                       "max_usd": int(m.group(3)) if m.group(3) else None,
                       "as_of": _date(m.group(4), "prices", report)})
    return ClinicRecord(values=values, insurance=insurance, prices=prices)


def _parse_flag(text: str, name: str, report: RecordProblems) -> bool | None:
    low = text.lower()
    if not low:
        return None
    if low in ("true", "yes", "1"):
        return True
    if low in ("false", "no", "0"):
        return False
    report.add(name, f"‘{text}’ is not true or false")
    return None


def _date(text: str, name: str, report: RecordProblems):
    if not text:
        return None
    try:
        return parse_date(text)
    except ValueError:
        report.add(name, f"‘{text}’ is not a YYYY-MM-DD date")
        return None
