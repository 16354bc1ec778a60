"""A small cache for values every request reads (gazetteer hits, vocabularies), with no Flask in it.

``get_cache(redis_url)`` returns a Redis-backed cache shared by every process and machine when a
URL is given, else an in-process LRU. Values are anything JSON can hold; what comes back is what
``json.loads`` makes of it (tuples come back as lists); ``get_bytes``/``set_bytes`` keep bytes as
they are (the API's compressed responses). A cache is an optimisation, never a source
of truth: when Redis cannot be reached a read is a miss and a write is dropped (logged once), so a
Redis outage slows kapfinder down but does not break it.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

log = logging.getLogger("kapfinder.cache")

PREFIX = "kapfinder:cache:"
DEFAULT_TTL_S = 24 * 3600
LOCAL_MAX_ENTRIES = 10_000


class Cache(Protocol):
    shared: bool

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any, ttl: int | None = DEFAULT_TTL_S) -> None: ...

    def get_bytes(self, key: str) -> bytes | None: ...

    def set_bytes(self, key: str, data: bytes, ttl: int | None = DEFAULT_TTL_S) -> None: ...

    def delete(self, key: str) -> None: ...

    def clear(self) -> None: ...


class _JSONValues:
    """``get``/``set`` of JSON values over a cache's ``get_bytes``/``set_bytes``. Stored as JSON so a
    cached value behaves the same from either cache, and a caller mutating what it got back cannot
    change the cache."""

    def get_bytes(self, key: str) -> bytes | None:
        raise NotImplementedError

    def set_bytes(self, key: str, data: bytes, ttl: int | None = DEFAULT_TTL_S) -> None:
        raise NotImplementedError

    def get(self, key: str) -> Any | None:
        payload = self.get_bytes(key)
        return None if payload is None else json.loads(payload)

    def set(self, key: str, value: Any, ttl: int | None = DEFAULT_TTL_S) -> None:
        self.set_bytes(key, json.dumps(value, separators=(",", ":")).encode(), ttl)


class LocalCache(_JSONValues):
    """In-process LRU with optional expiry; thread-safe (gunicorn gthread workers share it)."""

    shared = False

    def __init__(self, max_entries: int = LOCAL_MAX_ENTRIES, max_bytes: int | None = None) -> None:
        self.max_entries = max_entries
        #: A budget for the stored bytes, when values vary a lot in size (whole responses).
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def _drop(self, key: str) -> None:
        _expires, payload = self._items.pop(key)
        self._size -= len(payload)

    def get_bytes(self, key: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            expires, payload = item
            if expires is not None and expires <= time.monotonic():
                self._drop(key)
                return None
            self._items.move_to_end(key)
        return payload

    def set_bytes(self, key: str, data: bytes, ttl: int | None = DEFAULT_TTL_S) -> None:
        payload = bytes(data)
        if self.max_bytes is not None and len(payload) > self.max_bytes:
            return  # larger than the whole budget: not worth evicting everything for
        expires = time.monotonic() + ttl if ttl else None
        with self._lock:
            if key in self._items:
                self._drop(key)
            self._items[key] = (expires, payload)
            self._size += len(payload)
            while len(self._items) > self.max_entries or (self.max_bytes is not None and self._size > self.max_bytes):
                self._drop(next(iter(self._items)))

    def delete(self, key: str) -> None:
        with self._lock:
            if key in self._items:
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


class RedisCache(_JSONValues):
    """Shared by every process that uses the same Redis URL; keys live under ``kapfinder:cache:``."""

    shared = True

    def __init__(self, redis_url: str, prefix: str = PREFIX) -> None:
        import redis

        self.prefix = prefix
        self._client = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._errors = redis.RedisError
        self._warned = False

    def _failed(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("Redis cache unavailable (%s); serving without the shared cache.", exc.__class__.__name__)

    def get_bytes(self, key: str) -> bytes | None:
        try:
            payload = self._client.get(self.prefix + key)
        except self._errors as exc:
            self._failed(exc)
            return None
        self._warned = False
        return payload

    def set_bytes(self, key: str, data: bytes, ttl: int | None = DEFAULT_TTL_S) -> None:
        try:
            self._client.set(self.prefix + key, data, ex=ttl or None)
        except self._errors as exc:
            self._failed(exc)

    def delete(self, key: str) -> None:
        try:
            self._client.delete(self.prefix + key)
        except self._errors as exc:
            self._failed(exc)

    def clear(self) -> None:
        """Remove this cache's keys only (never FLUSHDB: the limiter may share the database)."""
        try:
            batch = []
            for key in self._client.scan_iter(match=self.prefix + "*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    self._client.delete(*batch)
                    batch.clear()
            if batch:
                self._client.delete(*batch)
        except self._errors as exc:
            self._failed(exc)


def get_cache(redis_url: str | None, *, prefix: str = PREFIX, max_entries: int = LOCAL_MAX_ENTRIES,
              max_bytes: int | None = None) -> Cache:
    """Redis-backed when ``redis_url`` is set, else an in-process LRU (``max_bytes``: of stored bytes)."""
    if redis_url:
        return RedisCache(redis_url, prefix=prefix)
    return LocalCache(max_entries=max_entries, max_bytes=max_bytes)
