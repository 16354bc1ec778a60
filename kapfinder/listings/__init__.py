"""Submitting, editing, claiming, moderating and re-confirming listings. No Flask here.

The services take a SQLAlchemy session and plain values, raise ``kapfinder.errors`` and return
model objects; views, the CLI and tests call them alike. A listing's editable content is handled
as a *snapshot*: a dict of JSON-able values keyed by field name (see ``FIELDS``), which is also
what a pending revision and the audit log store.

Rules (DESIGN.md → Owners and moderation):

* A new listing is ``pending`` until a moderator approves it. Approval publishes it, sets
  ``verified_at`` and ``confirmed_at`` and, on first publication, fixes the slug.
* An edit of a published listing publishes its immediate fields at once and leaves the moderated
  ones (``MODERATED_FIELDS``) in the listing's single pending revision. Every accepted edit bumps
  ``version`` with ``UPDATE ... WHERE version = :expected``; an edit from an older version is
  refused with ``Conflict`` and changes nothing.
* Every change to a listing writes one audit row per field (old, new, who, when).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .. import geo, vocab
from . import rules
from ..db import write_transaction
from ..errors import Conflict, InvalidParameter, NotFound
from .rules import (BOOL_FIELDS, DAYS, LIST_FIELDS, MAX_PRICE_USD, REQUIRED_TEXT,  # noqa: F401
                            TEXT_LIMITS, InvalidListing, normalise_email, normalise_phone, normalise_website,
                            validate_npi)
from ..characters import CONTROL as _CONTROL
from .rules import insurance_key as _insurance_key
from ..models import (AuditLog, Claim, Clinic, ClinicInsurance, ClinicPrice, ListingRevision, ProblemReport,
                     ReminderSent, User, utcnow)

# --- fields -------------------------------------------------------------------------------------

#: Changes to these wait for a moderator once a listing is published.
MODERATED_FIELDS = (
    "name", "street", "city", "state", "zip", "lat", "lon", "phone", "website", "email", "npi",
    "methods", "settings", "at_home_states",
    "prescriber_types", "therapist_licenses", "rems_certified", "vital_signs_monitoring", "medical_screening",
)
#: Changes to these publish at once.
IMMEDIATE_FIELDS = (
    "description", "hours", "hours_note", "conditions", "therapy", "therapy_extras", "offers_evaluation",
    "sliding_scale", "financing", "superbill", "hsa_fsa", "accepting_new_patients", "insurance", "prices",
)
FIELDS = MODERATED_FIELDS + IMMEDIATE_FIELDS
CLAIM_LINK_VALID = timedelta(days=7)
REMIND_FROM = timedelta(days=75)
REMIND_UNTIL = timedelta(days=90)
NOTE_LIMIT = 2000


def _load_reasons() -> vocab.Vocabulary:
    """data/vocab/report_reason.json: why a listing is reported (not a search vocabulary)."""
    raw = json.loads((vocab.VOCAB_DIR / "report_reason.json").read_text(encoding="utf-8"))
    return vocab.Vocabulary(raw["parameter"], raw["title"], (vocab.Term(**item) for item in raw["items"]))


REPORT_REASONS = _load_reasons()


# --- validation ---------------------------------------------------------------------------------
# The rules live in ``listing_rules`` (shared with every import format); these names stay here too.

def clean_listing(session: Session, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise a submitted listing into a snapshot (without coordinates placed).

    ``data`` holds plain values keyed by ``FIELDS`` (lists for list fields; ``insurance`` and
    ``prices`` as lists of dicts). Raises :class:`InvalidListing` with every problem found.
    """
    def zip_state(zip5: str) -> str | None:
        row = geo.lookup_zip(session, zip5)
        return None if row is None else row.state

    return rules.check_listing(data, zip_state)


def website_host(website: str | None) -> str | None:
    """The website's host without a leading ``www.``."""
    if not website:
        return None
    host = (urlsplit(website).hostname or "").rstrip(".").lower()
    return host[4:] if host.startswith("www.") else host or None


