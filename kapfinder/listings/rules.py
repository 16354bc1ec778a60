"""The rules a clinic listing meets, wherever it comes from. No Flask, no database.

The owner's form (``listings.clean_listing``) and every import format (``exchange.records.finish``)
hand the same plain values to :func:`check_listing`, so an import can never store what the form
refuses, and both store the same normalised values. The one fact the rules look up, which state a
ZIP code is in, comes from a function the caller passes: the form reads one gazetteer row, an
import reads them once per file (a few, then all at once).

A problem is an ``InvalidParameter`` naming its field and a code (one per problem, all of them at
once, in :class:`InvalidListing`). Pages translate the code (``messages``, the listing form); an
import report has no request and no locale, so :func:`describe` words it in plain English.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

from .. import vocab
from ..characters import has_control, has_line_control
from ..errors import InvalidParameter, InvalidParameters

LIST_FIELDS = {
    "methods": vocab.METHODS, "settings": vocab.SETTINGS, "conditions": vocab.CONDITIONS,
    "therapy_extras": vocab.THERAPY_EXTRAS, "prescriber_types": vocab.PRESCRIBER_TYPES,
    "therapist_licenses": vocab.THERAPIST_LICENSES, "at_home_states": vocab.STATES,
    "languages": vocab.LANGUAGES, "interpreter_languages": vocab.LANGUAGES,
}
BOOL_FIELDS = ("rems_certified", "vital_signs_monitoring", "medical_screening", "offers_evaluation",
               "sliding_scale", "financing", "superbill", "hsa_fsa", "interpreter_services")
TEXT_LIMITS = {"name": 200, "street": 200, "city": 100, "description": 5000, "hours_note": 500}
MULTILINE_TEXT = ("description", "hours_note")
REQUIRED_TEXT = ("name", "street", "city")
DAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")
MAX_PRICE_USD = 100_000
WEBSITE_LIMIT = 300
PHONE_LIMIT = 50
#: The US and the territories with US numbers (DESIGN.md: a directory of US clinics).
PHONE_REGIONS = frozenset({"US", "PR", "GU", "VI", "AS", "MP"})

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", re.ASCII)
_ZIP = re.compile(r"([0-9]{5})(?:-?[0-9]{4})?", re.ASCII)
_NPI = re.compile(r"[12][0-9]{9}", re.ASCII)

#: A ZIP code's state code, or None for a ZIP the gazetteer does not know.
ZipState = Callable[[str], "str | None"]


class InvalidListing(InvalidParameters):
    """Several fields of a listing are not acceptable; ``errors`` holds one error per problem."""


# --- single values ------------------------------------------------------------------------------

def luhn_check_digit(payload: str) -> str:
    """The Luhn check digit to append to the ASCII digits ``payload``."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # the digit next to the (future) check digit is doubled
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def npi_is_valid(value: str) -> bool:
    """10 ASCII digits starting with 1 or 2 whose Luhn check over ``80840`` + the number holds."""
    return bool(_NPI.fullmatch(value)) and luhn_check_digit("80840" + value[:9]) == value[9]


def validate_npi(value: str, field: str = "npi") -> str:
    value = (value or "").strip()
    if not npi_is_valid(value):
        raise InvalidParameter(field, "invalid_npi", value=value)
    return value


def normalise_phone(value: str, field: str = "phone") -> str:
    """A valid US (or US territory) number, as E.164."""
    import phonenumbers

    text = (value or "").strip()
    if len(text) > PHONE_LIMIT:
        raise InvalidParameter(field, "invalid_phone", value=text)
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        raise InvalidParameter(field, "invalid_phone", value=text) from None
    if not phonenumbers.is_valid_number(number) or phonenumbers.region_code_for_number(number) not in PHONE_REGIONS:
        raise InvalidParameter(field, "invalid_phone", value=text)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_website(value: str, field: str = "website") -> str:
    """An http or https URL with a real host name; a bare host gets ``https://``."""
    value = (value or "").strip()
    given = value

    def refuse() -> InvalidParameter:
        return InvalidParameter(field, "invalid_website", value=given)

    if not value or has_control(value) or any(ch.isspace() for ch in value) or len(value) > WEBSITE_LIMIT:
        raise refuse()
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", value):
        if value.startswith(("/", "\\")):
            raise refuse()
        value = "https://" + value
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise refuse() from None
    if parts.scheme.lower() not in ("http", "https") or not host or parts.username or parts.password:
        raise refuse()
    labels = host.rstrip(".").split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.match(label) for label in labels):
        raise refuse()
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, parts.fragment))


