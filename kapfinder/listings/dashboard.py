"""The owner's overview: their listings, each with its open reports, pending changes and whether
it needs re-confirming. No Flask here."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Clinic, Decision, ListingRevision, ProblemReport, ReportStatus, Status, utcnow


@dataclass(frozen=True)
class OwnerListing:
    clinic: Clinic
    open_reports: int
    pending_revision: ListingRevision | None
    stale: bool


def owner_listings(session: Session, owner_id: int, now: datetime | None = None) -> list[OwnerListing]:
    now = now or utcnow()
    clinics = list(session.scalars(select(Clinic).where(Clinic.owner_id == owner_id, Clinic.status != Status.ARCHIVED)
                                   .order_by(func.lower(Clinic.name), Clinic.id)))
    ids = [c.id for c in clinics]
    counts = dict(session.execute(select(ProblemReport.clinic_id, func.count()).where(
        ProblemReport.clinic_id.in_(ids), ProblemReport.status == ReportStatus.OPEN)
        .group_by(ProblemReport.clinic_id)).all())
    revisions = {r.clinic_id: r for r in session.scalars(select(ListingRevision).where(
        ListingRevision.clinic_id.in_(ids), ListingRevision.status == Decision.PENDING))}
    return [OwnerListing(c, counts.get(c.id, 0), revisions.get(c.id),
                         c.status == Status.PUBLISHED and c.is_stale(now))
            for c in clinics]