def email_matches_website(email: str, website: str | None) -> bool:
    """The email's domain equals the website's host (without ``www.``) or is a parent of it."""
    host = website_host(website)
    domain = email.rsplit("@", 1)[-1].lower().rstrip(".")
    if not host or "." not in domain:
        return False
    return host == domain or host.endswith("." + domain)


# --- snapshots ------------------------------------------------------------------------------------

def snapshot(clinic: Clinic) -> dict[str, Any]:
    """The clinic's editable content as JSON-able values keyed by field name."""
    out: dict[str, Any] = {}
    for key in FIELDS:
        if key == "insurance":
            out[key] = sorted(({"carrier": r.carrier, "service": r.service, "network": r.network,
                                "plan_types": r.plan_types} for r in clinic.insurance), key=_insurance_key)
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


def _apply(session: Session, clinic: Clinic, values: Mapping[str, Any], today: date) -> None:
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
            old = {p.service: p for p in clinic.prices}
            rows = []
            for item in value:
                row = old.get(item["service"])
                if row is None or (row.min_usd, row.max_usd) != (item["min_usd"], item["max_usd"]):
                    row = row or ClinicPrice(service=item["service"])
                    row.min_usd, row.max_usd, row.as_of = item["min_usd"], item["max_usd"], today
                rows.append(row)
            clinic.prices = rows
        elif key == "accepting_new_patients":
            if clinic.accepting_new_patients != value or clinic.accepting_as_of is None:
                clinic.accepting_as_of = today if value is not None else None
            clinic.accepting_new_patients = value
        elif key == "zip":
            clinic.zip = value
            clinic.timezone = geo.timezone_for_zip(session, value)
        else:
            setattr(clinic, key, value)


def _row_key(carrier, service, plan_types, network) -> tuple:
    return (carrier, service, tuple(plan_types), network)


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: {"old": old.get(k), "new": new[k]} for k in FIELDS if k in new and _norm(old.get(k)) != _norm(new[k])}


