"""What serving behind a proxy, on one process or many, needs beyond the app factory.

``configure(app)`` (called once from ``create_app``; calling it again does nothing):

- trusts ``X-Forwarded-For/-Proto/-Host/-Port`` from exactly ``KAPFINDER_PROXY_HOPS`` proxies
  (0, the default: trust none, so a client cannot forge its address to dodge a rate limit);
- ``TRUSTED_HOSTS`` and ``MAX_CONTENT_LENGTH`` are enforced by Flask itself from ``app.config``,
  except a chunked body (no Content-Length), which Werkzeug would quietly cut short at the limit:
  ``ChunkedBodyLimit`` reads at most one byte past the limit and the request is refused with 413;
- counts sign-in, sign-up and reset attempts in Redis or the database (``throttle``);
- puts the shared cache (Redis or in-process, see ``cache.py``) at ``app.extensions["kapfinder_cache"]``;
- says in the log, once per process at start-up, whether rate limits and cache are shared
  through Redis or kept in this process only.

``PrivateLogger`` is gunicorn's logger with query strings removed from every line it writes and
control characters escaped in what a request brings.
"""
from __future__ import annotations

import io
import logging
import os
import re
from typing import Any, Mapping

import orjson
from flask import Flask, abort, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from . import throttle
from .cache import get_cache
from .logsafe import escape_controls, redacted_url

log = logging.getLogger("kapfinder.serving")

_QUERY = re.compile(r"(/[^\s?'\"]*)\?[^\s'\"]*")


def strip_query_strings(text: str) -> str:
    """``GET /search?location=78701 HTTP/1.1`` → ``GET /search HTTP/1.1``: a patient's search stays out of logs."""
    return _QUERY.sub(r"\1", text)


RESPONSE_PREFIX = "kapfinder:response:"
#: Whole API responses kept per process without Redis, zlib-compressed: at most this many, in at
#: most this many bytes (a page of 20 results, ~40 KB of JSON, is stored in ~6 KB: ~1.5 MB in all).
RESPONSE_CACHE_ENTRIES = 256
RESPONSE_CACHE_BYTES = 4 * 1024 * 1024


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON, encoded by orjson (several times faster on a page of results), with the same
    sorted keys and Flask's own fallback for any type orjson does not know."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs.get("indent") is None:
            try:
                return orjson.dumps(obj, default=self.default,
                                    option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
            except TypeError:
                pass
        return super().dumps(obj, **kwargs)


TOO_LARGE = "kapfinder.body_too_large"


class ChunkedBodyLimit:
    """WSGI middleware: a body sent without Content-Length is read here, never more than
    ``MAX_CONTENT_LENGTH + 1`` bytes. Within the limit the app sees it as an ordinary body with its
    length; over it the app sees no body and ``environ[TOO_LARGE]``, and answers 413 (see
    ``configure``) without reading on. gunicorn closes the connection rather than drain the rest."""

    def __init__(self, wsgi_app, config) -> None:
        self.wsgi_app = wsgi_app
        self.config = config

    def __call__(self, environ, start_response):
        limit = self.config.get("MAX_CONTENT_LENGTH")
        if limit is not None and not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input") is not None \
                and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            stream, parts, size = environ["wsgi.input"], [], 0
            while size <= limit:
                part = stream.read(min(65536, limit + 1 - size))
                if not part:
                    break
                parts.append(part)
                size += len(part)
            body = b"" if size > limit else b"".join(parts)
            if size > limit:
                environ[TOO_LARGE] = True
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.wsgi_app(environ, start_response)


def _refuse_oversized_body() -> None:
    if request.environ.get(TOO_LARGE):
        abort(413)


def configure(app: Flask) -> None:
    if app.extensions.get("kapfinder_serving"):
        return
    app.extensions["kapfinder_serving"] = True

    hops = int(app.config.get("PROXY_HOPS") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]

    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, app.config)  # type: ignore[method-assign]
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_oversized_body)  # before CSRF reads the form

    redis_url = app.config.get("REDIS_URL")
    app.extensions["kapfinder_cache"] = get_cache(redis_url)
    # Whole API search responses (views/api.py): a few hundred per process, or shared in Redis.
    app.extensions["kapfinder_response_cache"] = get_cache(redis_url, prefix=RESPONSE_PREFIX,
                                                           max_entries=RESPONSE_CACHE_ENTRIES,
                                                           max_bytes=RESPONSE_CACHE_BYTES)
    app.json = FastJSONProvider(app)

    throttle.init_app(app)

    storage = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    if storage.startswith("memory://"):
        log.warning(
            "No KAPFINDER_REDIS_URL: rate limits and the cache live in this process only "
            "(sign-in, sign-up and password-reset limits are shared through the database); "
            "set KAPFINDER_REDIS_URL to share the others.")
    else:
        log.info("Rate limits and the cache are shared through %s.", redacted_url(storage))
    if hops:
        log.info("Trusting forwarded headers from %d proxy hop(s).", hops)