def normalise_email(value: str, field: str = "email") -> str:
    """The address as email-validator normalises it (no DNS look-up)."""
    from email_validator import EmailNotValidError, validate_email

    text = (value or "").strip()
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvalidParameter(field, "invalid_email", value=text) from None


def insurance_key(item: Mapping[str, Any]) -> tuple:
    """The order insurance rows are kept in: carrier, service, plan types, network."""
    return (vocab.CARRIERS.slugs.index(item["carrier"]), vocab.SERVICES.slugs.index(item["service"]),
            vocab.PLAN_TYPES.mask(item["plan_types"]), item["network"])


# --- the whole listing ----------------------------------------------------------------------------

def check_listing(data: Mapping[str, Any], zip_state: ZipState) -> dict[str, Any]:
    """Validate and normalise a listing into a snapshot (coordinates as given, or None).

    ``data`` holds plain values keyed by field name (lists for list fields; ``insurance`` and
    ``prices`` as lists of dicts; text, numbers and flags as the form posts them or as an import
    reads them). Raises :class:`InvalidListing` with every problem found.
    """
    errors: list[InvalidParameter] = []
    out: dict[str, Any] = {}
    for key in ("name", "street", "city", "description", "hours_note"):
        out[key] = _text(data, key, errors)

    state = str(data.get("state") or "").strip().upper()
    if state not in vocab.STATES:
        errors.append(InvalidParameter("state", "required" if not state else "unknown_value", value=state))
    out["state"] = state
    zip_raw = str(data.get("zip") or "").strip()
    match = _ZIP.fullmatch(zip_raw)
    out["zip"] = match.group(1) if match else zip_raw
    if not match:
        errors.append(InvalidParameter("zip", "required" if not zip_raw else "invalid_zip", value=zip_raw))
    else:
        found = zip_state(out["zip"])
        if found is None:
            errors.append(InvalidParameter("zip", "unknown_zip", zip=out["zip"]))
        elif state in vocab.STATES and found != state:
            errors.append(InvalidParameter("zip", "zip_not_in_state", zip=out["zip"], state=state, zip_state=found))

    out["lat"] = _number(data.get("lat"), "lat", errors, low=-90, high=90)
    out["lon"] = _number(data.get("lon"), "lon", errors, low=-180, high=180)
    if (out["lat"] is None) != (out["lon"] is None) and not any(e.field in ("lat", "lon") for e in errors):
        errors.append(InvalidParameter("lat" if out["lat"] is None else "lon", "lat_and_lon"))

    for key, check in (("phone", normalise_phone), ("website", normalise_website), ("email", normalise_email),
                       ("npi", validate_npi)):
        raw = str(data.get(key) or "").strip()
        out[key] = None
        if raw:
            try:
                out[key] = check(raw, key)
            except InvalidParameter as err:
                errors.append(err)
        elif key == "phone":
            errors.append(InvalidParameter("phone", "required"))

    for key, vocabulary in LIST_FIELDS.items():
        out[key] = _slugs(data, key, vocabulary, errors)
    for key in BOOL_FIELDS:
        out[key] = truthy(data.get(key))
    for key in ("methods", "settings"):
        if not out[key] and not _has_error(errors, key):
            errors.append(InvalidParameter(key, "required"))
    if "esketamine-nasal" in out["methods"] and not out["rems_certified"]:
        errors.append(InvalidParameter("rems_certified", "rems_required"))
    # An at-home programme is found by the states it serves; states without the programme are a mistake
    # either way (a forgotten setting, or states a patient would be sent to for nothing).
    if "at-home" in out["settings"]:
        if not out["at_home_states"] and not _has_error(errors, "at_home_states"):
            errors.append(InvalidParameter("at_home_states", "at_home_needs_states"))
    elif out["at_home_states"]:
        errors.append(InvalidParameter("at_home_states", "at_home_states_without_setting"))
    # Languages are only what the owner says (English is never implied); interpreter languages
    # describe the interpreter service, so they need it.
    if out["interpreter_languages"] and not out["interpreter_services"]:
        errors.append(InvalidParameter("interpreter_languages", "interpreter_languages_without_service"))

    therapy = str(data.get("therapy") or "").strip()
    if therapy and therapy not in vocab.THERAPY:
        errors.append(InvalidParameter("therapy", "unknown_value", value=therapy))
    elif not therapy:
        errors.append(InvalidParameter("therapy", "required"))
    out["therapy"] = therapy if therapy in vocab.THERAPY else None

    accepting = data.get("accepting_new_patients")
    out["accepting_new_patients"] = None if accepting in (None, "", "unknown") else truthy(accepting)

    # Which services the listing offers decides which insurance rows and prices mean anything; when
    # the methods or care model are themselves wrong, that is the one problem to report.
    offered = None
    if not any(e.field in ("methods", "therapy") for e in errors):
        offered = set(vocab.services_offered(out["methods"], out["therapy"], out["offers_evaluation"]))
    out["hours"] = _clean_hours(data.get("hours") or [], errors)
    out["insurance"] = _clean_insurance(data.get("insurance") or [], offered, errors)
    out["prices"] = _clean_prices(data.get("prices") or [], offered, errors)
    if errors:
        raise InvalidListing(errors)
    return out


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "y", "yes", "true", "on")
    return bool(value)


