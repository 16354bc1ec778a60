"""An owner submits, edits and re-confirms a listing; an import proposes changes. No Flask here.

* A new listing is ``pending`` until a moderator approves it.
* An edit of a published listing publishes its immediate fields at once and leaves the moderated
  ones (``MODERATED_FIELDS``) in the listing's single pending revision. Every accepted edit bumps
  ``version`` with ``UPDATE ... WHERE version = :expected``; an edit from an older version is
  refused with ``Conflict`` and changes nothing.
* Changes proposed from outside (an import) join that same pending revision.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ..db import write_transaction
from ..errors import Conflict, NotFound
from ..models import Clinic, Decision, ListingRevision, Status, utcnow
from .common import audit, jsonable
from .placement import place
from .snapshots import IMMEDIATE_FIELDS, MODERATED_FIELDS, apply, clean_listing, diff, in_snapshot_order, same, snapshot


def create_listing(session: Session, owner_id: int, data: Mapping[str, Any], *, now: datetime | None = None,
                   geocoder: str = "offline", user_agent: str | None = None) -> Clinic:
    """Store a new listing from ``data`` as ``pending``, owned by ``owner_id``."""
    now = now or utcnow()
    values = clean_listing(session, data)
    place(session, values, None, geocoder, user_agent)
    with write_transaction(session):
        clinic = Clinic(status=Status.PENDING, owner_id=owner_id, sample=False, created_at=now, updated_at=now)
        apply(session, clinic, values, now.date())
        session.add(clinic)
        session.flush()
        audit(session, clinic, owner_id, "created", {"status": {"old": None, "new": Status.PENDING}}, now)
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
    if clinic is None or clinic.owner_id != owner_id or clinic.status == Status.ARCHIVED:
        raise NotFound("listing", "not_found")
    return clinic


def pending_revision(session: Session, clinic_id: str) -> ListingRevision | None:
    return session.scalars(select(ListingRevision).where(
        ListingRevision.clinic_id == clinic_id, ListingRevision.status == Decision.PENDING)).first()


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
            place(session, values, current, geocoder, user_agent)
            changes = diff(current, values)
            result = EditResult(clinic)
            if clinic.status == Status.PUBLISHED:
                result.published = {k: v for k, v in changes.items() if k in IMMEDIATE_FIELDS}
                result.pending = {k: v for k, v in changes.items() if k in MODERATED_FIELDS}
                result.revision = _replace_revision(session, clinic, owner_id, result.pending, now)
            else:
                result.published = changes
                if clinic.status == Status.REJECTED:
                    clinic.status = Status.PENDING
                    result.published = {**changes, "status": {"old": Status.REJECTED, "new": Status.PENDING}}
            apply(session, clinic, {k: v["new"] for k, v in result.published.items() if k != "status"}, now.date())
            # Always an UPDATE of the row, so the version check below is atomic on every engine.
            clinic.updated_at = now
            audit(session, clinic, owner_id, "edited", result.published, now)
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
            revision.decide(Decision.WITHDRAWN, None, now)
        return None
    changes = _stored(pending)
    if revision is not None and same(revision.changes, changes):
        return revision  # the same changes still wait: the moderator's page stays current
    if revision is None:
        revision = ListingRevision(clinic_id=clinic.id, created_at=now)
        session.add(revision)
    # Changed in place, so its version steps: a decision from a page showing the old changes is refused.
    revision.author_id = author_id
    revision.changes = changes
    revision.updated_at = now
    audit(session, clinic, author_id, "proposed", pending, now)
    return revision


def _stored(changes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Changes as a revision keeps them: JSON values."""
    return {k: {"old": jsonable(v["old"]), "new": jsonable(v["new"])} for k, v in changes.items()}


def reconfirm(session: Session, clinic_id: str, owner_id: int, expected_version: int | None = None,
              *, now: datetime | None = None) -> Clinic:
    """"Everything is still correct": sets ``confirmed_at`` and refreshes every as-of date."""
    now = now or utcnow()
    try:
        with write_transaction(session):
            clinic = owned_listing(session, clinic_id, owner_id)
            if expected_version is not None and clinic.version != expected_version:
                raise Conflict("version", "conflict")
            if clinic.status != Status.PUBLISHED:
                raise Conflict("status", "not_published")
            today = now.date()
            old = clinic.confirmed_at
            for row in [*clinic.insurance, *clinic.prices]:  # loaded before the row changes: one UPDATE
                row.as_of = today
            clinic.confirmed_at = now
            if clinic.accepting_new_patients is not None:
                clinic.accepting_as_of = today
            clinic.updated_at = now
            audit(session, clinic, owner_id, "reconfirmed", {"confirmed_at": {"old": old, "new": now}}, now)
            session.flush()
    except StaleDataError:
        raise Conflict("version", "conflict") from None
    return clinic


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
    changes = diff(snapshot(clinic), in_snapshot_order(values))
    if not changes:
        return None
    proposed = _stored(changes)
    revision = pending_revision(session, clinic.id)
    if revision is not None and all(same(revision.changes.get(k), c) for k, c in proposed.items()):
        return revision  # exactly these changes are already waiting
    if revision is None:
        revision = ListingRevision(clinic_id=clinic.id, created_at=now, changes={})
        session.add(revision)
    revision.changes = {**(revision.changes or {}), **proposed}
    revision.author_id = author_id
    revision.updated_at = now
    audit(session, clinic, author_id, action, changes, now)
    return revision
