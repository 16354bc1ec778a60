"""Rate-limit counters kept in the database when there is no Redis. No Flask here.

One row per limit key and fixed window: every process and machine that shares the database counts
the same attempts (``kapfinder.throttle``). Expired rows are deleted as new windows start.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class RateLimitWindow(Base):
    __tablename__ = "rate_limit_window"

    # "<scope>/<limit>/<digest of the client address or account>": never an address or a query string.
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # Unix seconds
    hits: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # Unix seconds
