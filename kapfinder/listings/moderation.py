"""A moderator approves or rejects new listings and pending revisions; the queue of everything
waiting and a listing's audit trail. No Flask here.

Approval publishes and counts as verification and confirmation (``verified_at`` and
``confirmed_at`` now); a first publication fixes the slug. A decision names the version the
moderator's page showed: a change since raises ``Conflict`` and decides nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import AuditLog, Claim, Clinic, Decision, ListingRevision, ProblemReport, ReportStatus, Status, utcnow
from .common import audit, deciding, note_text
from .snapshots import apply, snapshot

Item = TypeVar("Item")


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


def _verified(clinic: Clinic, now: datetime) -> dict[str, Any]:
    """A moderator's approval verifies and confirms the listing; returns the audit change."""
    change = {"old": clinic.verified_at, "new": now}
    clinic.verified_at = clinic.confirmed_at = now
    return change


def _reject(session: Session, model: type[Item], object_id: Any, moderator_id: int, reason: str,
            expected_version: int | None, now: datetime | None,
            turn_down: Callable[[Item, str, datetime], tuple[Clinic, dict[str, dict[str, Any]]]]) -> Item:
    """A moderator's rejection: a reason is required, and the audit log keeps what was turned down
    and why. ``turn_down(item, reason, now)`` marks the waiting item rejected and returns its
    listing and the audit change of what it turned down."""
    now = now or utcnow()
    reason = note_text(reason, "reason", required=True)
    with deciding(session, model, object_id, expected_version=expected_version) as item:
        clinic, change = turn_down(item, reason, now)
        audit(session, clinic, moderator_id, "rejected", {**change, "reason": {"old": None, "new": reason}}, now)
    return item


def approve_listing(session: Session, clinic_id: str, moderator_id: int, *, expected_version: int | None = None,
                    now: datetime | None = None) -> Clinic:
    """Publish a pending listing: ``verified_at`` and ``confirmed_at`` now, the slug fixed if it has none.

    ``expected_version`` is the listing's version on the moderator's page: an owner's edit since
    then raises ``Conflict`` and publishes nothing.
    """
    now = now or utcnow()
    with deciding(session, Clinic, clinic_id, status=Status.PENDING, expected_version=expected_version) as clinic:
        changes: dict[str, dict[str, Any]] = {"status": {"old": clinic.status, "new": Status.PUBLISHED}}
        clinic.status = Status.PUBLISHED
        if not clinic.slug:
            clinic.slug = slug_for(session, clinic)
            changes["slug"] = {"old": None, "new": clinic.slug}
        changes["verified_at"] = _verified(clinic, now)
        audit(session, clinic, moderator_id, "approved", changes, now)
    return clinic


def reject_listing(session: Session, clinic_id: str, moderator_id: int, reason: str, *,
                   expected_version: int | None = None, now: datetime | None = None) -> Clinic:
    def turn_down(clinic: Clinic, reason: str, now: datetime):
        clinic.status = Status.REJECTED
        return clinic, {"status": {"old": Status.PENDING, "new": Status.REJECTED}}

    return _reject(session, Clinic, clinic_id, moderator_id, reason, expected_version, now, turn_down)


def approve_revision(session: Session, revision_id: int, moderator_id: int, *, expected_version: int | None = None,
                     now: datetime | None = None) -> ListingRevision:
    """Publish a revision's changes; approval also counts as verification and confirmation.

    ``expected_version`` is the revision's version on the moderator's page: if the owner (or an
    import) changed the revision since, ``Conflict`` is raised and nothing is published.
    """
    now = now or utcnow()
    with deciding(session, ListingRevision, revision_id, expected_version=expected_version) as revision:
        clinic = session.get(Clinic, revision.clinic_id, populate_existing=True)
        current = snapshot(clinic)
        changes = {k: {"old": current.get(k), "new": v["new"]} for k, v in revision.changes.items()}
        apply(session, clinic, {k: v["new"] for k, v in changes.items()}, now.date())
        changes["verified_at"] = _verified(clinic, now)
        clinic.updated_at = now
        revision.decide(Decision.APPROVED, moderator_id, now)
        audit(session, clinic, moderator_id, "approved", changes, now)
    return revision


def reject_revision(session: Session, revision_id: int, moderator_id: int, reason: str, *,
                    expected_version: int | None = None, now: datetime | None = None) -> ListingRevision:
    def turn_down(revision: ListingRevision, reason: str, now: datetime):
        revision.decide(Decision.REJECTED, moderator_id, now)
        revision.reason = reason
        return session.get(Clinic, revision.clinic_id), {"revision": {"old": revision.changes, "new": None}}

    return _reject(session, ListingRevision, revision_id, moderator_id, reason, expected_version, now, turn_down)


@dataclass(frozen=True)
class QueueItem:
    kind: str  # listing | revision | claim | report
    created_at: datetime
    item: Any
    clinic: Clinic


def moderation_queue(session: Session) -> list[QueueItem]:
    """Everything waiting for a moderator, oldest first."""
    items = [QueueItem("listing", c.created_at, c, c) for c in session.scalars(
        select(Clinic).where(Clinic.status == Status.PENDING).order_by(Clinic.created_at).limit(500))]
    for kind, model, status in (("revision", ListingRevision, Decision.PENDING), ("claim", Claim, Decision.PENDING),
                                ("report", ProblemReport, ReportStatus.OPEN)):
        stmt = select(model).where(model.status == status).order_by(model.created_at).limit(500)
        if model is Claim:
            stmt = stmt.where(Claim.method == "moderator")
        items.extend(QueueItem(kind, obj.created_at, obj, obj.clinic) for obj in session.scalars(stmt))
    return sorted(items, key=lambda q: (q.created_at, q.kind))


def audit_trail(session: Session, clinic_id: str) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.clinic_id == clinic_id)
                                .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())))
