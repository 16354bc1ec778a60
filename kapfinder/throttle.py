"""Limits on sign-in, sign-up and password reset that every process and machine counts together.

Flask-Limiter (``extensions.limiter``) keeps the public limits; with no Redis it counts in each
process, so N gunicorn workers would allow N times a limit. Guessing passwords must not get that
discount, so these limits are counted here, in one shared place:

- with ``KAPFINDER_REDIS_URL``: in Redis. When Redis does not answer, the outage is logged once and
  these forms are refused (503, fail closed) until it answers again; public reads stay open.
- without Redis: in the database, one ``rate_limit_window`` row per key and window, so every
  process and machine on the same database shares the count.

Windows are fixed and aligned to the clock (a "5/minute" window is one clock minute). Keys hold a
digest of the client address or account, never the address, e-mail or a query string.
"""
from __future__ import annotations

import hashlib
import logging
import time
from functools import wraps
from typing import Callable

from flask import Flask, current_app, request
from flask_babel import gettext as _
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

log = logging.getLogger("kapfinder.serving")

REDIS_PREFIX = "kapfinder:limit:"


class Unavailable(Exception):
    """The shared counter did not answer."""


class DatabaseCounter:
    """Counts in the ``rate_limit_window`` table, through the request's own database session."""

    shared_through = "the database"

    def __init__(self, session_getter: Callable) -> None:
        self._session = session_getter

    def hit(self, key: str, window_start: int, expires_at: int) -> int:
        from .db import write_transaction
        from .models import RateLimitWindow

        table = RateLimitWindow.__table__
        with write_transaction(self._session()) as session:
            if session.get_bind().dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            upsert = insert(table).values(key=key, window_start=window_start, hits=1, expires_at=expires_at)
            upsert = upsert.on_conflict_do_update(index_elements=[table.c.key, table.c.window_start],
                                                  set_={"hits": table.c.hits + 1}).returning(table.c.hits)
            hits = session.execute(upsert).scalar_one()
            if hits == 1:  # a new window began: drop the ones that are over
                session.execute(table.delete().where(table.c.expires_at <= int(time.time())))
        return hits


class RedisCounter:
    """Counts in Redis: ``INCR`` and ``EXPIREAT`` on one key per limit key and window."""

    def __init__(self, redis_url: str) -> None:
        import redis

        from .logsafe import redacted_url

        self.shared_through = redacted_url(redis_url)
        self._client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self._errors = redis.RedisError

    def hit(self, key: str, window_start: int, expires_at: int) -> int:
        name = f"{REDIS_PREFIX}{key}:{window_start}"
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.incr(name)
            pipe.expireat(name, expires_at)
            hits, _ = pipe.execute()
        except self._errors as exc:
            raise Unavailable(exc.__class__.__name__) from exc
        return int(hits)


class Throttle:
    """The app's counter, and whether it is known to be down (logged once per outage)."""

    def __init__(self, counter: DatabaseCounter | RedisCounter) -> None:
        self.counter = counter
        self.down = False

    def check(self, scope: str, items: list[RateLimitItem], identity: str) -> None:
        """Count one attempt against each limit; raise 429 (with Retry-After) when one is used up,
        503 when the shared counter does not answer."""
        now = time.time()
        digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
        for item in items:
            period = item.get_expiry()
            window_start = int(now // period * period)
            key = f"{scope}/{item.amount}-{period}/{digest}"
            try:
                hits = self.counter.hit(key, window_start, window_start + period)
            except Unavailable as exc:
                if not self.down:
                    self.down = True
                    log.error("Rate-limit store %s does not answer (%s): sign-in, sign-up and password "
                              "reset are refused until it does.", self.counter.shared_through, exc)
                raise ServiceUnavailable(retry_after=30) from None
            if self.down:
                self.down = False
                log.warning("Rate-limit store %s answers again: sign-in is open.", self.counter.shared_through)
            if hits > item.amount:
                raise TooManyRequests(retry_after=max(1, int(window_start + period - now)))


def init_app(app: Flask) -> None:
    redis_url = app.config.get("REDIS_URL")
    if redis_url:
        counter: DatabaseCounter | RedisCounter = RedisCounter(redis_url)
    else:
        def session():
            from .extensions import db

            return db.session

        counter = DatabaseCounter(session)
    app.extensions["kapfinder_throttle"] = Throttle(counter)


def limit(limit_value: str, key_func: Callable[[], str], scope: str, methods: tuple[str, ...] = ("POST",)):
    """Decorate a view: each request with one of ``methods`` counts against ``limit_value``
    (e.g. ``"5/minute;20/hour"``) for ``key_func()``, shared by every process."""
    items = parse_many(limit_value)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if request.method in methods and current_app.config.get("RATELIMIT_ENABLED", True):
                current_app.extensions["kapfinder_throttle"].check(scope, items, key_func())
            return view(*args, **kwargs)

        return wrapped

    return decorator


def unavailable_message() -> str:
    return _("Signing in is paused for a moment while we fix a problem on our side. "
             "Please try again in a few minutes.")
