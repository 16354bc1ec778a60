"""How dates, times, phones and clinic addresses on the web are written, once.

Flask-free: the JSON API, HSDS documents, the exports, e-mails and templates all format through
these functions, so a date never reads one way in the API and another in the CSV.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone

def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:  # stored datetimes are UTC; a naive one can only mean UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def iso_seconds(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with ``Z``, to the second (``2025-01-31T14:05:00Z``): the JSON API's form."""
    if value is None:
        return None
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_exact(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with ``Z``, with microseconds when there are any: what an export must keep
    so that a re-import restores the same instant."""
    if value is None:
        return None
    value = _utc(value)
    return value.isoformat(timespec="microseconds" if value.microsecond else "seconds").replace("+00:00", "Z")


def iso_date(value: date | datetime | None) -> str | None:
    """``2025-01-31``; a datetime gives its (UTC) date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc(value).date().isoformat()
    return value.isoformat()


_NANP = re.compile(r"\+1(\d{3})(\d{3})(\d{4})")


def national_phone(e164: str | None) -> str | None:
    """``+15125550100`` → ``(512) 555-0100``; any other number as stored."""
    if not e164:
        return None
    m = _NANP.fullmatch(e164)
    return f"({m.group(1)}) {m.group(2)}-{m.group(3)}" if m else e164


def tel_href(e164: str | None) -> str:
    return "tel:" + "".join(ch for ch in (e164 or "") if ch.isdigit() or ch == "+")


def clinic_url(base_url: str, slug: str | None) -> str | None:
    """A clinic's public page, from the configured base URL (never from a request's Host)."""
    return f"{base_url.rstrip('/')}/clinics/{slug}" if slug else None