def _norm(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _audit(session: Session, clinic: Clinic, user_id: int | None, action: str,
           changes: Mapping[str, Mapping[str, Any]], now: datetime) -> None:
    for key, change in changes.items():
        session.add(AuditLog(clinic_id=clinic.id, user_id=user_id, action=action, field=key,
                             old=_jsonable(change.get("old")), new=_jsonable(change.get("new")), created_at=now))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


# --- placement ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placement:
    lat: float
    lon: float
    source: str  # owner | zip | nominatim


def place_address(session: Session, values: Mapping[str, Any], *, geocoder: str = "offline",
                  user_agent: str | None = None) -> Placement:
    """Where the address is: Nominatim only when configured (falling back to the ZIP), else the ZIP centroid."""
    if geocoder == "nominatim":
        try:
            from geopy.geocoders import Nominatim

            query = f"{values['street']}, {values['city']}, {values['state']} {values['zip']}, USA"
            found = Nominatim(user_agent=user_agent or "kapfinder", timeout=5).geocode(query, country_codes="us")
            if found is not None:
                return Placement(round(found.latitude, 6), round(found.longitude, 6), "nominatim")
        except Exception:  # the network or the service failed: the ZIP centroid still places it
            pass
    row = geo.lookup_zip(session, values["zip"])
    if row is None:
        raise InvalidParameter("zip", "unknown_zip", zip=values["zip"])
    return Placement(round(row.lat, 6), round(row.lon, 6), "zip")


def _place(session: Session, values: dict[str, Any], current: Mapping[str, Any] | None,
           geocoder: str, user_agent: str | None) -> None:
    """Fill lat/lon: the owner's own coordinates win; a moved address without new coordinates is re-placed."""
    address = ("street", "city", "state", "zip")
    owner_moved_point = current is not None and (values["lat"], values["lon"]) != (current["lat"], current["lon"])
    if values["lat"] is not None and (current is None or owner_moved_point):
        return
    if current is not None and values["lat"] is not None and all(values[k] == current[k] for k in address):
        return
    point = place_address(session, values, geocoder=geocoder, user_agent=user_agent)
    values["lat"], values["lon"] = point.lat, point.lon


# --- creating and editing -----------------------------------------------------------------------

def create_listing(session: Session, owner_id: int, data: Mapping[str, Any], *, now: datetime | None = None,
                   geocoder: str = "offline", user_agent: str | None = None) -> Clinic:
    """Store a new listing from ``data`` as ``pending``, owned by ``owner_id``."""
    now = now or utcnow()
    values = clean_listing(session, data)
    _place(session, values, None, geocoder, user_agent)
    with write_transaction(session):
        clinic = Clinic(status="pending", owner_id=owner_id, sample=False, created_at=now, updated_at=now)
        _apply(session, clinic, values, now.date())
        session.add(clinic)
        session.flush()
        _audit(session, clinic, owner_id, "created", {"status": {"old": None, "new": "pending"}}, now)
    return clinic


@dataclass
class EditResult:
    clinic: Clinic
    published: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    revision: ListingRevision | None = None


def owned_listing(session: Session, clinic_id: str, owner_id: int) -> Clinic:
    """The owner's own listing; anyone else's (or none) is ``NotFound``."""
    clinic = session.get(Clinic, clinic_id, populate_existing=True)
    if clinic is None or clinic.owner_id != owner_id or clinic.status == "archived":
        raise NotFound("listing", "not_found")
    return clinic


def pending_revision(session: Session, clinic_id: str) -> ListingRevision | None:
    return session.scalars(select(ListingRevision).where(
        ListingRevision.clinic_id == clinic_id, ListingRevision.status == "pending")).first()


def form_values(session: Session, clinic: Clinic) -> dict[str, Any]:
    """What the edit form shows: the listing with its pending changes on top (the owner's latest word)."""
    values = snapshot(clinic)
    revision = pending_revision(session, clinic.id)
    if revision is not None:
        for key, change in revision.changes.items():
            values[key] = change["new"]
    return values


def edit_listing(session: Session, clinic_id: str, owner_id: int, expected_version: int,
                 data: Mapping[str, Any], *, now: datetime | None = None, geocoder: str = "offline",
                 user_agent: str | None = None) -> EditResult:
    """Apply an owner's edit made from a form showing ``expected_version``.

    Raises ``Conflict`` (nothing written) when the listing changed since, ``NotFound`` when it is
    not the owner's, ``InvalidListing`` on bad input.
    """
    now = now or utcnow()
    values = clean_listing(session, data)
    try:
        with write_transaction(session):
            clinic = owned_listing(session, clinic_id, owner_id)
            if clinic.version != expected_version:
                raise Conflict("version", "conflict")
            current = snapshot(clinic)
            _place(session, values, current, geocoder, user_agent)
            changes = _diff(current, values)
            result = EditResult(clinic)
            if clinic.status == "published":
                result.published = {k: v for k, v in changes.items() if k in IMMEDIATE_FIELDS}
                result.pending = {k: v for k, v in changes.items() if k in MODERATED_FIELDS}
                result.revision = _replace_revision(session, clinic, owner_id, result.pending, now)
            else:
                result.published = changes
                if clinic.status == "rejected":
                    clinic.status = "pending"
                    result.published = {**changes, "status": {"old": "rejected", "new": "pending"}}
            _apply(session, clinic, {k: v["new"] for k, v in result.published.items() if k != "status"},
                   now.date())
            # Always an UPDATE of the row, so the version check below is atomic on every engine.
            clinic.updated_at = now
            _audit(session, clinic, owner_id, "edited", result.published, now)
            session.flush()  # UPDATE clinic ... WHERE id = :id AND version = :expected
    except StaleDataError:
        raise Conflict("version", "conflict") from None
    return result


def _replace_revision(session: Session, clinic: Clinic, author_id: int,
                      pending: dict[str, dict[str, Any]], now: datetime) -> ListingRevision | None:
    """Keep one pending revision holding the owner's latest moderated changes."""
    revision = pending_revision(session, clinic.id)
    if not pending:
        if revision is not None:
            revision.status, revision.decided_at = "withdrawn", now
        return None
    changes = {k: {"old": _jsonable(v["old"]), "new": _jsonable(v["new"])} for k, v in pending.items()}
    if revision is not None and _norm(revision.changes) == _norm(changes):
        return revision  # the same changes still wait: the moderator's page stays current
    if revision is None:
        revision = ListingRevision(clinic_id=clinic.id, created_at=now)
        session.add(revision)
    # Changed in place, so its version steps: a decision from a page showing the old changes is refused.
    revision.author_id = author_id
    revision.changes = changes
    revision.updated_at = now
    _audit(session, clinic, author_id, "proposed", pending, now)
    return revision


def reconfirm(session: Session, clinic_id: str, owner_id: int, expected_version: int | None = None,
              *, now: datetime | None = None) -> Clinic:
    """"Everything is still correct": sets ``confirmed_at`` and refreshes every as-of date."""
    now = now or utcnow()
    try:
        with write_transaction(session):
            clinic = owned_listing(session, clinic_id, owner_id)
            if expected_version is not None and clinic.version != expected_version:
                raise Conflict("version", "conflict")
            if clinic.status != "published":
                raise Conflict("status", "not_published")
            today = now.date()
            old = clinic.confirmed_at
            for row in [*clinic.insurance, *clinic.prices]:  # loaded before the row changes: one UPDATE
                row.as_of = today
            clinic.confirmed_at = now
            if clinic.accepting_new_patients is not None:
                clinic.accepting_as_of = today
            clinic.updated_at = now
            _audit(session, clinic, owner_id, "reconfirmed", {"confirmed_at": {"old": old, "new": now}}, now)
            session.flush()
    except StaleDataError:
        raise Conflict("version", "conflict") from None
    return clinic


# --- moderation -----------------------------------------------------------------------------------

def slug_for(session: Session, clinic: Clinic) -> str:
    """ASCII-folded name and city, with ``-2``, ``-3``… when taken."""
    from slugify import slugify

    base = slugify(f"{clinic.name} {clinic.city}", max_length=200, word_boundary=True) or "clinic"
    taken = set(session.scalars(select(Clinic.slug).where(
        (Clinic.slug == base) | Clinic.slug.like(base + "-%"), Clinic.id != clinic.id)))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _moderated(session: Session, model, object_id, status: str = "pending", expected_version: int | None = None):
    """The item a moderator decides on, still waiting and, given ``expected_version``, still the
    version their page showed (else ``Conflict``)."""
    obj = session.get(model, object_id, populate_existing=True)
    if obj is None:
        raise NotFound("item", "not_found")
    if obj.status == "withdrawn":
        raise Conflict("status", "withdrawn")
    if obj.status != status:
        raise Conflict("status", "already_decided")
    if expected_version is not None and obj.version != expected_version:
        raise Conflict("version", "changed_since_seen", version=obj.version)
    return obj


def _decided(decide: Callable[[], Any]) -> Any:
    """Run a decision; a concurrent change of the item (its version moved on between our read and
    our UPDATE ... WHERE version = :read) is the same conflict as a stale page."""
    try:
        return decide()
    except StaleDataError:
        raise Conflict("version", "changed_since_seen") from None


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidParameter("reason", "required")
    if len(reason) > NOTE_LIMIT:
        raise InvalidParameter("reason", "too_long", max=NOTE_LIMIT)
    return reason


def approve_listing(session: Session, clinic_id: str, moderator_id: int, *, expected_version: int | None = None,
                    now: datetime | None = None) -> Clinic:
    """Publish a pending listing: ``verified_at`` and ``confirmed_at`` now, the slug fixed if it has none.

    ``expected_version`` is the listing's version on the moderator's page: an owner's edit since
    then raises ``Conflict`` and publishes nothing.
    """
    return _decided(lambda: _approve_listing(session, clinic_id, moderator_id, expected_version, now or utcnow()))


def _approve_listing(session: Session, clinic_id: str, moderator_id: int, expected_version: int | None,
                     now: datetime) -> Clinic:
    with write_transaction(session):
        clinic = _moderated(session, Clinic, clinic_id, expected_version=expected_version)
        changes: dict[str, dict[str, Any]] = {"status": {"old": clinic.status, "new": "published"}}
        clinic.status = "published"
        if not clinic.slug:
            clinic.slug = slug_for(session, clinic)
            changes["slug"] = {"old": None, "new": clinic.slug}
        changes["verified_at"] = {"old": clinic.verified_at, "new": now}
        clinic.verified_at = clinic.confirmed_at = now
        _audit(session, clinic, moderator_id, "approved", changes, now)
    return clinic


def reject_listing(session: Session, clinic_id: str, moderator_id: int, reason: str, *,
                   expected_version: int | None = None, now: datetime | None = None) -> Clinic:
    now = now or utcnow()
    reason = _require_reason(reason)

    def decide() -> Clinic:
        with write_transaction(session):
            clinic = _moderated(session, Clinic, clinic_id, expected_version=expected_version)
            clinic.status = "rejected"
            _audit(session, clinic, moderator_id, "rejected",
                   {"status": {"old": "pending", "new": "rejected"}, "reason": {"old": None, "new": reason}}, now)
        return clinic

    return _decided(decide)


def approve_revision(session: Session, revision_id: int, moderator_id: int, *, expected_version: int | None = None,
                     now: datetime | None = None) -> ListingRevision:
    """Publish a revision's changes; approval also counts as verification and confirmation.

    ``expected_version`` is the revision's version on the moderator's page: if the owner (or an
    import) changed the revision since, ``Conflict`` is raised and nothing is published.
    """
    return _decided(lambda: _approve_revision(session, revision_id, moderator_id, expected_version, now or utcnow()))


def _approve_revision(session: Session, revision_id: int, moderator_id: int, expected_version: int | None,
                      now: datetime) -> ListingRevision:
    with write_transaction(session):
        revision = _moderated(session, ListingRevision, revision_id, expected_version=expected_version)
        clinic = session.get(Clinic, revision.clinic_id, populate_existing=True)
        current = snapshot(clinic)
        changes = {k: {"old": current.get(k), "new": v["new"]} for k, v in revision.changes.items()}
        _apply(session, clinic, {k: v["new"] for k, v in changes.items()}, now.date())
        changes["verified_at"] = {"old": clinic.verified_at, "new": now}
        clinic.verified_at = clinic.confirmed_at = now
        clinic.updated_at = now
        revision.status, revision.decided_at, revision.decided_by_id = "approved", now, moderator_id
        _audit(session, clinic, moderator_id, "approved", changes, now)
    return revision


def reject_revision(session: Session, revision_id: int, moderator_id: int, reason: str, *,
                    expected_version: int | None = None, now: datetime | None = None) -> ListingRevision:
    now = now or utcnow()
    reason = _require_reason(reason)

    def decide() -> ListingRevision:
        with write_transaction(session):
            revision = _moderated(session, ListingRevision, revision_id, expected_version=expected_version)
            revision.status, revision.reason = "rejected", reason
            revision.decided_at, revision.decided_by_id = now, moderator_id
            clinic = session.get(Clinic, revision.clinic_id)
            _audit(session, clinic, moderator_id, "rejected",
                   {"revision": {"old": revision.changes, "new": None}, "reason": {"old": None, "new": reason}}, now)
        return revision

    return _decided(decide)


@dataclass(frozen=True)
class QueueItem:
    kind: str  # listing | revision | claim | report
    created_at: datetime
    item: Any
    clinic: Clinic


def moderation_queue(session: Session) -> list[QueueItem]:
    """Everything waiting for a moderator, oldest first."""
    items = [QueueItem("listing", c.created_at, c, c) for c in session.scalars(
        select(Clinic).where(Clinic.status == "pending").order_by(Clinic.created_at).limit(500))]
    for kind, model, status in (("revision", ListingRevision, "pending"), ("claim", Claim, "pending"),
                                ("report", ProblemReport, "open")):
        stmt = select(model).where(model.status == status).order_by(model.created_at).limit(500)
        if model is Claim:
            stmt = stmt.where(Claim.method == "moderator")
        items.extend(QueueItem(kind, obj.created_at, obj, obj.clinic) for obj in session.scalars(stmt))
    return sorted(items, key=lambda q: (q.created_at, q.kind))


def audit_trail(session: Session, clinic_id: str) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.clinic_id == clinic_id)
                                .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())))


