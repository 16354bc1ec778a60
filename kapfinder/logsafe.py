"""Log lines nobody can forge: every character that ``repr()`` would escape (control characters such
as ``\\n``, ``\\r``, ``\\x1b``, and format or separator characters such as bidi overrides and
U+2028) is written as its escape, so a ``%0a`` in a URL can never start a new log line or repaint
a terminal. Letters of every script, accents and spaces stay as they are.

Backslashes are not doubled: a JSON line (the auth log) stays valid JSON.
"""
from __future__ import annotations

import logging

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_controls(text: str) -> str:
    """``"/a\\nb"`` → ``"/a\\\\nb"``: one line, whatever the input."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


class EscapeControls(logging.Filter):
    """Escapes the finished message (format string and arguments) of every record it sees.
    A traceback attached to the record is left as it is: it is ours, and meant to span lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


ESCAPE_CONTROLS = EscapeControls()

#: The loggers that write request data: the app's own (Flask's ``app.logger``), the request log,
#: the auth log.
REQUEST_LOGGERS = ("kapfinder", "kapfinder.request", "kapfinder.auth")


def install() -> None:
    """Escape control characters in every line the request-handling loggers write (idempotent)."""
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if ESCAPE_CONTROLS not in logger.filters:
            logger.addFilter(ESCAPE_CONTROLS)


def redacted_url(url: str | None) -> str | None:
    """A connection URL fit for a log line: no password."""
    if not url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy-style URL: keep only the scheme
        return url.split("://", 1)[0] + "://…"
