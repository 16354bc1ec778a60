"""Bad input: each gives a clear report (file, line or JSON pointer, field) and stores nothing."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kapfinder.exchange.importer import run_import
from kapfinder.models import Clinic

from .test_exchange import empty_directory, export, import_

EXAMPLES = Path(__file__).resolve().parents[2] / "kapfinder" / "data" / "hsds-3.0" / "examples"


def count(db_session) -> int:
    return db_session.scalar(select(func.count()).select_from(Clinic))


def refused(result, *expected: str) -> str:
    assert result.exit_code == 1, result.output
    text = result.output
    assert "nothing was stored" in text
    for piece in expected:
        assert piece in text, text
    return text


@pytest.fixture
def flat_csv(runner, db_session, rich_clinic, tmp_path) -> Path:
    path = tmp_path / "in.csv"
    export(runner, "csv", path)
    empty_directory(db_session)
    return path


@pytest.fixture
def json_dir(runner, db_session, rich_clinic, tmp_path) -> Path:
    path = tmp_path / "json"
    export(runner, "hsds-json", path)
    empty_directory(db_session)
    return path


def org_file(json_dir: Path) -> Path:
    return next((json_dir / "organizations").glob("*.json"))


def edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_malformed_json(runner, db_session, json_dir):
    org_file(json_dir).write_text('{"id": "x",\n "name": }')
    refused(import_(runner, json_dir), "line 2 column", "malformed JSON")
    assert count(db_session) == 0


def test_document_breaking_the_schema(runner, db_session, json_dir):
    edit_json(org_file(json_dir), lambda d: d["services"][0].update(status="open"))
    refused(import_(runner, json_dir), "#/services/0/status", "status:")
    assert count(db_session) == 0


def test_coordinates_out_of_range_and_zip_not_in_state(runner, db_session, json_dir):
    def change(d):
        d["locations"][0]["latitude"] = 123.0
        d["locations"][0]["addresses"][0]["postal_code"] = "10001"
    edit_json(org_file(json_dir), change)
    refused(import_(runner, json_dir), "#/locations/0/latitude: lat: latitude 123 is not between -90 and 90",
            "#/locations/0/addresses/0/postal_code: zip: ZIP 10001 is in NY, not TX")
    assert count(db_session) == 0


def test_unknown_taxonomy_term_and_slug(runner, db_session, json_dir):
    def change(d):
        d["services"][0]["attributes"][0]["taxonomy_term_id"] = "00000000-0000-4000-8000-000000000000"
        d["services"][0]["attributes"][0].pop("taxonomy_term")
        d["services"][1]["attributes"][1]["taxonomy_term"]["code"] = "laser"
        d["services"][1]["attributes"][1]["taxonomy_term_id"] = "00000000-0000-4000-8000-000000000001"
        d["services"][1]["attributes"][1]["taxonomy_term"]["id"] = "00000000-0000-4000-8000-000000000001"
    edit_json(org_file(json_dir), change)
    refused(import_(runner, json_dir), "unknown taxonomy term 00000000-0000-4000-8000-000000000000",
            "‘laser’ is not a term of kapfinder:")
    assert count(db_session) == 0


def test_duplicate_ids_in_one_input(runner, db_session, json_dir):
    original = org_file(json_dir)
    shutil.copy(original, json_dir / "organizations" / "copy.json")
    refused(import_(runner, json_dir), "duplicate id")
    assert count(db_session) == 0


def test_npi_failing_its_check_digit_and_bad_slugs_in_flat_csv(runner, db_session, flat_csv):
    text = flat_csv.read_text().replace("1234567893", "1234567890").replace("iv;oral", "iv;laser")
    flat_csv.write_text(text)
    refused(import_(runner, flat_csv), "in.csv line 2: npi: NPI 1234567890 fails its check digit",
            "in.csv line 2: methods: ‘laser’ is not an administration method slug")
    assert count(db_session) == 0


def test_email_that_no_hsds_reader_would_accept_is_refused(runner, db_session, flat_csv):
    # A domain label longer than 63 characters breaks the official schema's email format.
    long_host = "a" * 64 + ".example"
    flat_csv.write_text(flat_csv.read_text().replace("care@hill.example", f"care@{long_host}"))
    refused(import_(runner, flat_csv), f"in.csv line 2: email: ‘care@{long_host}’ is not a valid email address")
    assert count(db_session) == 0


def test_csv_missing_a_required_column(runner, db_session, flat_csv):
    lines = flat_csv.read_text().splitlines()
    header = lines[0].split(",")
    idx = header.index("zip")
    flat_csv.write_text("\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != idx)
                                  for line in lines[:1]) + "\n")
    refused(import_(runner, flat_csv), "in.csv line 1: zip: required column is missing")


def test_csv_as_a_spreadsheet_saves_it_imports(runner, db_session, flat_csv):
    # Byte order mark, Windows line endings, a quoted newline in a cell.
    text = flat_csv.read_text(encoding="utf-8").replace(
        "Ketamine & Spravato; integration therapy.", '"Ketamine\r\n& Spravato; integration therapy."')
    flat_csv.write_bytes(b"\xef\xbb\xbf" + text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"))
    result = import_(runner, flat_csv, "--publish")
    assert result.exit_code == 0, result.output
    clinic = db_session.scalars(select(Clinic)).one()
    assert clinic.description == "Ketamine\r\n& Spravato; integration therapy."
    assert clinic.zip == "78701" and clinic.phone == "+15125550123"


def test_html_and_template_syntax_stay_text(runner, client, db_session, flat_csv):
    result = import_(runner, flat_csv, "--publish")
    assert result.exit_code == 0, result.output
    clinic = db_session.scalars(select(Clinic)).one()
    assert clinic.name == "Hill Country <b>Ketamine</b> {{ 7*7 }}"
    body = client.get(f"/hsds/organizations/{clinic.id}").get_json()
    assert body["name"] == "Hill Country <b>Ketamine</b> {{ 7*7 }}"


def test_nothing_changes_when_an_update_is_refused(runner, db_session, rich_clinic, tmp_path):
    export(runner, "hsds-json", tmp_path / "out")
    before = db_session.execute(select(Clinic.name, Clinic.version)).all()
    edit_json(next((tmp_path / "out" / "organizations").glob("*.json")),
              lambda d: d.update(name="Renamed") or d["locations"][0].update(longitude=500))
    refused(import_(runner, tmp_path / "out", "--publish"), "longitude 500")
    db_session.expire_all()
    assert db_session.execute(select(Clinic.name, Clinic.version)).all() == before


def test_a_200_mb_garbage_file_is_refused_quickly(db_session, tmp_path):
    garbage = tmp_path / "garbage.csv"
    with open(garbage, "wb") as f:
        block = os.urandom(1024 * 1024)
        for _ in range(200):
            f.write(block)
    report = run_import(db_session(), garbage)
    assert not report.ok
    assert "UTF-8" in str(report.problems[0]) or "text" in str(report.problems[0])
    text_garbage = tmp_path / "garbage2.csv"
    with open(text_garbage, "w") as f:
        for _ in range(200):
            f.write("x" * (1024 * 1024))
    report = run_import(db_session(), text_garbage)
    assert "no header line" in str(report.problems[0])
    report = run_import(db_session(), garbage.rename(tmp_path / "garbage.json"))
    assert "larger than" in str(report.problems[0]) or "not" in str(report.problems[0])
    assert count(db_session) == 0


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_official_json_examples_import_without_a_crash(runner, db_session, name):
    result = import_(runner, EXAMPLES / name)
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    if name in ("location.json", "organization_full.json", "service_at_location_full.json"):
        assert "latitude 100 is not between -90 and 90" in result.output
    assert count(db_session) == 0


def test_official_csv_examples_import_without_a_crash(runner, db_session):
    result = import_(runner, EXAMPLES / "csv", "--format", "hsds-csv")
    assert result.exit_code == 1
    assert "locations.csv line 2: latitude: latitude 100 is not between -90 and 90" in result.output
    assert count(db_session) == 0


def test_official_examples_without_the_bad_latitude_are_skipped_as_not_kap(runner, db_session, tmp_path):
    doc = json.loads((EXAMPLES / "organization_full.json").read_text())
    for loc in doc["locations"]:
        loc["latitude"], loc["longitude"] = 40.0, -75.0
    (tmp_path / "org.json").write_text(json.dumps(doc))
    result = import_(runner, tmp_path / "org.json")
    assert result.exit_code == 0, result.output
    assert "skipped: not a KAP service" in result.output
    assert count(db_session) == 0