# --- claims ---------------------------------------------------------------------------------------

def claimable(session: Session, slug: str) -> Clinic:
    """A published listing nobody owns (imported or sample)."""
    clinic = session.scalars(select(Clinic).where(Clinic.slug == slug, Clinic.status == "published")).first()
    if clinic is None:
        raise NotFound("listing", "not_found")
    if clinic.owner_id is not None:
        raise Conflict("listing", "already_claimed")
    return clinic


def start_claim(session: Session, slug: str, user_id: int, *, email: str | None = None, note: str = "",
                now: datetime | None = None) -> tuple[Claim, str | None]:
    """An email claim (returns the single-use token to mail to ``email``, an address at the clinic
    website's domain) or, without email, a request for a moderator's approval with ``note``."""
    from ..accounts import issue_token

    now = now or utcnow()
    email = (email or "").strip()
    if email:
        email = normalise_email(email)
    note = (note or "").strip()
    if not email:
        if not note:
            raise InvalidParameter("note", "required")
        if len(note) > NOTE_LIMIT:
            raise InvalidParameter("note", "too_long", max=NOTE_LIMIT)
    with write_transaction(session):
        clinic = claimable(session, slug)
        token = None
        if email:
            if not clinic.website:
                raise InvalidParameter("email", "claim_needs_moderator")
            if not email_matches_website(email, clinic.website):
                raise InvalidParameter("email", "claim_email_domain", domain=website_host(clinic.website) or "")
            claim = Claim(clinic_id=clinic.id, user_id=user_id, method="email", email=email, created_at=now)
            token = issue_token(session, "claim", user_id, listing_id=clinic.id, email=email, now=now)
        else:
            claim = Claim(clinic_id=clinic.id, user_id=user_id, method="moderator", note=note, created_at=now)
        session.add(claim)
        session.flush()
    return claim, token


