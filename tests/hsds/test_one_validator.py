"""One validator for listings: an import can never store what the owner's form refuses.

Hypothesis draws listings from pools of valid and broken values for every field. Each listing is
submitted as the owner's form submits it (``listings.create_listing``) and written as a flat CSV
row and as an HSDS JSON organization, which the real importer (``run_import``) reads. Both must
accept it or both refuse it, and what each stores must be the same listing.
"""
from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fixtures.clinics import build_clinic
from kapfinder import hsds, listings, vocab
from kapfinder.bulk import delete_clinics
from kapfinder.exchange import flat, schemas
from kapfinder.exchange.common import escape_cell
from kapfinder.exchange.importer import run_import
from kapfinder.models import Clinic

EXAMPLES = 200  # fixed and bounded (DESIGN.md → Tests): about a minute on SQLite

#: Any text a person types (letters, marks, digits, punctuation, symbols, spaces), and any text at all.
typed = st.text(st.characters(categories=("L", "M", "N", "P", "S"), include_characters=" "), max_size=30)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


def some(values, min_size=0, max_size=3):
    return st.lists(st.sampled_from(values), min_size=min_size, max_size=max_size, unique=True)


#: For each field, values the form takes and values it refuses (alone, or with the rest of the listing).
VALID = {
    "name": st.one_of(st.sampled_from(["Calm Harbor Ketamine", "  Padded  Name ", "=SUM(A1)", "Café Ünïcode"]),
                      typed.map(lambda t: "Clinic " + t)),
    "description": st.one_of(typed, st.just("Line one\r\nline two\ttabbed")),
    "street": st.sampled_from(["100 Congress Ave", "7 Lamar Blvd, Suite 2"]),
    "city": st.just("Austin"),
    "address": st.sampled_from([("TX", "78701"), ("TX", "78701-1234"), ("NY", "10001"), ("tx", "787011234")]),
    "coordinates": st.sampled_from([(None, None), ("30.2672", "-97.7431"), (" 30.27 ", "-97.74")]),
    "phone": st.sampled_from(["(512) 555-0100", "512-555-0199", "+1 212 555 0142"]),
    "website": st.sampled_from(["https://www.calmharbor.example", "", "HTTP://Calm.Example/About",
                                "calmharbor.example"]),
    "email": st.sampled_from(["care@calmharbor.example", "", "Care@CalmHarbor.EXAMPLE"]),
    "npi": st.sampled_from(["1234567893", "", " 1000000020 "]),
    "therapy": st.sampled_from(list(vocab.THERAPY.slugs)),
    "hours_note": st.one_of(st.just(""), typed),
}
BROKEN = {
    "name": st.sampled_from(["", "x" * 201, "Calm\nHarbor", "Calm\rHarbor", "Calm\tHarbor", "Calm\x07Harbor",
                             "Calm\x85Harbor", "Calm\x00Harbor"]),
    "description": st.one_of(st.sampled_from(["d" * 5001, "\x0bbad", "nul\x00"]), text),
    "street": st.sampled_from(["", "s" * 201, "1 Main St\nApt 2"]),
    "city": st.sampled_from(["", "c" * 101]),
    "address": st.sampled_from([("TX", "10001"), ("ZZ", "78701"), ("", "78701"), ("TX", "00000"), ("TX", "7870"),
                                ("TX", ""), ("TX", "78701-12345")]),
    "coordinates": st.sampled_from([("123", "-97.7"), ("30.2", None), ("abc", "-97"), ("nan", "1"),
                                    (None, "-97.7"), ("30.2", "-181")]),
    "phone": st.sampled_from(["", "555", "+44 20 7123 4567", "call us"]),
    "website": st.sampled_from(["javascript:alert(1)", "https://user:pw@calm.example", "ftp://calm.example",
                                "https://localhost", "https://calm.example/a b"]),
    "email": st.sampled_from(["nope", "care@" + "a" * 64 + ".example"]),
    "npi": st.sampled_from(["1234567890", "1\uff1234567893", "123456789", "3234567893"]),
    "therapy": st.sampled_from(["", "laser"]),
    "hours_note": st.just("n" * 501),
}
#: Rules that join several fields: drawn broken, the listing contradicts itself.
JOINT = ("methods", "settings", "rems", "hours", "insurance", "prices", "lists", "interpreters")
TIMES = ["08:00", "08:30", "09:00", "12:00", "12:30", "13:00", "17:00", "18:00"]


