"""Babel extractors for the words that live in data files, not code (named in ``babel.cfg``):
every vocabulary's title, labels and descriptions (``data/vocab/*.json``) and every carrier note as
a page shows it (``data/carrier_notes.json``, ``{carrier}`` filled in). ``vocab_words`` translates
them at render time with the English text as the message id. Flask-free."""
from __future__ import annotations

import json
from typing import IO, Any, Iterator

Extracted = tuple[int, str | None, str, list[str]]


def _line_of(lines: list[str], text: str) -> int:
    needle = json.dumps(text, ensure_ascii=False)
    for number, line in enumerate(lines, start=1):
        if needle in line:
            return number
    return 1


def extract_vocabulary(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any) -> Iterator[Extracted]:
    """A vocabulary file: its title, and each term's label and description."""
    source = fileobj.read().decode("utf-8")
    raw = json.loads(source)
    lines = source.splitlines()
    yield _line_of(lines, raw["title"]), None, raw["title"], [f"vocabulary {raw['parameter']}: title"]
    for item in raw["items"]:
        yield _line_of(lines, item["label"]), None, item["label"], [f"{raw['parameter']} {item['slug']}: label"]
        if item.get("description"):
            yield (_line_of(lines, item["description"]), None, item["description"],
                   [f"{raw['parameter']} {item['slug']}: description"])


def extract_carrier_notes(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any) -> Iterator[Extracted]:
    """Each carrier note as the data file writes it: ``{carrier}`` stays, to be filled in with the
    carrier's name after translation (``carrier_notes.Note.translated``)."""
    source = fileobj.read().decode("utf-8")
    lines = source.splitlines()
    for key, note in json.loads(source)["notes"].items():
        comment = f"carrier note {key}" + (": {carrier} is the insurer's name" if "{carrier}" in note["text"] else "")
        yield _line_of(lines, note["text"]), None, note["text"], [comment]
