"""What each carrier typically covers for KAP, per service, with as-of dates and sources.

Read from ``data/carrier_notes.json``; Flask-free. Notes are shared between carriers by key and
``{carrier}`` in a note's text is the carrier's name. Sources are only ever shown as links.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from . import vocab

NOTES_FILE = vocab.DATA_DIR / "carrier_notes.json"


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    publisher: str
    url: str


@dataclass(frozen=True)
class Note:
    text: str
    sources: tuple[Source, ...]
    #: The note as the data file writes it (``{carrier}`` not yet filled in): the translation
    #: catalogue's message id, so each note is translated once for every carrier.
    template: str = ""
    carrier_label: str = ""

    def translated(self, gettext) -> str:
        """The note through ``gettext`` (a translation function), the carrier's name filled in."""
        if not self.template:
            return gettext(self.text)
        return gettext(self.template).replace("{carrier}", self.carrier_label)


@dataclass(frozen=True)
class ServiceNote:
    service: str
    note: Note


@dataclass(frozen=True)
class CarrierNotes:
    carrier: str
    label: str
    as_of: date
    summary: Note
    services: tuple[ServiceNote, ...]  # vocabulary order, every service

    @property
    def sources(self) -> tuple[Source, ...]:
        """Every source behind this carrier's notes, each once, in order of first use."""
        seen: dict[str, Source] = {}
        for note in (self.summary, *(s.note for s in self.services)):
            for source in note.sources:
                seen.setdefault(source.key, source)
        return tuple(seen.values())


class CarrierNotesError(ValueError):
    """The data file is inconsistent (unknown carrier, service, note or source)."""


def parse(raw: dict) -> dict[str, CarrierNotes]:
    sources = {key: Source(key, s["title"], s["publisher"], s["url"]) for key, s in raw["sources"].items()}
    for source in sources.values():
        if not source.url.startswith("https://"):
            raise CarrierNotesError(f"source {source.key}: url must be https")

    def note(key: str, carrier_label: str) -> Note:
        try:
            entry = raw["notes"][key]
            cited = tuple(sources[k] for k in entry["sources"])
        except KeyError as exc:
            raise CarrierNotesError(f"note {key}: unknown note or source {exc}") from None
        if not cited:
            raise CarrierNotesError(f"note {key}: cites no source")
        return Note(entry["text"].replace("{carrier}", carrier_label), cited, entry["text"], carrier_label)

    out: dict[str, CarrierNotes] = {}
    for carrier, entry in raw["carriers"].items():
        if carrier not in vocab.CARRIERS:
            raise CarrierNotesError(f"carrier {carrier}: not in the insurance vocabulary")
        label = vocab.CARRIERS.label(carrier)
        missing = set(vocab.SERVICES.slugs) - set(entry["services"])
        extra = set(entry["services"]) - set(vocab.SERVICES.slugs)
        if missing or extra:
            raise CarrierNotesError(f"carrier {carrier}: services missing {sorted(missing)} or unknown {sorted(extra)}")
        out[carrier] = CarrierNotes(
            carrier=carrier, label=label, as_of=date.fromisoformat(entry["as_of"]),
            summary=note(entry["summary"], label),
            services=tuple(ServiceNote(s, note(entry["services"][s], label)) for s in vocab.SERVICES.slugs),
        )
    return out


@lru_cache(maxsize=1)
def all_notes() -> dict[str, CarrierNotes]:
    return parse(vocab.read_data(NOTES_FILE.name))


def notes_for(carrier: str) -> CarrierNotes | None:
    """The notes for a carrier slug, or None when there are none (an unknown carrier)."""
    return all_notes().get(carrier)