@st.composite
def listings_drawn(draw) -> dict:
    """A listing with none, one or two things wrong."""
    broken = draw(st.one_of(st.just(set()), st.sets(st.sampled_from(sorted(VALID) + list(JOINT)), max_size=2)))

    def pick(name):
        return draw(BROKEN[name] if name in broken else VALID[name])

    data = {name: pick(name) for name in ("name", "description", "street", "city", "phone", "website", "email",
                                           "npi", "therapy", "hours_note")}
    data["state"], data["zip"] = pick("address")
    data["lat"], data["lon"] = pick("coordinates")
    data["methods"] = draw(st.sampled_from([[], ["laser"], ["iv", "ketamine-inhaled"]]) if "methods" in broken
                           else some(["iv", "im", "oral", "esketamine-nasal", "ketamine-nasal"], 1, 3))
    data["rems_certified"] = "rems" not in broken and ("esketamine-nasal" in data["methods"] or draw(st.booleans()))
    data["settings"] = draw(some(["in-clinic", "at-home"], 1, 2))
    states = draw(some(["TX", "CA", "tx", "PR"], 1, 3))
    data["at_home_states"] = states if "at-home" in data["settings"] else []
    if "settings" in broken:
        data["settings"], data["at_home_states"] = draw(st.sampled_from(
            [([], []), (["at-home"], []), (["in-clinic"], states), (["in-clinic", "at-home"], ["XX"])]))
    lists = {"conditions": some(["depression", "ptsd", "anxiety"]), "therapy_extras": some(["mindfulness", "somatic"]),
             "prescriber_types": some(["md", "np"]), "therapist_licenses": some(["lcsw", "lmft"]),
             "languages": some(["en", "es", "ase", "vi", "zh", "ES"], 0, 3)}
    for name, strategy in lists.items():
        data[name] = draw(strategy)
    if "lists" in broken:
        name = draw(st.sampled_from(sorted(lists)))
        data[name] = data[name] + ["laser"]
    for name in ("offers_evaluation", "sliding_scale", "financing", "superbill", "hsa_fsa", "vital_signs_monitoring",
                 "medical_screening"):
        data[name] = draw(st.booleans())
    data["accepting_new_patients"] = draw(st.sampled_from([True, False, None]))
    data["interpreter_services"] = draw(st.booleans())
    data["interpreter_languages"] = draw(some(["es", "ase", "ar", "so"], 0, 2)) if data["interpreter_services"] else []
    if "interpreters" in broken:  # interpreter languages without interpreter services
        data["interpreter_services"], data["interpreter_languages"] = False, ["es"]

    days = draw(some(list(listings.DAYS), 0, 4))
    hours = []
    for day in days:
        opens, closes = sorted(draw(some(TIMES, 2, 2)))
        hours.append({"day": day, "opens": opens, "closes": closes})
    if "hours" in broken:
        hours.append(draw(st.sampled_from([
            {"day": "xx", "opens": "09:00", "closes": "17:00"}, {"day": "mo", "opens": "17:00", "closes": "09:00"},
            {"day": "tu", "opens": "9:00", "closes": "17:00"}, {"day": "we", "opens": "25:00", "closes": "26:00"},
            {"day": "th", "opens": "", "closes": "17:00"}])))
        if days:  # or two opening times of one day that overlap
            hours.append(draw(st.sampled_from([hours[0], {"day": days[0], "opens": "08:00", "closes": "23:00"}])))
    data["hours"] = hours

    offered = vocab.services_offered([m for m in data["methods"] if m in vocab.METHODS],
                                     data["therapy"] if data["therapy"] in vocab.THERAPY else None,
                                     data["offers_evaluation"]) or ["ketamine"]
    rows = draw(st.lists(st.fixed_dictionaries({
        "carrier": st.sampled_from(["aetna", "cigna", "bcbs"]), "service": st.sampled_from(offered),
        "network": st.sampled_from(list(vocab.NETWORKS.slugs)), "plan_types": some(["ppo", "hmo", "epo"], 0, 2),
    }), max_size=3, unique_by=lambda r: (r["carrier"], r["service"], tuple(sorted(r["plan_types"])))))
    rows += draw(st.sampled_from([[], [{"carrier": "", "service": "", "network": "", "plan_types": []}]]))
    if "insurance" in broken:
        other = [s for s in vocab.SERVICES.slugs if s not in offered]
        rows.append(draw(st.sampled_from([
            {"carrier": "acme", "service": offered[0], "network": "in-network", "plan_types": []},
            {"carrier": "aetna", "service": "laser", "network": "in-network", "plan_types": []},
            {"carrier": "aetna", "service": offered[0], "network": "maybe", "plan_types": []},
            {"carrier": "aetna", "service": offered[0], "network": "in-network", "plan_types": ["gold"]},
            {"carrier": "aetna", "service": offered[0], "network": "", "plan_types": []},
            {"carrier": "aetna", "service": (other or ["laser"])[0], "network": "in-network", "plan_types": []}])))
        if rows[0]["carrier"]:  # or the same carrier, service and plans in and out of network
            flipped = "out-of-network" if rows[0]["network"] == "in-network" else "in-network"
            rows.append(draw(st.sampled_from([dict(rows[0]), dict(rows[0], network=flipped)])))
    data["insurance"] = rows

    prices = []
    for service in draw(some(offered, 0, 2)):
        low, high = sorted(draw(st.lists(st.sampled_from([None, 0, 150, 450, 600]), min_size=2, max_size=2)),
                           key=lambda v: (v is not None, v or 0))
        prices.append({"service": service, "min_usd": low if high is not None else high, "max_usd": high})
    if "prices" in broken:
        other = [s for s in vocab.SERVICES.slugs if s not in offered]
        prices.append(draw(st.sampled_from([
            {"service": offered[0], "min_usd": 700, "max_usd": 100}, {"service": offered[0], "min_usd": 100_001,
                                                                      "max_usd": None},
            {"service": "laser", "min_usd": 100, "max_usd": 200},
            {"service": (other or ["laser"])[0], "min_usd": 100, "max_usd": 200},
            {"service": offered[0], "min_usd": 100, "max_usd": 200}])))
    data["prices"] = prices
    return data


