"""The ``/hsds`` API's list parameters: which each endpoint takes, and how each is checked.

Every parameter is checked for repetition, length and control characters first, then by its own
parser; the first bad one raises (``InvalidParameter`` or ``UnknownLocation``, naming it).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

from ..errors import InvalidParameter, UnknownLocation
from .ids import ID_PATTERN

MAX_VALUE_LENGTH = 200
MAX_PROXIMITY_M = 804_672  # 500 miles
DEFAULT_PROXIMITY_MI = 25
METRES_PER_MILE = 1609.344
#: The allowed range of each whole-number parameter.
COUNT_RANGES = {"page": (1, 10**9), "per_page": (1, 100)}
RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
ZIP_PARAM = re.compile(r"^\d{5}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
COUNT = re.compile(r"[+-]?\d{1,9}")


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
    return _boolean(name, given[0][:MAX_VALUE_LENGTH])[name]


# --- one parser per kind of parameter: (name, value) → the ListQuery fields it sets -----------------

def _boolean(name: str, value: str) -> dict[str, Any]:
    if value not in ("true", "false"):
        raise InvalidParameter(name, "unknown_value", value=value)
    return {name: value == "true"}


def _count(name: str, value: str) -> dict[str, Any]:
    if not COUNT.fullmatch(value):
        raise InvalidParameter(name, "not_a_number")
    number = int(value)
    lo, hi = COUNT_RANGES[name]
    if not lo <= number <= hi:
        raise InvalidParameter(name, "out_of_range", min=lo, max=hi)
    return {name: number}


def _id(name: str, value: str) -> dict[str, Any]:
    if not ID_PATTERN.match(value):
        raise InvalidParameter(name, "unknown_value", value=value)
    return {name: value.lower()}


def _format(name: str, value: str) -> dict[str, Any]:
    if value not in ("json", "ndjson"):
        raise InvalidParameter(name, "unknown_value", value=value)
    return {"ndjson": value == "ndjson"}


def _moment(name: str, value: str) -> dict[str, Any]:
    moment = parse_rfc3339(value)
    if moment is None:
        raise InvalidParameter(name, "unknown_value", value=value)
    return {name: moment}


def _postcode(name: str, value: str) -> dict[str, Any]:
    if not ZIP_PARAM.match(value):
        raise UnknownLocation(value, field="postcode")
    return {name: value}


def _proximity(name: str, value: str) -> dict[str, Any]:
    try:
        metres = float(value)
    except ValueError:
        raise InvalidParameter(name, "not_a_number") from None
    if not math.isfinite(metres) or not 0 < metres <= MAX_PROXIMITY_M:
        raise InvalidParameter(name, "out_of_range", min=0, max=MAX_PROXIMITY_M)
    return {"proximity_m": metres}


def _search(name: str, value: str) -> dict[str, Any]:
    return {name: value.strip().lower() or None}


PARSERS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    **{name: _boolean for name in BOOLEAN_PARAMETERS},
    **{name: _id for name in ID_PARAMETERS},
    **{name: _count for name in COUNT_RANGES},
    "format": _format, "modified_after": _moment, "postcode": _postcode, "proximity": _proximity,
    "search": _search,
}


def _given(allowed: Sequence[str], args: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The one value of each allowed parameter given, in ``allowed`` order, checked as text."""
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
    return values


def parse_list_query(endpoint: str, args: Mapping[str, Sequence[str]]) -> ListQuery:
    """The parameters of one list endpoint, checked; raises InvalidParameter naming the first bad one."""
    out: dict[str, Any] = {}
    for name, value in _given(LIST_PARAMETERS[endpoint], args).items():
        out.update(PARSERS[name](name, value))
    if "proximity_m" in out and "postcode" not in out:
        raise InvalidParameter("postcode", "required")
    return ListQuery(**out)