def _give_to(session: Session, claim: Claim, actor_id: int, now: datetime) -> None:
    clinic = session.get(Clinic, claim.clinic_id, populate_existing=True)
    if clinic is None or clinic.owner_id is not None:
        raise Conflict("listing", "already_claimed")
    clinic.owner_id = claim.user_id  # a sample listing stays sample
    clinic.updated_at = now
    claim.status, claim.decided_at = "approved", now
    _audit(session, clinic, actor_id, "claimed", {"owner_id": {"old": None, "new": claim.user_id}}, now)


def confirm_claim(session: Session, slug: str, token: str, user_id: int, *, now: datetime | None = None) -> Claim:
    """Follow a claim link: single use, only by the account that asked, for that listing, within 7 days."""
    from ..accounts import InvalidToken, check_token, consume_token

    now = now or utcnow()
    with write_transaction(session):
        clinic = session.scalars(select(Clinic).where(Clinic.slug == slug)).first()
        if clinic is None:
            raise InvalidToken()
        # Check before using it up: someone else following the link must not burn it.
        if check_token(session, token, "claim", listing_id=clinic.id, now=now).user_id != user_id:
            raise InvalidToken()
        row = consume_token(session, token, "claim", listing_id=clinic.id, now=now)
        claim = session.scalars(select(Claim).where(
            Claim.clinic_id == clinic.id, Claim.user_id == user_id, Claim.method == "email",
            Claim.email == row.email, Claim.status == "pending").order_by(Claim.id.desc())).first()
        if claim is None:
            raise InvalidToken()
        _give_to(session, claim, user_id, now)
    return claim


