"""kapfinder's vocabularies published as HSDS taxonomies and terms (one taxonomy per vocabulary)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from .. import vocab
from .ids import taxonomy_id, term_id

TAXONOMY_PREFIX = "kapfinder:"

#: Listing facts that are not in a vocabulary file but are published as terms all the same.
LISTING = vocab.Vocabulary("listing", "Listing facts", [
    vocab.Term("sample", "Fictional sample listing",
               "Fictional sample data made by `flask sample load`: not a real clinic."),
    vocab.Term("accepting-new-patients", "Accepting new patients",
               "Whether the clinic accepts new patients (attribute value true or false, with its as-of date)."),
    vocab.Term("rems-certified", "REMS-certified",
               "The setting is certified under the Spravato REMS programme."),
    vocab.Term("vital-signs-monitoring", "Vital-signs monitoring",
               "Blood pressure, heart rate and oxygen are monitored during dosing."),
    vocab.Term("medical-screening", "Medical screening",
               "A medical screening takes place before treatment."),
])
#: The ``LISTING`` terms that are a clinic's safety flags: term slug → clinic column.
SAFETY_FLAGS = {"rems-certified": "rems_certified", "vital-signs-monitoring": "vital_signs_monitoring",
                "medical-screening": "medical_screening"}

#: kapfinder's published taxonomies, one per vocabulary, in this order.
TAXONOMY_VOCABS: tuple[vocab.Vocabulary, ...] = (
    vocab.SERVICES, vocab.METHODS, vocab.SETTINGS, vocab.CONDITIONS, vocab.THERAPY, vocab.THERAPY_EXTRAS,
    vocab.CARRIERS, vocab.PLAN_TYPES, vocab.NETWORKS, vocab.PAYMENT_OPTIONS, vocab.PRESCRIBER_TYPES,
    vocab.THERAPIST_LICENSES, LISTING,
)
VOCAB_BY_NAME = {v.name: v for v in TAXONOMY_VOCABS}


def taxonomy_doc(v: vocab.Vocabulary) -> dict[str, Any]:
    return dict(_taxonomy_doc(v.name, v.title))


@lru_cache(maxsize=None)
def _taxonomy_doc(name: str, title: str) -> dict[str, Any]:
    return {"id": taxonomy_id(name), "name": TAXONOMY_PREFIX + name, "description": title, "version": "1"}


_TERM_DOCS: dict[tuple[str, str], dict[str, Any]] = {}


def term_doc(v: vocab.Vocabulary, slug: str) -> dict[str, Any]:
    """The term as HSDS publishes it (built once per term: every attribute of an export nests one)."""
    key = (v.name, slug)
    doc = _TERM_DOCS.get(key)
    if doc is None:
        t = v.term(slug)
        doc = _TERM_DOCS[key] = {
            "id": term_id(v.name, slug), "code": slug, "name": t.label, "description": t.description or t.label,
            "taxonomy": TAXONOMY_PREFIX + v.name, "taxonomy_detail": _taxonomy_doc(v.name, v.title),
            "language": "en", "taxonomy_id": taxonomy_id(v.name)}
    return {**doc, "taxonomy_detail": dict(doc["taxonomy_detail"])}


def all_taxonomies() -> list[dict[str, Any]]:
    return [taxonomy_doc(v) for v in TAXONOMY_VOCABS]


def all_terms() -> list[dict[str, Any]]:
    return [term_doc(v, s) for v in TAXONOMY_VOCABS for s in v.slugs]


@lru_cache(maxsize=1)
def term_index() -> dict[str, tuple[str, str]]:
    """Term id → (vocabulary name, slug)."""
    return {term_id(v.name, s): (v.name, s) for v in TAXONOMY_VOCABS for s in v.slugs}


@lru_cache(maxsize=1)
def taxonomy_index() -> dict[str, str]:
    """Taxonomy id → vocabulary name."""
    return {taxonomy_id(v.name): v.name for v in TAXONOMY_VOCABS}
