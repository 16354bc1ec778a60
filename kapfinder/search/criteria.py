"""What a patient asks for: query parameters checked into ``SearchCriteria``. No Flask here.

The search page, the insurance pages and the JSON API parse with the same ``parse_criteria``, so they
refuse exactly the same values; every bad parameter is reported, the API answering with the first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence, TypeVar

from .. import vocab
from ..errors import InvalidParameter, InvalidParameters

MAX_VALUE_LENGTH = 200
DEFAULT_RADIUS = 25
RADIUS_RANGE = (1, 500)
DEFAULT_PER_PAGE = 20
PER_PAGE_RANGE = (1, 100)
#: Parameters in the order their own values are checked (length, characters, repetition).
PARAMETERS = ("location", "lat", "lon", "radius", "method", "insurance", "plan_type", "service",
              "condition", "language", "setting", "accepting", "sort", "page", "per_page")
REPEATABLE = {"method", "condition", "language"}
API_ONLY = {"lat", "lon", "per_page"}

T = TypeVar("T")


@dataclass(frozen=True)
class SearchCriteria:
    location: str | None = None
    lat: float | None = None
    lon: float | None = None
    radius: int = DEFAULT_RADIUS
    methods: tuple[str, ...] = ()
    insurance: str | None = None
    plan_type: str | None = None
    service: str | None = None
    conditions: tuple[str, ...] = ()
    #: Language codes: a clinic whose staff or interpreter services cover any of them.
    languages: tuple[str, ...] = ()
    setting: str | None = None
    accepting: bool = False
    sort: str | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def has_location(self) -> bool:
        return bool(self.location) or self.lat is not None

    def as_query(self) -> dict[str, Any]:
        """Every normalised parameter, keyed by its public name."""
        return {
            "location": self.location, "lat": self.lat, "lon": self.lon, "radius": self.radius,
            "method": list(self.methods), "insurance": self.insurance, "plan_type": self.plan_type,
            "service": self.service, "condition": list(self.conditions),
            "language": list(self.languages), "setting": self.setting,
            "accepting": self.accepting, "sort": self.sort, "page": self.page, "per_page": self.per_page,
        }

    def to_args(self, **changes: Any) -> list[tuple[str, str]]:
        """(name, value) pairs for a link to this search (page omitted unless changed)."""
        c = replace(self, **changes) if changes else self
        pairs: list[tuple[str, str]] = []
        if c.location:
            pairs.append(("location", c.location))
        if c.lat is not None and c.lon is not None:
            pairs += [("lat", repr(c.lat)), ("lon", repr(c.lon))]
        if c.has_location:
            pairs.append(("radius", str(c.radius)))
        pairs += [("method", m) for m in c.methods]
        for name in ("insurance", "plan_type", "service"):
            if getattr(c, name):
                pairs.append((name, getattr(c, name)))
        pairs += [("condition", s) for s in c.conditions]
        pairs += [("language", s) for s in c.languages]
        if c.setting:
            pairs.append(("setting", c.setting))
        if c.accepting:
            pairs.append(("accepting", "1"))
        if c.sort:
            pairs.append(("sort", c.sort))
        if "page" in changes and c.page != 1:
            pairs.append(("page", str(c.page)))
        if "per_page" in changes or c.per_page != DEFAULT_PER_PAGE:
            pairs.append(("per_page", str(c.per_page)))
        return pairs


class InvalidCriteria(InvalidParameters):
    """Bad search parameters: one error per bad parameter (``errors``), and ``valid``, the criteria
    of the parameters that passed (a page may still check the location it was given)."""

    def __init__(self, errors: list[InvalidParameter], valid: SearchCriteria):
        super().__init__(errors)
        self.valid = valid


# --- single values ----------------------------------------------------------------------------

def _check_value(name: str, value: str) -> None:
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidParameter(name, "too_long", max=MAX_VALUE_LENGTH)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidParameter(name, "control_character")


def _int(name: str, value: str, lo: int, hi: int) -> int:
    text = value.strip()
    if not text.lstrip("+-").isdigit() or not text.isascii():
        raise InvalidParameter(name, "not_a_number", min=lo, max=hi)
    number = int(text)
    if not lo <= number <= hi:
        raise InvalidParameter(name, "out_of_range", min=lo, max=hi)
    return number


def _float(name: str, value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise InvalidParameter(name, "not_a_number") from None
    if not math.isfinite(number):
        raise InvalidParameter(name, "not_a_number")
    return number


def _slug(name: str, value: str, vocabulary: vocab.Vocabulary) -> str:
    slug = value.strip()
    if slug not in vocabulary:
        raise InvalidParameter(name, "unknown_value", value=slug)
    return slug


def _slugs(name: str, values: list[str], vocabulary: vocab.Vocabulary) -> tuple[str, ...]:
    return tuple(vocabulary.ordered(_slug(name, v, vocabulary) for v in values))


def _languages(values: list[str]) -> tuple[str, ...]:
    return _slugs("language", [v.strip().lower() for v in values], vocab.LANGUAGES)


def _coordinates(location: str | None, lat: str | None, lon: str | None) -> tuple[float, float] | None:
    if location is not None and (lat is not None or lon is not None):
        raise InvalidParameter("lat" if lat is not None else "lon", "location_and_coordinates")
    if (lat is None) != (lon is None):
        raise InvalidParameter("lon" if lat is not None else "lat", "lat_and_lon")
    if lat is None or lon is None:
        return None
    point = _float("lat", lat), _float("lon", lon)
    if not -90 <= point[0] <= 90:
        raise InvalidParameter("lat", "coordinates_out_of_range")
    if not -180 <= point[1] <= 180:
        raise InvalidParameter("lon", "coordinates_out_of_range")
    return point


def _accepting(value: str) -> bool:
    if value.strip() not in ("0", "1"):
        raise InvalidParameter("accepting", "unknown_value", value=value)
    return value.strip() == "1"


def _page(value: str) -> int:
    text = value.strip()
    if not text.lstrip("+-").isdigit() or not text.isascii():
        raise InvalidParameter("page", "not_a_number", min=1, max=None)
    return max(1, int(text))


# --- the whole query --------------------------------------------------------------------------

def parse_criteria(args: Mapping[str, Sequence[str]], *, api: bool) -> SearchCriteria:
    """Validate query parameters (a name → list of values mapping) into criteria.

    Raises ``InvalidCriteria`` naming every bad parameter, one error each: first those whose own
    values are bad (too long, control characters, repeated) in ``PARAMETERS`` order, then those
    whose meaning is. A bad parameter counts as absent from then on, so "choose a carrier first" is
    not said about a carrier that was given but bad. As an ``InvalidParameter`` it reads as its
    first error, which the API answers with. Empty values count as absent (a GET form sends empty
    fields); unknown parameter names are ignored.
    """
    errors: list[InvalidParameter] = []

    def checked(check: Callable[..., T], *check_args: Any) -> T | None:
        try:
            return check(*check_args)
        except InvalidParameter as err:
            errors.append(err)
            return None

    values: dict[str, list[str]] = {}
    for name in PARAMETERS:
        if name in API_ONLY and not api:
            continue
        given = list(args.get(name) or [])
        if checked(_check_given, name, given) is not None:
            values[name] = [v for v in given if v.strip()]

    def one(name: str) -> str | None:
        got = values.get(name) or []
        return got[0] if got else None

    def bad(name: str) -> bool:
        return any(err.field == name for err in errors)

    kw: dict[str, Any] = {}
    location = one("location")
    if location is not None:
        kw["location"] = location.strip()
    point = checked(_coordinates, location, one("lat"), one("lon"))
    if point is not None:
        kw["lat"], kw["lon"] = point
    if (radius := one("radius")) is not None:
        kw["radius"] = checked(_int, "radius", radius, *RADIUS_RANGE)
    kw["methods"] = checked(_slugs, "method", values.get("method", []), vocab.METHODS)
    for name, vocabulary in (("insurance", vocab.CARRIERS), ("plan_type", vocab.PLAN_TYPES),
                             ("service", vocab.SERVICES)):
        if (value := one(name)) is not None:
            kw[name] = checked(_slug, name, value, vocabulary)
    for name in ("plan_type", "service"):
        if kw.get(name) and not kw.get("insurance") and not bad("insurance"):
            errors.append(InvalidParameter(name, "requires_insurance"))
    kw["conditions"] = checked(_slugs, "condition", values.get("condition", []), vocab.CONDITIONS)
    kw["languages"] = checked(_languages, values.get("language", []))
    if (setting := one("setting")) is not None:
        kw["setting"] = checked(_slug, "setting", setting, vocab.SETTINGS)
    if (accepting := one("accepting")) is not None:
        kw["accepting"] = checked(_accepting, accepting)
    if (sort := one("sort")) is not None:
        kw["sort"] = checked(_slug, "sort", sort, vocab.SORTS)
    if (page := one("page")) is not None:
        kw["page"] = checked(_page, page)
    if api and (per_page := one("per_page")) is not None:
        kw["per_page"] = checked(_int, "per_page", per_page, *PER_PAGE_RANGE)
    if errors:
        raise InvalidCriteria(errors, SearchCriteria(**{k: v for k, v in kw.items() if v is not None}))
    return SearchCriteria(**kw)


def _check_given(name: str, given: list[str]) -> bool:
    """A parameter's own values: each short enough and printable; one value unless repeatable."""
    for value in given:
        _check_value(name, value)
    if name not in REPEATABLE and len(given) > 1:
        raise InvalidParameter(name, "repeated")
    return True