def approve_claim(session: Session, claim_id: int, moderator_id: int, *, now: datetime | None = None) -> Claim:
    now = now or utcnow()
    with write_transaction(session):
        claim = _moderated(session, Claim, claim_id)
        claim.decided_by_id = moderator_id
        _give_to(session, claim, moderator_id, now)
    return claim


def reject_claim(session: Session, claim_id: int, moderator_id: int, reason: str, *,
                 now: datetime | None = None) -> Claim:
    now = now or utcnow()
    reason = _require_reason(reason)
    with write_transaction(session):
        claim = _moderated(session, Claim, claim_id)
        claim.status, claim.reason, claim.decided_at, claim.decided_by_id = "rejected", reason, now, moderator_id
    return claim


# --- problem reports ------------------------------------------------------------------------------

def report_problem(session: Session, slug: str, reason: str, note: str = "", *,
                   now: datetime | None = None) -> ProblemReport:
    """An anonymous report on a published listing; nothing about the reporter is kept."""
    now = now or utcnow()
    if reason not in REPORT_REASONS:
        raise InvalidParameter("reason", "required" if not reason else "unknown_value", value=reason or "")
    note = (note or "").strip()
    if len(note) > NOTE_LIMIT:
        raise InvalidParameter("note", "too_long", max=NOTE_LIMIT)
    if _CONTROL.search(note):
        raise InvalidParameter("note", "control_character")
    with write_transaction(session):
        clinic = session.scalars(select(Clinic).where(Clinic.slug == slug, Clinic.status == "published")).first()
        if clinic is None:
            raise NotFound("listing", "not_found")
        report = ProblemReport(clinic_id=clinic.id, reason=reason, note=note, created_at=now)
        session.add(report)
        session.flush()
    return report


