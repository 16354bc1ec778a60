"""Accounts: clinic owners and moderators. No patient ever has one.

Also the single-use tokens behind confirmation, password-reset and claim links. Only a hash of a
token is stored: a copy of the database does not hand out working links.
"""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow

ROLES = ("owner", "moderator")


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="owner")  # owner | moderator
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Changing the nonce voids every session and remember cookie issued for this account.
    session_nonce: Mapped[str] = mapped_column(String(64), default=new_nonce)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_moderator(self) -> bool:
        return self.role == "moderator"

    @property
    def is_confirmed(self) -> bool:
        return self.email_confirmed_at is not None

    # The Flask-Login user protocol, written out so the models stay free of Flask.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # The nonce travels in the session and the remember cookie; a rotated nonce voids both.
        return f"{self.id}:{self.session_nonce}"

    def rotate_nonce(self) -> None:
        self.session_nonce = new_nonce()


class AccountToken(Base):
    """One link sent by mail: bound to a purpose, an account and (for claims) a listing."""

    __tablename__ = "account_token"
    __table_args__ = (Index("ix_account_token_user_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    purpose: Mapped[str] = mapped_column(String(32))  # confirm | reset | claim | ...
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    listing_id: Mapped[str | None] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(254))  # the address the link was sent to
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
