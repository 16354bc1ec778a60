"""The controlled vocabularies of DESIGN.md, read from one JSON file each in ``data/vocab/``.

Every form, filter, model helper, the API taxonomy, the OpenAPI document and the HSDS export
read slugs and labels from here. Bit positions used by the search index follow the order in
the file, so new slugs are appended, never inserted.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator

#: kapfinder's own data files (vocabularies, carrier notes, the HSDS schema, common passwords).
DATA_DIR = Path(__file__).parent / "data"
VOCAB_DIR = DATA_DIR / "vocab"


def read_data(name: str) -> Any:
    """A JSON file under ``data/``, e.g. ``read_data("vocab/method.json")``."""
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Term:
    slug: str
    label: str
    description: str


class Vocabulary:
    def __init__(self, name: str, title: str, terms: Iterable[Term]):
        self.name = name
        self.title = title
        self.terms: tuple[Term, ...] = tuple(terms)
        self._by_slug = {t.slug: t for t in self.terms}
        self._bit = {t.slug: 1 << i for i, t in enumerate(self.terms)}
        self._position = {t.slug: i for i, t in enumerate(self.terms)}
        self._unmasked: dict[int, tuple[str, ...]] = {}  # every search result unmasks the same few masks

    def __iter__(self) -> Iterator[Term]:
        return iter(self.terms)

    def __contains__(self, slug: object) -> bool:
        return slug in self._by_slug

    def __len__(self) -> int:
        return len(self.terms)

    @cached_property
    def slugs(self) -> tuple[str, ...]:
        return tuple(t.slug for t in self.terms)

    def label(self, slug: str) -> str:
        return self._by_slug[slug].label

    def labels(self, slugs: Iterable[str]) -> list[str]:
        return [self.label(s) for s in slugs]

    def term(self, slug: str) -> Term:
        return self._by_slug[slug]

    def choices(self) -> list[tuple[str, str]]:
        return [(t.slug, t.label) for t in self.terms]

    def ordered(self, slugs: Iterable[str]) -> list[str]:
        """The given slugs, known ones only, without repeats, in vocabulary order."""
        position = self._position
        return sorted({s for s in slugs if s in position}, key=position.__getitem__)

    def mask(self, slugs: Iterable[str]) -> int:
        m = 0
        for s in slugs:
            m |= self._bit[s]
        return m

    def unmask(self, mask: int) -> list[str]:
        slugs = self._unmasked.get(mask)
        if slugs is None:
            slugs = tuple(s for s in self.slugs if mask & self._bit[s])
            if len(self._unmasked) < 4096:
                self._unmasked[mask] = slugs
        return list(slugs)

    def as_json(self) -> list[dict[str, str]]:
        return [{"slug": t.slug, "label": t.label, "description": t.description} for t in self.terms]


def _load(name: str) -> Vocabulary:
    raw = read_data(f"vocab/{name}.json")
    return Vocabulary(raw["parameter"], raw["title"], (Term(**item) for item in raw["items"]))


METHODS = _load("method")
SETTINGS = _load("setting")
CARRIERS = _load("insurance")
PLAN_TYPES = _load("plan_type")
SERVICES = _load("service")
NETWORKS = _load("network")
CONDITIONS = _load("condition")
THERAPY = _load("therapy")
THERAPY_EXTRAS = _load("therapy_extra")
PRESCRIBER_TYPES = _load("prescriber_type")
THERAPIST_LICENSES = _load("therapist_license")
STATUSES = _load("status")
SORTS = _load("sort")
PAYMENT_OPTIONS = _load("payment_option")
STATES = _load("state")
#: Languages of care: ISO 639-1 codes (ASL, which has none, as ISO 639-3 ``ase``).
LANGUAGES = _load("language")

#: The vocabularies published by ``/api/v1/taxonomy``, keyed by their parameter name.
TAXONOMY: dict[str, Vocabulary] = {
    v.name: v
    for v in (METHODS, SETTINGS, CARRIERS, PLAN_TYPES, SERVICES, NETWORKS, CONDITIONS, THERAPY,
              THERAPY_EXTRAS, PRESCRIBER_TYPES, THERAPIST_LICENSES, PAYMENT_OPTIONS, LANGUAGES, SORTS)
}

RACEMIC_METHODS = ("iv", "im", "oral", "ketamine-nasal")


def services_offered(methods: Iterable[str], therapy: str | None, offers_evaluation: bool) -> list[str]:
    """The covered-service slugs a clinic offers (DESIGN.md, Precise rules → Insurance)."""
    methods = set(methods)
    offered = set()
    if "esketamine-nasal" in methods:
        offered.add("esketamine")
    if methods.intersection(RACEMIC_METHODS):
        offered.add("ketamine")
    if therapy and therapy != "medication-only":
        offered.add("psychotherapy")
    if offers_evaluation:
        offered.add("evaluation")
    return SERVICES.ordered(offered)


STATE_NAMES = {t.slug: t.label for t in STATES}
