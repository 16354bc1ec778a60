"""The flat CSV: one row per clinic, for people who edit in a spreadsheet (header in docs/HSDS.md).

A clinic → its row (exports), a row → a clinic record (imports), and the reader of a flat file.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from .. import vocab
from ..formats import iso_date, iso_exact, national_phone
from ..hsds.ids import ID_PATTERN
from ..listings.rules import LIST_FIELDS, insurance_key
from ..models import Clinic
from .common import format_number, parse_date, parse_datetime
from .records import ClinicRecord, Item, RecordProblems
from .textfiles import csv_header, csv_rows, is_broken

HEADER = (
    "id", "slug", "name", "description", "street", "city", "state", "zip", "lat", "lon", "phone", "website",
    "email", "hours", "hours_note", "methods", "settings", "at_home_states", "conditions", "therapy",
    "therapy_extras", "offers_evaluation", "accepting_new_patients", "accepting_as_of", "sliding_scale",
    "financing", "superbill", "hsa_fsa", "prescriber_types", "therapist_licenses", "rems_certified",
    "vital_signs_monitoring", "medical_screening", "npi", "insurance", "prices", "sample", "created_at",
    "verified_at", "confirmed_at", "updated_at",
    # Issue 19, added at the end so older files and readers keep their columns.
    "languages", "interpreter_services", "interpreter_languages", "languages_as_of",
)
#: Columns a file must have (``listing_rules`` requires a value in each of them too).
REQUIRED = ("name", "street", "city", "state", "zip", "phone", "methods", "settings", "therapy")
FLAGS = ("offers_evaluation", "sliding_scale", "financing", "superbill", "hsa_fsa", "rems_certified",
         "vital_signs_monitoring", "medical_screening", "sample", "interpreter_services")
DATETIMES = ("created_at", "verified_at", "confirmed_at", "updated_at")
HOURS_ITEM = re.compile(r"^([a-z]{2})\s+(\d{2}:\d{2})\s*-\s*(\d{2}:\d{2})$", re.ASCII)
PRICE_ITEM = re.compile(r"([a-z-]+):([0-9]*)-([0-9]*):([0-9-]*)", re.ASCII)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def clinic_row(clinic: Clinic) -> dict[str, str]:
    """The flat row of a clinic (cells not yet escaped). Insurance rows and prices are in the order
    the listing rules keep them, so a listing reads the same however its rows were stored."""
    rows = sorted(clinic.insurance, key=lambda r: insurance_key(
        {"carrier": r.carrier, "service": r.service, "plan_types": r.plan_types, "network": r.network}))
    insurance = "; ".join(
        f"{r.service}:{r.carrier}:{r.network}:{','.join(r.plan_types)}:{iso_date(r.as_of) or ''}"
        for r in rows)
    prices = "; ".join(
        f"{p.service}:{'' if p.min_usd is None else p.min_usd}-{'' if p.max_usd is None else p.max_usd}:"
        f"{iso_date(p.as_of) or ''}"
        for p in sorted(clinic.prices, key=lambda p: vocab.SERVICES.slugs.index(p.service)))
    row = {
        "id": clinic.id, "slug": clinic.slug or "", "name": clinic.name, "description": clinic.description or "",
        "street": clinic.street or "", "city": clinic.city or "", "state": clinic.state or "", "zip": clinic.zip or "",
        "lat": format_number(clinic.lat) if clinic.lat is not None else "",
        "lon": format_number(clinic.lon) if clinic.lon is not None else "",
        "phone": national_phone(clinic.phone) or "", "website": clinic.website or "", "email": clinic.email or "",
        "hours": "; ".join(f"{h['day']} {h['opens']}-{h['closes']}" for h in clinic.hours or []),
        "hours_note": clinic.hours_note or "",
        "therapy": clinic.therapy or "",
        "accepting_new_patients": "" if clinic.accepting_new_patients is None else _flag(clinic.accepting_new_patients),
        "accepting_as_of": iso_date(clinic.accepting_as_of) or "",
        "languages_as_of": iso_date(clinic.languages_as_of) or "",
        "npi": clinic.npi or "", "insurance": insurance, "prices": prices,
    }
    for name in LIST_FIELDS:
        row[name] = ";".join(getattr(clinic, name))
    for name in FLAGS:
        row[name] = _flag(getattr(clinic, name))
    for name in DATETIMES:
        row[name] = iso_exact(getattr(clinic, name)) or ""
    return {k: row[k] for k in HEADER}


def record_from_row(row: dict[str, str], report: RecordProblems) -> ClinicRecord:
    """A clinic record from a flat row: the cells read into the values the listing rules check
    (``records.finish``). Problems of the format itself go to ``report`` (field = the column)."""
    values: dict[str, Any] = {}

    def text(name: str) -> str:
        return (row.get(name) or "").strip()

    if text("id"):
        if not ID_PATTERN.match(text("id")):
            report.add("id", f"‘{text('id')}’ is not a UUID")
        values["id"] = text("id").lower()
    values["slug"] = text("slug") or None
    for name in ("name", "description", "street", "city", "state", "zip", "lat", "lon", "phone", "website",
                 "email", "hours_note", "npi", "therapy"):
        values[name] = row.get(name) or ""
    for name in LIST_FIELDS:
        values[name] = [s.strip() for s in text(name).split(";") if s.strip()]
    for name in FLAGS:
        values[name] = _parse_flag(text(name), name, report) or False
    values["accepting_new_patients"] = _parse_flag(text("accepting_new_patients"), "accepting_new_patients", report)
    values["accepting_as_of"] = _date(text("accepting_as_of"), "accepting_as_of", report)
    values["languages_as_of"] = _date(text("languages_as_of"), "languages_as_of", report)
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
        insurance.append({"service": service, "carrier": carrier, "network": network,
                          "plan_types": [p.strip() for p in plans.split(",") if p.strip()],
                          "as_of": _date(as_of, "insurance", report)})
    prices = []
    for item in [p.strip() for p in text("prices").split(";") if p.strip()]:
        m = PRICE_ITEM.fullmatch(item)
        if not m:
            report.add("prices", f"‘{item}’ is not like ‘service:min-max:as_of’")
            continue
        prices.append({"service": m.group(1), "min_usd": m.group(2), "max_usd": m.group(3),
                       "as_of": _date(m.group(4), "prices", report)})
    return ClinicRecord(values=values, insurance=insurance, prices=prices)


def read_items(path: Path) -> Iterator[Item]:
    """The records of a flat CSV file, read as they are needed."""
    name = path.name
    _header, problems = csv_header(path, name, REQUIRED)
    if problems:
        yield None, problems, None
        return
    for line, row, problem in csv_rows(path, name):
        if problem:
            yield None, [problem], None
            if is_broken(problem):
                return
            continue
        assert row is not None

        def locate(_pointer: str | None, line: int = line) -> str:
            return f"{name} line {line}"

        report = RecordProblems(locate)
        record = record_from_row(row, report)
        record.values["_where"] = locate(None)
        record.locate = locate
        yield record, report.items, None


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