def resolve_report(session: Session, report_id: int, moderator_id: int, *, dismiss: bool = False,
                   resolution: str = "", now: datetime | None = None) -> ProblemReport:
    now = now or utcnow()
    resolution = _require_reason(resolution) if dismiss else (resolution or "").strip()[:NOTE_LIMIT]
    with write_transaction(session):
        report = _moderated(session, ProblemReport, report_id, status="open")
        report.status = "dismissed" if dismiss else "resolved"
        report.resolution, report.decided_at, report.decided_by_id = resolution, now, moderator_id
        _audit(session, report.clinic, moderator_id, "report_" + report.status,
               {"report": {"old": report.reason, "new": report.status}}, now)
    return report


# --- the owner's dashboard ------------------------------------------------------------------------

@dataclass(frozen=True)
class OwnerListing:
    clinic: Clinic
    open_reports: int
    pending_revision: ListingRevision | None
    stale: bool


def owner_listings(session: Session, owner_id: int, now: datetime | None = None) -> list[OwnerListing]:
    now = now or utcnow()
    clinics = list(session.scalars(select(Clinic).where(Clinic.owner_id == owner_id, Clinic.status != "archived")
                                   .order_by(func.lower(Clinic.name), Clinic.id)))
    ids = [c.id for c in clinics]
    counts = dict(session.execute(select(ProblemReport.clinic_id, func.count()).where(
        ProblemReport.clinic_id.in_(ids), ProblemReport.status == "open").group_by(ProblemReport.clinic_id)).all())
    revisions = {r.clinic_id: r for r in session.scalars(select(ListingRevision).where(
        ListingRevision.clinic_id.in_(ids), ListingRevision.status == "pending"))}
    return [OwnerListing(c, counts.get(c.id, 0), revisions.get(c.id), c.status == "published" and c.is_stale(now))
            for c in clinics]


def open_reports(session: Session, clinic_id: str) -> list[ProblemReport]:
    return list(session.scalars(select(ProblemReport).where(
        ProblemReport.clinic_id == clinic_id, ProblemReport.status == "open").order_by(ProblemReport.created_at)))


