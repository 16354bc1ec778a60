"""What moderation keeps about a listing: pending revisions, claims, problem reports, the audit log
and the re-confirmation reminders already sent. No Flask here."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .clinic import Clinic
from .user import User


class Decision(enum.StrEnum):
    """Where a pending revision or a claim stands (``withdrawn``: a revision its owner took back).
    A ``StrEnum``: stored and compared as its plain value."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class ReportStatus(enum.StrEnum):
    """Where a problem report stands: open until a moderator resolves or dismisses it."""

    OPEN = "open"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class Decided:
    """What every item a moderator decides on holds: its listing, when it came, and when and by
    whom it was decided (revisions, claims and problem reports)."""

    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    @declared_attr
    def clinic(cls) -> Mapped[Clinic]:
        return relationship(Clinic)

    def decide(self, status: str, decided_by_id: int | None, now: datetime) -> None:
        """Record a decision: the item's new ``status`` (each class has its own column), when, by whom."""
        self.status, self.decided_at, self.decided_by_id = status, now, decided_by_id


class ListingRevision(Decided, Base):
    """Changes to a published listing that wait for a moderator.

    ``changes`` maps a field name to ``{"old": ..., "new": ...}`` in the JSON form of
    ``kapfinder.listings.snapshot``. A listing has at most one pending revision: a later edit
    replaces its changes, and every change of the row bumps ``version``, so a moderator's decision
    made from a page showing an older version is refused (``UPDATE ... WHERE version = :seen``).
    """

    __tablename__ = "listing_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=Decision.PENDING)
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])

    __table_args__ = (Index("ix_listing_revision_status_created", "status", "created_at"),)
    __mapper_args__ = {"version_id_col": version}


class Claim(Decided, Base):
    """An owner's request to take over an unowned listing.

    ``method`` is ``email`` (proof by a single-use link, an ``AccountToken`` of purpose ``claim``,
    mailed to an address at the clinic's domain) or ``moderator`` (a moderator approves, reading ``note``).
    """

    __tablename__ = "listing_claim"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(16))  # email | moderator
    email: Mapped[str | None] = mapped_column(String(254))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=Decision.PENDING)  # never withdrawn
    reason: Mapped[str] = mapped_column(Text, default="")

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    __table_args__ = (Index("ix_listing_claim_status_created", "status", "created_at"),)


class ProblemReport(Decided, Base):
    """An anonymous report that something on a listing is wrong. No address or identity is kept."""

    __tablename__ = "problem_report"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))  # a slug of data/vocab/report_reason.json
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=ReportStatus.OPEN)
    resolution: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_problem_report_status_created", "status", "created_at"),)


class AuditLog(Base):
    """One changed field of one listing: what it was, what it became, who did it and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))  # created|edited|approved|rejected|reconfirmed|claimed|...
    field: Mapped[str] = mapped_column(String(64))
    old: Mapped[Any] = mapped_column(JSON, nullable=True)
    new: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_audit_log_clinic_created", "clinic_id", "created_at"),)


class ReminderSent(Base):
    """A re-confirmation reminder mailed for one confirmation cycle (identified by ``confirmed_at``)."""

    __tablename__ = "reminder_sent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    email: Mapped[str] = mapped_column(String(254))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("clinic_id", "confirmed_at", name="uq_reminder_sent_cycle"),)