def _has_error(errors: list[InvalidParameter], field: str) -> bool:
    return any(e.field == field for e in errors)


def _text(data: Mapping[str, Any], key: str, errors: list) -> str:
    value = data.get(key)
    value = "" if value is None else str(value)
    value = value.strip()
    limit = TEXT_LIMITS[key]
    if key in REQUIRED_TEXT and not value:
        errors.append(InvalidParameter(key, "required"))
    elif len(value) > limit:
        errors.append(InvalidParameter(key, "too_long", max=limit, length=len(value)))
    elif has_control(value) if key in MULTILINE_TEXT else has_line_control(value):
        errors.append(InvalidParameter(key, "control_character"))
    return value


def _slugs(data: Mapping[str, Any], key: str, vocabulary: vocab.Vocabulary, errors: list) -> list[str]:
    raw = data.get(key) or []
    if isinstance(raw, str):
        raw = [raw]
    raw = [str(s).strip() for s in raw]
    if vocabulary is vocab.STATES:
        raw = [s.upper() for s in raw]
    elif vocabulary is vocab.LANGUAGES:
        raw = [s.lower() for s in raw]
    bad = [s for s in raw if s not in vocabulary]
    if bad:
        errors.append(InvalidParameter(key, "unknown_value", value=bad[0]))
    return vocabulary.ordered(raw)


def _number(value: Any, key: str, errors: list, *, low: float, high: float, integer: bool = False):
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    try:
        number = int(text) if integer else float(text)
    except ValueError:
        errors.append(InvalidParameter(key, "not_a_number", value=text))
        return None
    if number != number or not low <= number <= high:  # NaN or out of range
        errors.append(InvalidParameter(key, "out_of_range", min=low, max=high, value=text))
        return None
    return number