# --- reminders ------------------------------------------------------------------------------------

def due_reminders(session: Session, now: datetime | None = None) -> list[tuple[Clinic, User]]:
    """Published, owned listings 75–90 days past ``confirmed_at`` not yet reminded in this cycle."""
    now = now or utcnow()
    already = select(ReminderSent.id).where(ReminderSent.clinic_id == Clinic.id,
                                            ReminderSent.confirmed_at == Clinic.confirmed_at)
    stmt = (select(Clinic, User).join(User, User.id == Clinic.owner_id)
            .where(Clinic.status == "published", User.active.is_(True),
                   Clinic.confirmed_at <= now - REMIND_FROM, Clinic.confirmed_at >= now - REMIND_UNTIL,
                   ~already.exists())
            .order_by(Clinic.confirmed_at, Clinic.id))
    return [(c, u) for c, u in session.execute(stmt).all()]


def remind(session: Session, send: Callable[[Clinic, User], None], now: datetime | None = None) -> int:
    """Mail each due owner once per confirmation cycle (``send(clinic, owner)``) and record it."""
    now = now or utcnow()
    sent = 0
    for clinic, owner in due_reminders(session, now):
        clinic_id, confirmed_at, email = clinic.id, clinic.confirmed_at, owner.email
        with write_transaction(session):
            exists = session.scalars(select(ReminderSent).where(
                ReminderSent.clinic_id == clinic_id, ReminderSent.confirmed_at == confirmed_at)).first()
            if exists is not None:  # another run got here first
                continue
            session.add(ReminderSent(clinic_id=clinic_id, confirmed_at=confirmed_at, email=email, sent_at=now))
            send(clinic, owner)  # a failure rolls the record back, so the next run retries
        sent += 1
    return sent


# --- changes proposed from outside: imports ------------------------------------------------------

def propose_revision(session: Session, clinic: Clinic, values: Mapping[str, Any], *,
                     author_id: int | None = None, action: str = "imported",
                     now: datetime | None = None) -> ListingRevision | None:
    """Let the fields of ``values`` that differ from the listing wait for a moderator.

    ``values`` holds snapshot values for any subset of ``FIELDS`` (already checked by the caller).
    The listing itself is not changed. The differences join the listing's single pending revision:
    a field they change takes the new value, fields already waiting (an owner's edit) keep waiting.
    Runs inside the caller's transaction. Returns the pending revision, or None when ``values``
    matches the listing.
    """
    now = now or utcnow()
    values = dict(values)
    if "insurance" in values:
        rows = {}
        for item in values["insurance"]:
            row = {"carrier": item["carrier"], "service": item["service"], "network": item["network"],
                   "plan_types": vocab.PLAN_TYPES.ordered(item.get("plan_types") or [])}
            rows[(row["carrier"], row["service"], tuple(row["plan_types"]))] = row
        values["insurance"] = sorted(rows.values(), key=_insurance_key)
    if "prices" in values:
        prices = {p["service"]: {"service": p["service"], "min_usd": p.get("min_usd"), "max_usd": p.get("max_usd")}
                  for p in values["prices"]}
        values["prices"] = [prices[s] for s in vocab.SERVICES.slugs if s in prices]
    changes = _diff(snapshot(clinic), values)
    if not changes:
        return None
    proposed = {k: {"old": _jsonable(v["old"]), "new": _jsonable(v["new"])} for k, v in changes.items()}
    revision = pending_revision(session, clinic.id)
    if revision is not None and all(_norm(revision.changes.get(k)) == _norm(c) for k, c in proposed.items()):
        return revision  # exactly these changes are already waiting
    if revision is None:
        revision = ListingRevision(clinic_id=clinic.id, created_at=now, changes={})
        session.add(revision)
    revision.changes = {**(revision.changes or {}), **proposed}
    revision.author_id = author_id
    revision.updated_at = now
    _audit(session, clinic, author_id, action, changes, now)
    return revision