# --- the listing in each format, as an owner or a data steward would write it -------------------------

def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


def flat_csv(data: dict) -> str:
    row = {name: _cell(data.get(name)) for name in flat.HEADER if name not in ("hours", "insurance", "prices")}
    row["hours"] = "; ".join(f"{h['day']} {h['opens']}-{h['closes']}" for h in data["hours"]
                             if h["opens"] or h["closes"])
    row["insurance"] = "; ".join(f"{r['service']}:{r['carrier']}:{r['network']}:{','.join(r['plan_types'])}:"
                                 for r in data["insurance"])
    row["prices"] = "; ".join(f"{p['service']}:{_cell(p['min_usd'])}-{_cell(p['max_usd'])}:"
                              for p in data["prices"])
    out = io.StringIO()
    writer = csv.DictWriter(out, flat.HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerow({k: escape_cell(v) for k, v in row.items()})
    return out.getvalue()


def hsds_organization(data: dict) -> dict | None:
    """The listing as kapfinder's own HSDS writer puts a clinic, or None when HSDS has no way to say it
    (a slug outside the vocabularies, states without the at-home service they belong to, insurance or
    a price for a service the listing has no HSDS service for, two prices for one service, a
    coordinate that is not a number)."""
    def known(values, vocabulary):
        return all(v in vocabulary for v in values)

    if not all(known(data[k], v) for k, v in listings.LIST_FIELDS.items()):
        return None
    if data["at_home_states"] and "at-home" not in data["settings"]:
        return None
    if data["interpreter_languages"] and not data["interpreter_services"]:
        return None
    if data["therapy"] and data["therapy"] not in vocab.THERAPY:
        return None
    services = {s.service for s in hsds.service_specs(data["methods"], data["therapy"] or None,
                                                      data["offers_evaluation"])}
    rows = [r for r in data["insurance"] if r["carrier"] or r["network"]]
    if not all(r["carrier"] in vocab.CARRIERS and r["network"] in vocab.NETWORKS and r["service"] in services
               and known(r["plan_types"], vocab.PLAN_TYPES) for r in rows):
        return None
    prices = [p for p in data["prices"] if p["min_usd"] is not None or p["max_usd"] is not None]
    if not all(p["service"] in services for p in prices) or len({p["service"] for p in prices}) < len(prices):
        return None
    try:
        lat, lon = (None if c is None else float(c) for c in (data["lat"], data["lon"]))
    except ValueError:
        return None
    values = {k: data[k] for k in ("name", "description", "street", "city", "state", "zip", "phone", "website",
                                   "email", "hours_note", "methods", "settings", "at_home_states", "conditions",
                                   "therapy_extras", "offers_evaluation", "sliding_scale", "financing", "superbill",
                                   "hsa_fsa", "accepting_new_patients", "prescriber_types", "therapist_licenses",
                                   "rems_certified", "vital_signs_monitoring", "medical_screening", "languages",
                                   "interpreter_services", "interpreter_languages")}
    clinic = build_clinic(**values, id=str(uuid.uuid4()), slug=None, lat=lat, lon=lon,
                          therapy=data["therapy"] or None, npi=data["npi"] or None, accepting_as_of=None,
                          hours=[h for h in data["hours"] if h["opens"] or h["closes"]],
                          insurance=[dict(r, as_of=None) for r in rows], prices=[dict(p, as_of=None) for p in prices])
    return hsds.organization_doc(clinic, "https://kapfinder.example")


# --- what each path stores ----------------------------------------------------------------------------

def stored(db_session) -> list[dict]:
    db_session.expire_all()
    return [listings.snapshot(c) for c in db_session.scalars(select(Clinic))]


def empty(db_session) -> None:
    db_session.rollback()
    delete_clinics(db_session(), Clinic.id.isnot(None))
    db_session.commit()


def through_the_form(db_session, owner_id: int, data: dict) -> dict | None:
    try:
        listings.create_listing(db_session, owner_id, data)
    except listings.InvalidListing:
        return None
    [snapshot] = stored(db_session)
    empty(db_session)
    return snapshot


def through_an_import(db_session, path: Path, fmt: str) -> tuple[dict | None, list[str]]:
    report = run_import(db_session(), path, fmt)
    found = stored(db_session)
    empty(db_session)
    assert len(found) <= 1
    return (found[0] if found else None), [str(p) for p in report.problems]


@pytest.fixture
def owner_id(make_user) -> int:
    return make_user().id


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=listings_drawn())
def test_an_import_stores_exactly_what_the_form_would(db_session, owner_id, tmp_path, data):
    form = through_the_form(db_session, owner_id, data)

    path = tmp_path / "listing.csv"
    path.write_text(flat_csv(data), encoding="utf-8")
    from_csv, problems = through_an_import(db_session, path, "csv")
    event("form accepts" if form else "form refuses")
    assert (from_csv is None) == (form is None), (form, problems)
    assert from_csv == form

    doc = hsds_organization(data)
    event("hsds built" if doc else "hsds not representable")
    if doc is None:
        return
    path = tmp_path / "listing.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    from_json, problems = through_an_import(db_session, path, "hsds-json")
    event("hsds stored" if from_json else "hsds refused")
    if form is None or from_json is not None:
        assert from_json == form, problems
    else:  # the form took it: only the official schema (a stricter format) may refuse the document
        assert list(schemas.problems("compiled/organization", doc)), problems
