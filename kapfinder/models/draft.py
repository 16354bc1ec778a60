"""An owner's unfinished listing form, kept between the steps of the form. No Flask here.

``data`` holds the values as the owner typed them (see ``kapfinder.drafts``), valid or not, so
leaving half-way loses nothing. A draft of an edit records the listing version and values it
started from: submitting it is refused when the listing changed since, exactly like a stale form.
An owner has at most one draft of a new listing, and a listing at most one draft of changes.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class ListingDraft(Base):
    __tablename__ = "listing_draft"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    # None: a new listing; else the listing being edited (one draft per listing).
    clinic_id: Mapped[str | None] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    step: Mapped[str] = mapped_column(String(16), default="basics")  # where to continue
    base_version: Mapped[int | None] = mapped_column(Integer)
    base_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # One draft of a new listing per owner (NULLs never collide in a plain unique constraint).
        Index("uq_listing_draft_new_listing", "owner_id", unique=True,
              sqlite_where=text("clinic_id IS NULL"), postgresql_where=text("clinic_id IS NULL")),
    )
