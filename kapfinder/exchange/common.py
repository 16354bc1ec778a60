"""Pieces shared by exports and imports: CSV cell safety, value formats, problem reports and the
import's report."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any


try:  # about thirty times faster than the pure-Python indenting encoder; the same output here
    import orjson
except ImportError:  # pragma: no cover
    orjson = None

FORMATS = ("csv", "hsds-json", "hsds-csv")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
FLAT_CSV_NAME = "kapfinder.csv"
LICENSE_NAME = "LICENSE.txt"


def escape_cell(text: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula (docs/HSDS.md → Exports).

    A plain number (``-97.7431``) stays as it is; a cell already starting with ``'`` gets one more so
    that ``unescape_cell`` gives back exactly the original.
    """
    if text and text[0] in _ESCAPED_FIRST and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


_ESCAPED_FIRST = frozenset(FORMULA_START + ("'",))


def unescape_cell(text: str) -> str:
    """Remove exactly the prefix ``escape_cell`` adds."""
    if len(text) > 1 and text[0] == "'" and (text[1] in FORMULA_START or text[1] == "'"):
        return text[1:]
    return text


def dump_json(doc: Any) -> bytes:
    """A document as UTF-8 JSON indented by two spaces, with a final newline.

    With orjson the bytes equal ``json.dumps(doc, ensure_ascii=False, indent=2)``'s for every
    document kapfinder writes (strings, integers, coordinates and other plain decimals).
    """
    if orjson is not None:
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def format_number(value: float | int) -> str:
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers here")
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 datetime; a naive one is taken as UTC. Raises ValueError."""
    value = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_date(text: str) -> date:
    return date.fromisoformat(text.strip())


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (file and line, or file and JSON pointer), which field, what."""

    where: str
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}" if self.field else f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Skipped:
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: skipped: {self.reason}"




@dataclass(frozen=True)
class Waiting:
    """An existing listing whose imported changes wait for a moderator."""

    where: str
    clinic_id: str
    reason: str
    fields: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: changes wait for a moderator ({self.reason}): {', '.join(self.fields)}"


@dataclass
class ImportReport:
    format: str
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Listings whose changes wait for a moderator as a pending revision (owned, or published
    #: and imported without ``--publish``).
    waiting: list[Waiting] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def license_text(license_name: str, attribution: str | None, base_url: str) -> str:
    lines = [
        "kapfinder open data",
        "",
        f"Licence: {license_name}",
    ]
    if license_name.upper().startswith("CC-BY-4.0"):
        lines.append("https://creativecommons.org/licenses/by/4.0/")
    if attribution:
        lines.append(f"Attribution: {attribution}")
    lines += [
        f"Source: {base_url}",
        "",
        "The HSDS formats follow the Open Referral Human Services Data Specification 3.0",
        "(https://openreferral.org/, CC BY-SA 4.0). Listings marked as sample are fictional.",
        "",
    ]
    return "\n".join(lines)
