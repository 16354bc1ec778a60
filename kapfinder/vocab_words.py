"""Vocabulary labels and descriptions as a reader sees them: through the translation catalogue, at
render time. The vocabularies themselves (``kapfinder.vocab``) stay English and Flask-free, and so
does everything cached across requests (the search index, cards, cached responses): only a page, a
form or ``/api/v1/taxonomy?lang=es`` translates. ``tools/extract_vocab.py`` puts every label,
description and carrier note into the catalogue.
"""
from __future__ import annotations

from typing import Any, Iterator

from flask_babel import gettext, lazy_gettext

from . import vocab
from .vocab import Term, Vocabulary


def text(english: str | None) -> str:
    """A data string (label, description, note) in the page's language; "" stays ""."""
    if not english:
        return english or ""
    # No %-formatting: a data string is shown as it is (gettext without variables does none).
    return gettext(english)


def label(vocabulary: Vocabulary, slug: str) -> str:
    return text(vocabulary.label(slug)) if slug in vocabulary else slug


def description(vocabulary: Vocabulary, slug: str) -> str:
    return text(vocabulary.term(slug).description) if slug in vocabulary else ""


def place(location: Any) -> str:
    """A resolved search location as the reader names it: a state's name translated ("Nueva York"),
    any other place as geo labels it ("Austin, TX", a ZIP code)."""
    if location is None:
        return ""
    if getattr(location, "kind", None) == "state" and location.state in vocab.STATES:
        return label(vocab.STATES, location.state)
    return location.label


def lazy_choices(vocabulary: Vocabulary) -> list[tuple[str, Any]]:
    """``(slug, label)`` pairs whose labels translate when shown (safe in a form class body)."""
    return [(t.slug, lazy_gettext(t.label)) for t in vocabulary.terms]


def choices(vocabulary: Vocabulary) -> list[tuple[str, str]]:
    return [(t.slug, text(t.label)) for t in vocabulary.terms]


def as_json(vocabulary: Vocabulary) -> list[dict[str, str]]:
    return [{"slug": t.slug, "label": text(t.label), "description": text(t.description)} for t in vocabulary.terms]


class ShownTerm:
    """A term whose label and description read in the page's language."""

    def __init__(self, term: Term):
        self.slug = term.slug
        self._term = term

    @property
    def label(self) -> str:
        return text(self._term.label)

    @property
    def description(self) -> str:
        return text(self._term.description)


class ShownVocabulary:
    """What templates see as ``vocab.METHODS`` etc.: the vocabulary, with translated words."""

    def __init__(self, vocabulary: Vocabulary):
        self._vocabulary = vocabulary
        self.name = vocabulary.name
        self.slugs = vocabulary.slugs

    @property
    def title(self) -> str:
        return text(self._vocabulary.title)

    def __iter__(self) -> Iterator[ShownTerm]:
        return (ShownTerm(t) for t in self._vocabulary.terms)

    def __contains__(self, slug: object) -> bool:
        return slug in self._vocabulary

    def __len__(self) -> int:
        return len(self._vocabulary)

    def label(self, slug: str) -> str:
        return label(self._vocabulary, slug)

    def labels(self, slugs) -> list[str]:
        return [label(self._vocabulary, slug) for slug in slugs]

    def term(self, slug: str) -> ShownTerm:
        return ShownTerm(self._vocabulary.term(slug))

    def choices(self) -> list[tuple[str, str]]:
        return choices(self._vocabulary)

    def ordered(self, slugs) -> list[str]:
        return self._vocabulary.ordered(slugs)


class ShownNames(dict):
    """A slug → English name mapping (``vocab.STATE_NAMES``) whose ``get``/``[]`` translate."""

    def __getitem__(self, key: str) -> str:
        return text(super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[key] if key in self else default


class ShownVocab:
    """The ``vocab`` templates read: ``kapfinder.vocab`` with every vocabulary's words translated."""

    def __init__(self) -> None:
        self._wrapped: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._wrapped:
            value = getattr(vocab, name)
            if isinstance(value, Vocabulary):
                value = ShownVocabulary(value)
            elif name == "STATE_NAMES":
                value = ShownNames(value)
            self._wrapped[name] = value
        return self._wrapped[name]


SHOWN = ShownVocab()
