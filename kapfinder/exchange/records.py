"""One imported clinic as plain values, checked by the listing rules the owner's form uses."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..listings import rules
from .. import vocab
from ..models import GazetteerZip
from .common import Problem, Skipped

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", re.ASCII)
SLUG_LIMIT = 220


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
    """ZIP look-ups for one import. The first few ZIPs are read one by one (a small file stays quick);
    after that every ZIP is read in one query (about 40,000 small rows, a few MB), so a large import
    makes no query per record."""

    ONE_BY_ONE = 50

    def __init__(self, session: Session):
        self.session = session
        self._zips: dict[str, tuple[str, str | None, float, float]] | None = None
        self._few: dict[str, tuple[str, str | None, float, float] | None] = {}

    def get(self, zip5: str) -> tuple[str, str | None, float, float] | None:
        columns = (GazetteerZip.state, GazetteerZip.timezone, GazetteerZip.lat, GazetteerZip.lon)
        if self._zips is None:
            if zip5 in self._few:
                return self._few[zip5]
            if len(self._few) < self.ONE_BY_ONE:
                row = self.session.execute(select(*columns).where(GazetteerZip.zip == zip5)).first()
                self._few[zip5] = found = None if row is None else tuple(row)  # type: ignore[assignment]
                return found
            self._zips = {row[0]: tuple(row[1:]) for row in self.session.execute(  # type: ignore[misc]
                select(GazetteerZip.zip, *columns))}
        return self._zips.get(zip5)

    def state(self, zip5: str) -> str | None:
        found = self.get(zip5)
        return None if found is None else found[0]


def finish(record: ClinicRecord, problems: RecordProblems, gazetteer: Gazetteer) -> None:
    """Check a record with the owner's form's rules (``listing_rules``), then fill in what an import
    derives: the time zone and, when the file gives no coordinates, the ZIP code's centroid.

    The record's listing values are replaced by the normalised ones the form would store (E.164
    phone, website and email as normalised, slugs in vocabulary order, ...); what only an import
    carries (id, slug, dates, as-of dates, the sample mark) is kept when it is valid.
    """
    v = record.values

    def add(name: str, message: str) -> None:
        problems.add(name, message, record.pointers.get(name))

    slug = v.get("slug")
    if slug and (len(slug) > SLUG_LIMIT or not SLUG.match(slug)):
        add("slug", f"‘{slug}’ is not a slug (lower-case letters, digits and single hyphens, "
                    f"at most {SLUG_LIMIT} characters)")
    try:
        clean = rules.check_listing({**v, "insurance": record.insurance, "prices": record.prices}, gazetteer.state)
    except rules.InvalidListing as err:
        for error in err.errors:
            name = "prices" if (error.field or "").startswith("prices-") else error.field
            problems.add(name, rules.describe(error), record.pointers.get(error.field or "")
                         or record.pointers.get(name or ""))
        return
    # The file's as-of dates go with the rows the rules kept (the same row twice is one row).
    def row_key(row: dict[str, Any]) -> tuple:
        plans = tuple(vocab.PLAN_TYPES.ordered(row.get("plan_types") or []))
        return row.get("carrier"), row.get("service"), plans, row.get("network")

    insurance_as_of = {row_key(r): r.get("as_of") for r in record.insurance}
    price_as_of = {p.get("service"): p.get("as_of") for p in record.prices}
    record.insurance = [{**item, "as_of": insurance_as_of.get(row_key(item))} for item in clean.pop("insurance")]
    record.prices = [{**item, "as_of": price_as_of.get(item["service"])} for item in clean.pop("prices")]
    v.update(clean)
    _zip_state, tz, zlat, zlon = gazetteer.get(v["zip"])  # the rules found it
    v["timezone"] = tz
    if v["lat"] is None:  # no coordinates in the file: the ZIP centroid, as the form places it
        v["lat"], v["lon"] = round(zlat, 6), round(zlon, 6)


def match_keys(v: dict[str, Any]) -> tuple[tuple | None, tuple]:
    """(NPI + street + ZIP, name + address): the keys a location is matched on when its id is new."""
    street = " ".join((v.get("street") or "").lower().split())
    npi_key = (v["npi"], street, v.get("zip")) if v.get("npi") else None
    name_key = (" ".join((v.get("name") or "").lower().split()), street,
                " ".join((v.get("city") or "").lower().split()), v.get("state"), v.get("zip"))
    return npi_key, name_key


#: What a format reader yields for each record of the input: the record (None when unreadable),
#: the problems found reading it, and why it is skipped (None when it is not).
Item = tuple[ClinicRecord | None, list[Problem], Skipped | None]
