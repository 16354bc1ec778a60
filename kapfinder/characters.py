"""Which characters a text typed by a person may hold. No Flask, no database, no other kapfinder module.

A leaf that both the listing rules and the accounts import, so neither depends on the other for it.
"""
from __future__ import annotations

import re

#: Refused in any text: C0 and C1 control characters except tab, line feed and carriage return, and
#: the bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) that make text read
#: differently from what it holds.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: Refused in a one-line value on top of that: tab, line breaks (U+2028/U+2029 too) and the
#: invisible zero-width characters (U+200B–U+200D, U+2060, U+FEFF) that make two names look alike.
_LINE_CONTROL = re.compile("[\t\n\r\u2028\u2029\u200b-\u200d\u2060\ufeff]")


def has_control(value: str) -> bool:
    """Whether a text (one that may run over several lines) holds a character no text accepts."""
    return CONTROL.search(value) is not None


def has_line_control(value: str) -> bool:
    """Whether a one-line value holds a character no one-line field accepts (a name, an address,
    an email address...). Accents, CJK and every other real letter pass."""
    return bool(CONTROL.search(value) or _LINE_CONTROL.search(value))
