"""The carrier coverage notes data file and its loader (no Flask)."""
from __future__ import annotations

import copy
import json
from datetime import date

import pytest

from kapfinder import vocab
from kapfinder.carrier_notes import NOTES_FILE, CarrierNotesError, all_notes, notes_for, parse


def raw() -> dict:
    return json.loads(NOTES_FILE.read_text(encoding="utf-8"))


def test_every_carrier_has_a_dated_sourced_note_for_every_service():
    notes = all_notes()
    assert set(notes) == set(vocab.CARRIERS.slugs)
    for carrier, entry in notes.items():
        assert entry.label == vocab.CARRIERS.label(carrier)
        assert date(2024, 1, 1) <= entry.as_of <= date.today()
        assert [s.service for s in entry.services] == list(vocab.SERVICES.slugs)
        for note in (entry.summary, *(s.note for s in entry.services)):
            assert note.text and "{carrier}" not in note.text
            assert note.sources, f"{carrier}: a note without a source"
            assert all(s.url.startswith("https://") and s.title for s in note.sources)


def test_carrier_name_is_put_into_shared_notes():
    assert "Aetna" in notes_for("aetna").summary.text
    assert "Cigna" in notes_for("cigna").summary.text


def test_the_facts_the_issue_names_are_there():
    tricare = notes_for("tricare")
    assert "TRICARE covers Spravato but not other forms of ketamine" in tricare.summary.text
    assert "prior authorisation" in tricare.services[0].note.text
    assert "does not cover racemic ketamine" in tricare.services[1].note.text
    aetna = notes_for("aetna")
    assert "PPO and POS plans usually pay" in aetna.summary.text and "HMO and EPO plans usually pay only" in aetna.summary.text
    assert "prior authorisation" in aetna.services[0].note.text
    assert "off-label" in aetna.services[1].note.text
    medicare = notes_for("medicare")
    assert "G2082" in medicare.services[0].note.text and "G2083" in medicare.services[0].note.text


def test_sources_are_listed_once_each():
    sources = notes_for("aetna").sources
    assert len({s.key for s in sources}) == len(sources)


def test_unknown_carrier_has_no_notes():
    assert notes_for("acme-health") is None


@pytest.mark.parametrize("break_it, complaint", [
    (lambda d: d["carriers"].__setitem__("acme", copy.deepcopy(d["carriers"]["aetna"])), "vocabulary"),
    (lambda d: d["carriers"]["aetna"]["services"].pop("evaluation"), "services missing"),
    (lambda d: d["notes"]["commercial-summary"].__setitem__("sources", ["nowhere"]), "unknown note or source"),
    (lambda d: d["notes"]["commercial-summary"].__setitem__("sources", []), "cites no source"),
    (lambda d: d["sources"]["irs-p969"].__setitem__("url", "http://www.irs.gov/"), "https"),
])
def test_an_inconsistent_file_is_refused(break_it, complaint):
    data = raw()
    break_it(data)
    with pytest.raises(CarrierNotesError, match=complaint):
        parse(data)