try:  # gunicorn is a runtime dependency, but the app itself must import without it
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover
    _GunicornLogger = object  # type: ignore[assignment,misc]


class PrivateLogger(_GunicornLogger):  # type: ignore[misc,valid-type]
    """gunicorn's logger, except that no line it writes carries a query string or a raw control
    character from a request.

    The access log format already leaves the query out (``%(U)s``); this also covers the
    error lines gunicorn writes itself ("Error handling request /search?location=...",
    "Invalid request from ip=...: ... '/search?...'"). Every value of the access log and every
    argument of an error line (the request's path, say) has its control characters escaped, so a
    ``%0a`` in a path cannot start a forged line; gunicorn's own message text and tracebacks stay
    as they are.
    """

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        # Every error-log method (critical … debug, exception, log) writes through this logger.
        if not any(isinstance(f, _PrivateLines) for f in self.error_log.filters):
            self.error_log.addFilter(_PrivateLines())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: escape_controls(value) if isinstance(value, str) else value
                for key, value in atoms.items()}


def private_line(msg: Any, args: tuple | Mapping[str, Any]) -> str:
    """An error-log line as written: its arguments with control characters escaped, then the whole
    line without query strings."""
    text = str(msg)
    if args:
        if isinstance(args, Mapping):
            args = {key: escape_controls(value) if isinstance(value, str) else value for key, value in args.items()}
        else:
            args = tuple(arg if isinstance(arg, (int, float)) else escape_controls(str(arg)) for arg in args)
        try:
            text = text % args
        except (TypeError, ValueError, KeyError):
            text = " ".join([text, *map(str, args.values() if isinstance(args, Mapping) else args)])
    return strip_query_strings(text)


class _PrivateLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = private_line(record.msg, record.args), ()
        return True


def warm_search_index(app: Flask) -> None:
    """Build the in-memory search index now: gunicorn's master calls this before it forks its
    workers (``preload_app``), so the index is built once per machine instead of by each worker's
    first patient, and its arrays are shared copy-on-write by every worker. The master's database
    connections are closed afterwards: a worker must never share one."""
    if not app.config.get("SEARCH_INDEX", True):
        return
    from .extensions import db
    from .search.registry import warm

    with app.app_context():
        try:
            snapshot = warm(db.engine)
            if snapshot is not None:
                _preload_summaries(db.session, db.engine, snapshot)
        except Exception:  # a database that is not there yet: the first search builds it
            logging.getLogger(__name__).exception("search index: warm-up failed")
        finally:
            db.session.remove()
            db.engine.dispose()
    _return_freed_memory()


def _preload_summaries(session: Any, engine: Any, snapshot: Any) -> None:
    """Every indexed clinic's pre-encoded API result (search.summaries), shared by the workers
    copy-on-write like the index: their JSON searches then read no clinic rows.

    The entries are made in a forked child and come back packed (three large buffers): made here,
    the 100,000 cards they are made from would leave the master's heap full of holes, which each
    worker's own allocations would then fill, copying those pages into every worker."""
    import time

    import numpy as np

    from .search.freshness import TOKEN_SQL, token_of
    from .search.summaries import PRELOAD_LIMIT, store_for

    if snapshot.n > PRELOAD_LIMIT:
        log.info("search index: %s clinics, over %s: API results are encoded as searches read them",
                 f"{snapshot.n:,}", f"{PRELOAD_LIMIT:,}")
        return
    started = time.perf_counter()
    store = store_for(snapshot)
    ids = snapshot.id_at(np.arange(snapshot.n))

    def fill() -> bool:
        try:
            return store.preload(session, ids, TOKEN_SQL, fresh=lambda rows: token_of(rows) == snapshot.token)
        finally:
            session.rollback()

    done = _in_child(engine, fill, store) if hasattr(os, "fork") else fill()
    log.info("search index: %s API results pre-encoded in %.1f s%s", f"{len(store):,}",
             time.perf_counter() - started, "" if done else " (not kept: the directory changed meanwhile)")


def _in_child(engine: Any, fill: Any, store: Any) -> bool:
    """``fill()`` in a forked child; the store's packed buffers come back through a pipe."""
    import pickle

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 1
        try:
            os.close(read_end)
            engine.dispose(close=False)  # the parent's connections stay the parent's
            done = fill()
            data = pickle.dumps((done, store.packed() if done else None), protocol=5)
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as incoming:
        data = incoming.read()
    _pid, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        raise RuntimeError("the pre-encoding child failed")
    done, packed = pickle.loads(data)
    if done:
        store.unpack(packed)
    return done


def _return_freed_memory() -> None:
    """Hand the heap a build freed back to the system (glibc keeps it otherwise), so forked
    workers do not start with tens of MB of dead pages."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass
