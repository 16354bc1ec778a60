"""The owner's listing form, saved step by step as a draft. No Flask here.

A listing is filled in over five steps (``STEPS``); each step's Save stores what the owner typed in
a ``ListingDraft``, valid or not, so leaving half-way loses nothing, and checks only that step's
fields: the whole-listing validator (``listings.clean_listing``) runs on the merged draft and only
the errors of that step's fields are kept. The last step checks everything and submits through
``listings.create_listing`` or ``listings.edit_listing``, so every listing rule holds as before (a
new listing waits for a moderator; moderated fields of a published listing wait in one revision).

A draft of an edit remembers the version and the values it started from. Submitting it from an
older version is a ``Conflict`` and changes nothing; ``rebase`` puts the owner's own changes on top
of the listing as it is now, for the owner to check before submitting again.

*Form values* are what the owner typed, keyed by ``listings.FIELDS``:

* text fields, ``lat`` and ``lon``: strings (``lat``/``lon`` of an existing listing as the exact
  ``repr`` of the stored float, so an unchanged position stays exactly the same);
* list fields: lists of slugs; yes/no fields: booleans; ``accepting_new_patients``: True/False/None;
* ``hours``: one row per day of the week, in ``DAYS`` order (empty times: closed), then extra rows
  (a second opening the same day); ``prices``: one row per service with ``min_usd``/``max_usd``
  strings; ``insurance``: the rows as shown, empty ones included.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import geo, vocab
from ..db import write_transaction
from ..errors import Conflict, InvalidParameter, NotFound
from ..models import Clinic, ListingDraft, Status, utcnow
from .editing import create_listing, edit_listing, form_values, owned_listing
from .rules import BOOL_FIELDS, DAYS, InvalidListing
from .rules import LIST_FIELDS as LIST_VOCABULARIES
from .snapshots import FIELDS, clean_listing, same

STEPS = ("basics", "care", "prices", "safety", "review")
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "basics": ("name", "description", "street", "city", "state", "zip", "phone", "website", "email"),
    "care": ("methods", "settings", "at_home_states", "conditions", "therapy", "therapy_extras",
             "offers_evaluation", "accepting_new_patients", "languages", "interpreter_services",
             "interpreter_languages"),
    "prices": ("prices", "sliding_scale", "financing", "superbill", "hsa_fsa", "insurance"),
    "safety": ("npi", "prescriber_types", "therapist_licenses", "rems_certified", "vital_signs_monitoring",
               "medical_screening", "hours", "hours_note"),
    "review": ("lat", "lon"),
}
ADDRESS_FIELDS = ("street", "city", "state", "zip")
TEXT_FIELDS = ("name", "description", "street", "city", "state", "zip", "lat", "lon", "phone", "website", "email",
               "npi", "therapy", "hours_note")
LIST_FIELDS = tuple(LIST_VOCABULARIES)
#: Enough for every carrier × service with a few plan-type splits; a bound on what one POST can make.
MAX_INSURANCE_ROWS = 80
MAX_EXTRA_HOURS = 14

assert set(FIELDS) == {f for fields in STEP_FIELDS.values() for f in fields}, \
    "every listing field belongs to exactly one step"


def step_of(field: str | None) -> str:
    """The step that shows ``field`` (an error's field); anything unknown is shown on the review step."""
    if field and field.startswith("prices-"):
        return "prices"
    for step, fields in STEP_FIELDS.items():
        if field in fields:
            return step
    return "review"


def next_step(step: str) -> str:
    return STEPS[min(STEPS.index(step) + 1, len(STEPS) - 1)]


def previous_step(step: str) -> str:
    return STEPS[max(STEPS.index(step) - 1, 0)]


# --- form values --------------------------------------------------------------------------------

def blank_hours() -> list[dict[str, str]]:
    return [{"day": day, "opens": "", "closes": ""} for day in DAYS]


def blank_insurance_row() -> dict[str, Any]:
    return {"carrier": "", "service": "", "network": "", "plan_types": []}


def blank_values() -> dict[str, Any]:
    """A new listing before the owner typed anything (one empty insurance row to fill in)."""
    values: dict[str, Any] = {key: "" for key in TEXT_FIELDS}
    values.update({key: [] for key in LIST_FIELDS})
    values.update({key: False for key in BOOL_FIELDS})
    values["accepting_new_patients"] = None
    values["hours"] = blank_hours()
    values["prices"] = [{"service": s, "min_usd": "", "max_usd": ""} for s in vocab.SERVICES.slugs]
    values["insurance"] = [blank_insurance_row()]
    return values


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def values_from_listing(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """A listing's snapshot (``listings.form_values``) as form values."""
    values = blank_values()
    for key in TEXT_FIELDS:
        if key in ("lat", "lon"):
            values[key] = "" if snapshot.get(key) is None else repr(float(snapshot[key]))
        else:
            values[key] = _str(snapshot.get(key))
    for key in LIST_FIELDS:
        values[key] = list(snapshot.get(key) or [])
    for key in BOOL_FIELDS:
        values[key] = bool(snapshot.get(key))
    values["accepting_new_patients"] = snapshot.get("accepting_new_patients")
    week: dict[str, dict[str, str]] = {}
    extra = []
    for row in snapshot.get("hours") or []:
        row = {"day": _str(row.get("day")), "opens": _str(row.get("opens")), "closes": _str(row.get("closes"))}
        if row["day"] in DAYS and row["day"] not in week:
            week[row["day"]] = row
        else:
            extra.append(row)
    values["hours"] = [week.get(day, {"day": day, "opens": "", "closes": ""}) for day in DAYS] + extra
    prices = {p.get("service"): p for p in snapshot.get("prices") or []}
    values["prices"] = [{"service": s, "min_usd": _str(prices.get(s, {}).get("min_usd")),
                         "max_usd": _str(prices.get(s, {}).get("max_usd"))} for s in vocab.SERVICES.slugs]
    values["insurance"] = [{"carrier": _str(r.get("carrier")), "service": _str(r.get("service")),
                            "network": _str(r.get("network")), "plan_types": list(r.get("plan_types") or [])}
                           for r in snapshot.get("insurance") or []]
    return values


def normalise(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Form values in their full shape, whatever was stored or posted (missing keys are blank)."""
    raw = raw or {}
    values = blank_values()
    for key in TEXT_FIELDS:
        if key in raw:
            values[key] = _str(raw[key])
    for key in LIST_FIELDS:
        if key in raw:
            items = raw[key] if isinstance(raw[key], list) else [raw[key]]
            values[key] = [_str(v) for v in items]
    for key in BOOL_FIELDS:
        if key in raw:
            values[key] = bool(raw[key])
    if raw.get("accepting_new_patients") in (True, False):
        values["accepting_new_patients"] = raw["accepting_new_patients"]
    if "hours" in raw:
        rows = [r for r in raw["hours"] or [] if isinstance(r, Mapping)]
        week = {day: {"day": day, "opens": "", "closes": ""} for day in DAYS}
        for row, day in zip(rows[:len(DAYS)], DAYS):
            week[day] = {"day": day, "opens": _str(row.get("opens")), "closes": _str(row.get("closes"))}
        extra = [{"day": _str(r.get("day")), "opens": _str(r.get("opens")), "closes": _str(r.get("closes"))}
                 for r in rows[len(DAYS):len(DAYS) + MAX_EXTRA_HOURS]]
        values["hours"] = [week[day] for day in DAYS] + extra
    if "prices" in raw:
        given = {r.get("service"): r for r in raw["prices"] or [] if isinstance(r, Mapping)}
        values["prices"] = [{"service": s, "min_usd": _str(given.get(s, {}).get("min_usd")),
                             "max_usd": _str(given.get(s, {}).get("max_usd"))} for s in vocab.SERVICES.slugs]
    if "insurance" in raw:
        values["insurance"] = [
            {"carrier": _str(r.get("carrier")), "service": _str(r.get("service")), "network": _str(r.get("network")),
             "plan_types": [_str(p) for p in r.get("plan_types") or []]}
            for r in (raw["insurance"] or [])[:MAX_INSURANCE_ROWS] if isinstance(r, Mapping)]
    return values


def listing_data(values: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as ``listings.clean_listing`` reads them."""
    return normalise(values)


def merge(values: Mapping[str, Any], base: Mapping[str, Any] | None, step: str,
          submitted: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with this step's fields replaced by ``submitted``.

    A map-position correction belongs to the address it was made for: a changed address drops it
    (a new listing is placed from the new address; an edit goes back to the listing's position,
    which ``listings.edit_listing`` re-places from the moved address).
    """
    merged = normalise(values)
    given = normalise({k: v for k, v in submitted.items() if k in STEP_FIELDS[step]})
    for key in STEP_FIELDS[step]:
        if key in submitted:
            merged[key] = given[key]
    if step == "basics" and any(not same(merged[k], values.get(k)) for k in ADDRESS_FIELDS):
        merged["lat"], merged["lon"] = (base["lat"], base["lon"]) if base else ("", "")
    return merged


def has_correction(values: Mapping[str, Any], base: Mapping[str, Any] | None) -> bool:
    """Did the owner correct the map position (as opposed to leaving it to the address)?"""
    point = (values.get("lat") or "", values.get("lon") or "")
    if base is None:
        return point != ("", "")
    return point != (base.get("lat") or "", base.get("lon") or "")


# --- checking -----------------------------------------------------------------------------------

def errors(session: Session, values: Mapping[str, Any], step: str | None = None) -> list[InvalidParameter]:
    """The listing validator's errors for the whole draft, or only those of ``step``'s fields."""
    try:
        clean_listing(session, listing_data(values))
    except InvalidListing as err:
        found = list(err.errors)
    except InvalidParameter as err:
        found = [err]
    else:
        return []
    if step is None:
        return sorted(found, key=lambda e: STEPS.index(step_of(e.field)))  # in the order of the steps
    return [e for e in found if step_of(e.field) == step]


# --- drafts -------------------------------------------------------------------------------------

@dataclass
class Working:
    """What a step page shows: the draft, or the listing (or a blank one) when there is no draft yet."""
    values: dict[str, Any]
    base: dict[str, Any] | None  # an edit: the listing's values when the draft started
    version: int | None  # an edit: the listing version those values are from
    draft: ListingDraft | None
    clinic: Clinic | None

    @property
    def step(self) -> str:
        return self.draft.step if self.draft is not None and self.draft.step in STEPS else STEPS[0]

    @property
    def behind(self) -> bool:
        """The listing changed since this draft started: submitting it would be refused."""
        return self.clinic is not None and self.version is not None and self.clinic.version != self.version


def find_draft(session: Session, owner_id: int, clinic_id: str | None = None, *,
               for_update: bool = False) -> ListingDraft | None:
    stmt = select(ListingDraft).where(ListingDraft.owner_id == owner_id)
    stmt = stmt.where(ListingDraft.clinic_id.is_(None) if clinic_id is None else ListingDraft.clinic_id == clinic_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def owner_drafts(session: Session, owner_id: int) -> list[ListingDraft]:
    """The owner's drafts, most recently saved first (drafts of archived listings left out)."""
    stmt = (select(ListingDraft).outerjoin(Clinic, Clinic.id == ListingDraft.clinic_id)
            .where(ListingDraft.owner_id == owner_id)
            .where(ListingDraft.clinic_id.is_(None)
                   | ((Clinic.owner_id == owner_id) & (Clinic.status != Status.ARCHIVED)))
            .order_by(ListingDraft.updated_at.desc(), ListingDraft.id.desc()))
    return list(session.scalars(stmt))


def _listing_values(session: Session, clinic: Clinic) -> dict[str, Any]:
    return values_from_listing(form_values(session, clinic))


def working_copy(session: Session, owner_id: int, clinic_id: str | None = None) -> Working:
    """The owner's draft of a new listing (``clinic_id`` None) or of changes to their listing.

    Another owner's listing is ``NotFound``, as is a draft that is not the owner's.
    """
    clinic = owned_listing(session, clinic_id, owner_id) if clinic_id is not None else None
    draft = find_draft(session, owner_id, clinic_id)
    if draft is not None:
        base = normalise(draft.base_data) if clinic is not None else None
        return Working(normalise(draft.data), base, draft.base_version, draft, clinic)
    if clinic is None:
        return Working(blank_values(), None, None, None, None)
    base = _listing_values(session, clinic)
    return Working(normalise(base), base, clinic.version, None, clinic)


def save_step(session: Session, owner_id: int, clinic_id: str | None, step: str, submitted: Mapping[str, Any], *,
              seen_version: int | None = None, continue_at: str | None = None,
              now: datetime | None = None) -> Working:
    """Store this step's values in the owner's draft (made on the first save) and return it.

    ``seen_version`` is the listing version the page was showing (edits only): a page from before
    the draft started, or from another listing version, is a ``Conflict`` and nothing is stored.
    ``continue_at`` is the step the dashboard's "continue" goes to.
    """
    if step not in STEPS:
        raise NotFound("step", "not_found")
    now = now or utcnow()
    for attempt in range(2):
        try:
            with write_transaction(session):
                clinic = owned_listing(session, clinic_id, owner_id) if clinic_id is not None else None
                draft = find_draft(session, owner_id, clinic_id, for_update=True)
                if draft is None:
                    if clinic is not None and seen_version != clinic.version:
                        raise Conflict("version", "conflict")
                    base = _listing_values(session, clinic) if clinic is not None else None
                    draft = ListingDraft(owner_id=owner_id, clinic_id=clinic_id, created_at=now,
                                         base_version=clinic.version if clinic is not None else None, base_data=base,
                                         data=normalise(base) if base is not None else blank_values())
                    session.add(draft)
                elif clinic is not None and seen_version != draft.base_version:
                    raise Conflict("version", "conflict")
                base = normalise(draft.base_data) if clinic is not None else None
                draft.data = merge(normalise(draft.data), base, step, submitted)
                draft.step = continue_at if continue_at in STEPS else step
                draft.updated_at = now
                session.flush()
            break
        except IntegrityError:  # another request made the draft first: save into that one
            if attempt:
                raise
    return working_copy(session, owner_id, clinic_id)


def discard(session: Session, owner_id: int, clinic_id: str | None = None) -> bool:
    """Delete the owner's draft; True if there was one."""
    with write_transaction(session):
        if clinic_id is not None:
            owned_listing(session, clinic_id, owner_id)
        draft = find_draft(session, owner_id, clinic_id, for_update=True)
        if draft is None:
            return False
        session.delete(draft)
    return True


def submit(session: Session, owner_id: int, clinic_id: str | None = None, *, seen_version: int | None = None,
           now: datetime | None = None, geocoder: str = "offline", user_agent: str | None = None):
    """Submit the draft: a new listing (returns the ``Clinic``, pending) or an edit (returns the
    ``listings.EditResult``), then delete the draft. Raises ``InvalidListing`` (nothing stored,
    the draft kept), ``Conflict`` when the listing changed since the draft started."""
    working = working_copy(session, owner_id, clinic_id)
    if working.draft is None:
        raise NotFound("draft", "not_found")
    data = listing_data(working.values)
    if clinic_id is None:
        result = create_listing(session, owner_id, data, now=now, geocoder=geocoder, user_agent=user_agent)
    else:
        if seen_version != working.version:
            raise Conflict("version", "conflict")
        result = edit_listing(session, clinic_id, owner_id, working.version, data, now=now,
                                       geocoder=geocoder, user_agent=user_agent)
    discard(session, owner_id, clinic_id)
    return result


def changed_since(session: Session, working: Working) -> list[str]:
    """Fields of the listing that changed since the draft started (edits only), in ``FIELDS`` order."""
    if working.clinic is None or working.base is None:
        return []
    now_values = _listing_values(session, working.clinic)
    return [k for k in FIELDS if not same(now_values[k], working.base[k])]


@dataclass(frozen=True)
class Rebased:
    kept: list[str]  # the owner's changes, now on top of the current listing
    replaced: list[str]  # of those, fields someone else had changed meanwhile


def rebase(session: Session, owner_id: int, clinic_id: str, *, now: datetime | None = None) -> Rebased:
    """Start the draft afresh from the listing as it is now, keeping the fields the owner changed."""
    now = now or utcnow()
    with write_transaction(session):
        clinic = owned_listing(session, clinic_id, owner_id)
        draft = find_draft(session, owner_id, clinic_id, for_update=True)
        if draft is None:
            raise NotFound("draft", "not_found")
        base, mine = normalise(draft.base_data), normalise(draft.data)
        current = _listing_values(session, clinic)
        kept = [k for k in FIELDS if not same(mine[k], base[k])]
        replaced = [k for k in kept if not same(current[k], base[k])]
        merged = dict(current)
        for key in kept:
            merged[key] = mine[key]
        draft.data, draft.base_data, draft.base_version = merged, current, clinic.version
        draft.updated_at = now
    return Rebased(kept, replaced)


# --- where the listing will show ------------------------------------------------------------------

@dataclass(frozen=True)
class PlacementPreview:
    """Where the review step says the listing will show.

    ``kind``: ``corrected`` (the owner's own position), ``current`` (an edit that keeps its address
    keeps its position), ``zip`` (the ZIP code's centre), ``geocoder`` (the configured geocoder
    places the street address when submitted; the ZIP's centre if it finds nothing) or ``unknown``
    (the ZIP code is missing or unknown: fix the address first).
    """
    kind: str
    lat: float | None = None
    lon: float | None = None
    zip: str = ""
    city: str = ""
    state: str = ""


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None


def preview_placement(session: Session, values: Mapping[str, Any], base: Mapping[str, Any] | None, *,
                      geocoder: str = "offline") -> PlacementPreview:
    """What ``listings.create_listing`` / ``edit_listing`` will do with these values' position."""
    if has_correction(values, base):
        lat, lon = _float(values["lat"]), _float(values["lon"])
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            lat = lon = None  # not a position yet: the review shows the error next to the field
        return PlacementPreview("corrected", lat, lon)
    if base is not None and base.get("lat") and all(same(values[k], base[k]) for k in ADDRESS_FIELDS):
        return PlacementPreview("current", _float(base["lat"]), _float(base["lon"]))
    match = re.fullmatch(r"\s*([0-9]{5})(?:-?[0-9]{4})?\s*", values.get("zip") or "", re.ASCII)
    row = geo.lookup_zip(session, match.group(1)) if match else None
    if row is None:
        return PlacementPreview("unknown")
    kind = "geocoder" if geocoder == "nominatim" else "zip"
    return PlacementPreview(kind, round(row.lat, 6), round(row.lon, 6), row.zip, row.city, row.state)
