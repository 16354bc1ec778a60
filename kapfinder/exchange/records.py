"""One imported clinic as plain values, and the checks every format shares."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import vocab
from ..models import GazetteerZip
from ..sample import npi_is_valid
from .common import Problem

MAX_LENGTHS = {"name": 200, "street": 200, "city": 100, "website": 300, "email": 254, "slug": 220}
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class RecordProblems:
    """Problems of one record; ``locate`` turns a JSON pointer (or None) into "file line N" / "file#/ptr"."""

    def __init__(self, locate: Callable[[str | None], str]):
        self.locate = locate
        self.items: list[Problem] = []

    def add(self, field_name: str | None, message: str, pointer: str | None = None) -> None:
        self.items.append(Problem(self.locate(pointer), field_name, message))

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass
class ClinicRecord:
    values: dict[str, Any]
    insurance: list[dict[str, Any]] = field(default_factory=list)
    prices: list[dict[str, Any]] = field(default_factory=list)
    #: Where each field came from (a JSON pointer), for problem reports of HSDS documents.
    pointers: dict[str, str] = field(default_factory=dict)
    #: Turns a pointer (or None) into "file line N" or "file#/pointer".
    locate: Callable[[str | None], str] | None = None

    @property
    def id(self) -> str | None:
        return self.values.get("id")


class Gazetteer:
    """ZIP look-ups for one import: the first look-up reads every ZIP in one query (about 40,000
    small rows, a few MB), so a large import makes no query per record."""

    def __init__(self, session: Session):
        self.session = session
        self._zips: dict[str, tuple[str, str | None, float, float]] | None = None

    def get(self, zip5: str) -> tuple[str, str | None, float, float] | None:
        if self._zips is None:
            self._zips = {row[0]: tuple(row[1:]) for row in self.session.execute(select(  # type: ignore[misc]
                GazetteerZip.zip, GazetteerZip.state, GazetteerZip.timezone, GazetteerZip.lat, GazetteerZip.lon))}
        return self._zips.get(zip5)


def finish(record: ClinicRecord, problems: RecordProblems, gazetteer: Gazetteer) -> None:
    """Check a record's values and fill in what is derived (time zone, E.164 phone, coordinates)."""
    v = record.values

    def add(name: str, message: str) -> None:
        problems.add(name, message, record.pointers.get(name))

    for name, limit in MAX_LENGTHS.items():
        if v.get(name) and len(v[name]) > limit:
            add(name, f"is longer than {limit} characters")
    if not (v.get("name") or "").strip():
        add("name", "is required")
    if not v.get("methods"):
        add("methods", "at least one administration method is required")
    state = (v.get("state") or "").upper()
    v["state"] = state
    if state not in vocab.STATES:
        add("state", f"‘{state}’ is not a US state code")
    zip5 = (v.get("zip") or "").strip()[:10]
    if re.fullmatch(r"\d{5}(-\d{4})?", zip5):
        zip5 = zip5[:5]
        v["zip"] = zip5
        found = gazetteer.get(zip5)
        if found is None:
            add("zip", f"ZIP {zip5} is not a known US ZIP code")
        else:
            zip_state, tz, zlat, zlon = found
            v["timezone"] = tz
            if state in vocab.STATES and zip_state != state:
                add("zip", f"ZIP {zip5} is in {zip_state}, not {state}")
            if v.get("lat") is None and v.get("lon") is None:
                v["lat"], v["lon"] = zlat, zlon
    else:
        add("zip", f"‘{zip5}’ is not a 5-digit ZIP code")
    lat, lon = v.get("lat"), v.get("lon")
    if lat is None or lon is None:
        add("lat", "latitude and longitude are both required")
    else:
        if not (math.isfinite(lat) and -90 <= lat <= 90):
            add("lat", f"latitude {lat:g} is not between -90 and 90")
        if not (math.isfinite(lon) and -180 <= lon <= 180):
            add("lon", f"longitude {lon:g} is not between -180 and 180")
    email = v.get("email")
    if email and not _email_ok(email):
        add("email", f"‘{email}’ is not a valid email address")
    npi = v.get("npi")
    if npi and not npi_is_valid(npi):
        add("npi", f"NPI {npi} fails its check digit (10 digits starting 1 or 2, Luhn over 80840)")
    phone = v.pop("phone_text", None)
    if phone:
        try:
            parsed = phonenumbers.parse(phone, "US")
            if not phonenumbers.is_valid_number(parsed):
                raise phonenumbers.NumberParseException(0, "invalid")
            v["phone"] = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            add("phone", f"‘{phone}’ is not a valid phone number")
    else:
        v["phone"] = None
    for entry in v.get("hours") or []:
        if not (TIME.match(entry["opens"]) and TIME.match(entry["closes"])):
            add("hours", f"‘{entry['opens']}-{entry['closes']}’ is not a time range like 09:00-17:00")
    if "esketamine-nasal" in (v.get("methods") or []) and not v.get("rems_certified"):
        add("methods", "esketamine-nasal (Spravato) needs a REMS-certified setting")
    for price in record.prices:
        lo, hi = price.get("min_usd"), price.get("max_usd")
        if lo is not None and hi is not None and lo > hi:
            add("prices", f"the {price['service']} price range {lo}-{hi} is reversed")
    if v.get("at_home_states") and "at-home" not in (v.get("settings") or []):
        add("at_home_states", "at-home states are given but the setting at-home is not")


def _email_ok(email: str) -> bool:
    """The address as kapfinder's own forms accept it (stored as given, not normalised)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def match_keys(v: dict[str, Any]) -> tuple[tuple | None, tuple]:
    """(NPI + street + ZIP, name + address): the keys a location is matched on when its id is new."""
    street = " ".join((v.get("street") or "").lower().split())
    npi_key = (v["npi"], street, v.get("zip")) if v.get("npi") else None
    name_key = (" ".join((v.get("name") or "").lower().split()), street,
                " ".join((v.get("city") or "").lower().split()), v.get("state"), v.get("zip"))
    return npi_key, name_key