def _clean_hours(rows: Iterable[Mapping[str, Any]], errors: list) -> list[dict[str, str]]:
    out = []
    for row in rows:
        day, opens, closes = (str(row.get(k) or "").strip() for k in ("day", "opens", "closes"))
        if not opens and not closes:
            continue  # a day the form left empty
        if day not in DAYS or not _HHMM.match(opens) or not _HHMM.match(closes) or opens >= closes:
            errors.append(InvalidParameter("hours", "invalid_hours", day=day, opens=opens, closes=closes))
            continue
        out.append({"day": day, "opens": opens, "closes": closes})
    out.sort(key=lambda r: (DAYS.index(r["day"]), r["opens"], r["closes"]))
    for before, after in zip(out, out[1:]):
        if before["day"] == after["day"] and after["opens"] < before["closes"]:
            errors.append(InvalidParameter("hours", "hours_overlap", day=after["day"]))
            break
    return out


def _clean_insurance(rows: Iterable[Mapping[str, Any]], offered: set[str] | None,
                     errors: list) -> list[dict[str, Any]]:
    seen: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        carrier, service, network = (str(row.get(k) or "").strip() for k in ("carrier", "service", "network"))
        if not carrier and not network:
            continue  # an empty row of the form
        plan_types = row.get("plan_types") or []
        if isinstance(plan_types, str):
            plan_types = [plan_types]
        plan_types = [str(p).strip() for p in plan_types]
        bad = next(((part, value) for part, value, v in (
            ("carrier", carrier, vocab.CARRIERS), ("service", service, vocab.SERVICES),
            ("network", network, vocab.NETWORKS), *(("plan_type", p, vocab.PLAN_TYPES) for p in plan_types))
            if value not in v), None)
        if bad is not None:
            errors.append(InvalidParameter("insurance", "invalid_insurance", service=service, part=bad[0],
                                           value=bad[1]))
            continue
        if offered is not None and service not in offered:
            errors.append(InvalidParameter("insurance", "service_not_offered", service=service, carrier=carrier))
            continue
        item = {"carrier": carrier, "service": service, "network": network,
                "plan_types": vocab.PLAN_TYPES.ordered(plan_types)}
        key = (carrier, service, tuple(item["plan_types"]))
        if key in seen and seen[key]["network"] != network:
            errors.append(InvalidParameter("insurance", "insurance_conflict", service=service, carrier=carrier))
            continue
        seen[key] = item
    return sorted(seen.values(), key=insurance_key)


def _clean_prices(rows: Iterable[Mapping[str, Any]], offered: set[str] | None,
                  errors: list) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        service = str(row.get("service") or "").strip()
        if service not in vocab.SERVICES:
            errors.append(InvalidParameter("prices", "unknown_value", value=service))
            continue
        field = f"prices-{service}"
        before = len(errors)
        low = _number(row.get("min_usd"), field, errors, low=0, high=MAX_PRICE_USD, integer=True)
        high = _number(row.get("max_usd"), field, errors, low=0, high=MAX_PRICE_USD, integer=True)
        if len(errors) > before:
            continue
        if low is None and high is None:
            continue  # no price given: unknown
        low = high if low is None else low  # a single price is both ends
        high = low if high is None else high
        if low > high:
            errors.append(InvalidParameter(field, "price_min_above_max", service=service, min=low, max=high))
        elif offered is not None and service not in offered:
            errors.append(InvalidParameter(field, "service_not_offered", service=service))
        elif service in out:
            errors.append(InvalidParameter(field, "duplicate_price", service=service))
        else:
            out[service] = {"service": service, "min_usd": low, "max_usd": high}
    return [out[s] for s in vocab.SERVICES.slugs if s in out]


# --- plain English for reports without a request ----------------------------------------------------

_FIELD_NOUNS = {"state": "US state code", "therapy": "care-model slug", "prices": "covered-service slug"}
_PARTS = {"carrier": vocab.CARRIERS, "service": vocab.SERVICES, "network": vocab.NETWORKS,
          "plan_type": vocab.PLAN_TYPES}
