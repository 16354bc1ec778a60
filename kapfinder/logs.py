"""Where kapfinder's own log lines go, set up once by ``create_app`` before anything logs.

- ``kapfinder.request``: one line per request (method, path, status, time; never a query string);
- ``kapfinder.auth``: one JSON line per account event (``auth.log_event``);
- ``kapfinder.serving`` and Flask-Limiter's: start-up notes, and Redis outages.

Each writes to stderr through its own handler (``to_stderr``) and does not propagate, so a line is
written once. Werkzeug's access log, which prints query strings (a patient's search), is silenced,
and the request-handling loggers escape control characters (``logsafe``). Under test no handler is
attached: pytest's ``caplog`` reads the records.
"""
from __future__ import annotations

import logging
from typing import Any

from . import logsafe

#: Each log's line format, by logger name; the loggers after the first share its handler.
FORMATS: dict[tuple[str, ...], str] = {
    ("kapfinder.request",): "%(asctime)s %(message)s",
    ("kapfinder.auth",): "%(message)s",
    ("kapfinder.serving", "flask-limiter"): "%(asctime)s %(levelname)s %(name)s: %(message)s",
}


def to_stderr(line_format: str, *names: str) -> None:
    """One stderr handler writing ``line_format``, shared by the named loggers (INFO and up, not
    propagated) — unless the first already has a handler (a second app in the same process)."""
    loggers = [logging.getLogger(name) for name in names]
    if loggers[0].handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(line_format))
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def configure(app: Any) -> None:
    """``app`` is the Flask app (only ``app.testing`` is read)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logsafe.install()  # a %0a in a path must never start a forged log line
    if app.testing:
        logging.getLogger("kapfinder.auth").setLevel(logging.INFO)
        return
    for names, line_format in FORMATS.items():
        to_stderr(line_format, *names)