#: The problems said the same way whatever the field: their words, filled in from the error's params.
_PLAIN = {
    "too_long": "is longer than {max} characters ({length})",
    "invalid_zip": "‘{value}’ is not a 5-digit ZIP code",
    "unknown_zip": "ZIP {zip} is not a known US ZIP code",
    "zip_not_in_state": "ZIP {zip} is in {zip_state}, not {state}",
    "not_a_number": "‘{value}’ is not a number",
    "lat_and_lon": "latitude and longitude go together: give both or neither",
    "invalid_phone": "‘{value}’ is not a valid US phone number",
    "invalid_website": "‘{value}’ is not an http:// or https:// web address with a real host name",
    "invalid_email": "‘{value}’ is not a valid email address",
    "rems_required": "esketamine-nasal (Spravato) may only be listed by a REMS-certified setting",
    "at_home_needs_states": "the at-home setting needs the states the programme serves",
    "at_home_states_without_setting": "at-home states are given but the setting at-home is not",
    "interpreter_languages_without_service": "interpreter languages are given but interpreter services are not",
    "invalid_hours": "‘{day} {opens}-{closes}’ is not a weekday (mo…su) with HH:MM times, closing after opening",
    "hours_overlap": "two opening times on {day} overlap",
    "insurance_conflict": "{carrier} for {service} is given as both in-network and out-of-network "
                          "for the same plan types",
    "price_min_above_max": "the {service} price range {min}-{max} is reversed",
    "duplicate_price": "the {service} price is given more than once",
}


class _Params(dict):
    """An error's params for ``str.format_map``: a missing one reads as None."""

    def __missing__(self, key: str) -> None:
        return None


def describe(err: InvalidParameter) -> str:
    """A listing error in plain English, for an import report (the field is printed beside it)."""
    p, reason, field = err.params, err.reason, err.field or ""
    value = p.get("value", "")
    service = p.get("service", "")
    if reason in _PLAIN:
        return _PLAIN[reason].format_map(_Params(p, value=value, service=service))
    if reason == "required":
        return {"methods": "at least one administration method is required",
                "settings": "at least one setting (in-clinic, at-home) is required",
                "therapy": "a care model is required"}.get(field, "is required")
    if reason == "control_character":
        if field in MULTILINE_TEXT:
            return "holds a control character (only tabs and line breaks may appear in it)"
        return "holds a control character or a line break"
    if reason == "unknown_value":
        if field == "at_home_states":
            noun = "US state code"
        elif field in ("languages", "interpreter_languages"):
            noun = "known language code (ISO 639-1, or ase for ASL)"
        elif field in LIST_FIELDS:
            noun = f"{LIST_FIELDS[field].title.lower()} slug"
        else:
            noun = _FIELD_NOUNS.get(field, "known value")
        return _not_a(value, noun)
    if reason == "out_of_range":
        if field in ("lat", "lon"):
            name = "latitude" if field == "lat" else "longitude"
            return f"{name} {_number_text(value)} is not between {p.get('min')} and {p.get('max')}"
        return f"the {field.removeprefix('prices-')} price {value} is not a whole number of dollars " \
               f"from {p.get('min')} to {p.get('max')}"
    if reason == "invalid_npi":
        if _NPI.fullmatch(value):
            return f"NPI {value} fails its check digit (Luhn over 80840 + the number)"
        return f"‘{value}’ is not an NPI (10 digits starting with 1 or 2)"
    if reason == "invalid_insurance":
        part = p.get("part", "")
        if not value:
            return f"an insurance row has no {part.replace('_', ' ')}"
        return _not_a(value, f"{_PARTS[part].title.lower()} slug" if part in _PARTS else "known value")
    if reason == "service_not_offered":
        what = f"{p.get('carrier')} insurance" if field == "insurance" else "a price"
        return f"{what} is given for {service}, a service this listing does not offer " \
               "(its methods, care model and evaluation flag decide that)"
    return f"is not valid ({reason})"


def _not_a(value: Any, noun: str) -> str:
    return f"‘{value}’ is not {_article(noun)} {noun}"


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeio" else "a"  # "a US state code"


def _number_text(text: Any) -> str:
    try:
        return f"{float(text):g}"
    except (TypeError, ValueError):
        return str(text)
