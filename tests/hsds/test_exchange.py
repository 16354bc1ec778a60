"""Exports and imports: the three formats round-trip, validate, and carry the licence."""
from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kapfinder.bulk import delete_clinics
from kapfinder.models import Clinic

from .conftest import assert_valid


def export(runner, fmt: str, path: Path):
    result = runner.invoke(args=["clinics", "export", "--format", fmt, str(path)])
    assert result.exit_code == 0, result.output
    return result


def import_(runner, path: Path, *extra: str):
    return runner.invoke(args=["clinics", "import", *extra, str(path)])


def empty_directory(db_session) -> None:
    delete_clinics(db_session(), Clinic.id.isnot(None))
    db_session.commit()


def same_tree(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


@pytest.fixture
def directory(rich_clinic, make_clinic, days_ago):
    make_clinic(name="=HYPERLINK(\"http://evil\")", description="-5 is a number but this is text",
                methods=["esketamine-nasal"], rems_certified=True, therapy="medication-only",
                settings=["at-home"], at_home_states=["CA"], sample=True, accepting_new_patients=None,
                verified_at=days_ago(200), confirmed_at=days_ago(120), npi=None, phone="+12135550142",
                hours_note="'quoted", interpreter_services=True)
    make_clinic(name="Pending Place", status="pending")
    return rich_clinic


@pytest.mark.parametrize("fmt", ["csv", "hsds-json", "hsds-csv"])
def test_round_trip_gives_identical_files(runner, db_session, directory, tmp_path, fmt):
    first, second = tmp_path / "first", tmp_path / "second"
    target = first / "kapfinder.csv" if fmt == "csv" else first
    export(runner, fmt, target)
    empty_directory(db_session)
    result = import_(runner, target, "--publish")
    assert result.exit_code == 0, result.output
    assert "2 new" in result.output
    export(runner, fmt, second / "kapfinder.csv" if fmt == "csv" else second)
    same_tree(first, second)


def test_hsds_json_export_validates_and_has_licence(runner, directory, tmp_path, app):
    export(runner, "hsds-json", tmp_path / "out")
    files = sorted((tmp_path / "out" / "organizations").glob("*.json"))
    assert len(files) == 2  # the pending listing is not exported
    for file in files:
        assert_valid("compiled/organization", json.loads(file.read_text()))
    taxonomies = json.loads((tmp_path / "out" / "taxonomies.json").read_text())
    for item in taxonomies["taxonomies"]:
        assert_valid("taxonomy", item)
    for item in taxonomies["taxonomy_terms"]:
        assert_valid("taxonomy_term", item)
    licence = (tmp_path / "out" / "LICENSE.txt").read_text()
    assert "CC-BY-4.0" in licence and app.config["DATA_ATTRIBUTION"] in licence


def test_hsds_csv_has_a_datapackage_in_schema_order(runner, directory, tmp_path):
    export(runner, "hsds-csv", tmp_path / "out")
    package = json.loads((tmp_path / "out" / "datapackage.json").read_text())
    assert package["licenses"] == [{"name": "CC-BY-4.0"}]
    paths = [r["path"] for r in package["resources"]]
    assert paths[:3] == ["organizations.csv", "programs.csv", "services.csv"]
    for resource in package["resources"]:
        file = tmp_path / "out" / resource["path"]
        with open(file, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f))
        assert header == [fld["name"] for fld in resource["schema"]["fields"]]
    assert (tmp_path / "out" / "LICENSE.txt").exists()


def test_flat_csv_neutralises_formulas_and_formats_phones(runner, directory, tmp_path):
    export(runner, "csv", tmp_path / "x.csv")
    with open(tmp_path / "x.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = {r["name"] for r in rows}
    assert "'=HYPERLINK(\"http://evil\")" in names
    evil = next(r for r in rows if r["name"].startswith("'="))
    assert evil["description"] == "'-5 is a number but this is text"
    assert evil["hours_note"] == "''quoted"
    rich = next(r for r in rows if r["slug"] == "hill-country-ketamine-austin")
    assert rich["lon"] == "-97.7431"  # a plain number is left alone
    assert rich["phone"] == "(512) 555-0123"
    assert (tmp_path / "LICENSE.txt").exists()


def fetch(client, path: str) -> tuple[int, str, bytes]:
    with client.get(path) as response:
        return response.status_code, response.mimetype, response.get_data()


def test_default_export_is_served_under_open_data(runner, client, directory, instance_path):
    result = runner.invoke(args=["clinics", "export", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert (instance_path / "exports" / "kapfinder.csv").exists()
    status, mimetype, data = fetch(client, "/open-data/kapfinder.csv")
    assert (status, mimetype) == (200, "text/csv")
    assert b"hill-country-ketamine-austin" in data
    assert fetch(client, "/open-data/LICENSE.txt")[0] == 200
    runner.invoke(args=["clinics", "export", "--format", "hsds-json"])
    assert fetch(client, f"/open-data/hsds-json/organizations/{directory.id}.json")[0] == 200
    (instance_path / "secret.txt").write_text("no")
    for path in ("/open-data/../secret.txt", "/open-data/%2e%2e/secret.txt", "/open-data/..%2fsecret.txt",
                 "/open-data/hsds-json", "/open-data/nothing.csv", "/open-data/.hsds-json-old/x"):
        assert fetch(client, path)[0] == 404, path


def test_import_updates_instead_of_duplicating(runner, db_session, directory, tmp_path):
    export(runner, "hsds-json", tmp_path / "out")
    for _ in range(2):
        result = import_(runner, tmp_path / "out", "--publish")
        assert result.exit_code == 0, result.output
        assert "0 new and 2 updated" in result.output
    assert db_session.scalar(select(func.count()).select_from(Clinic)) == 3


def test_import_without_publish_is_pending_and_unowned(runner, db_session, directory, tmp_path):
    export(runner, "csv", tmp_path / "x.csv")
    empty_directory(db_session)
    result = import_(runner, tmp_path / "x.csv")
    assert result.exit_code == 0, result.output
    statuses = db_session.execute(select(Clinic.status, Clinic.owner_id)).all()
    assert statuses == [("pending", None), ("pending", None)]


def test_open_data_page_lists_the_published_downloads_and_the_licence(runner, client, directory):
    status, _mime, body = fetch(client, "/open-data/")
    page = body.decode()
    assert status == 200 and "CC-BY-4.0" in page and 'href="/hsds/"' in page
    assert "No download has been published yet" in page
    for fmt in ("csv", "hsds-csv"):
        assert runner.invoke(args=["clinics", "export", "--format", fmt]).exit_code == 0
    page = fetch(client, "/open-data/")[2].decode()
    assert 'href="/open-data/kapfinder.csv"' in page
    assert 'href="/open-data/hsds-csv/datapackage.json"' in page
    assert 'href="/open-data/LICENSE.txt"' in page
    assert "hsds-json" not in page  # not exported, not offered
    for link in ('/open-data/kapfinder.csv', '/open-data/hsds-csv/datapackage.json'):
        assert fetch(client, link)[0] == 200


def test_languages_round_trip_in_every_format(runner, db_session, directory, tmp_path):
    """Staff languages are HSDS ``language`` records of the location; interpreter services are the
    services' ``interpretation_services`` text; the as-of date an organization metadata record."""
    export(runner, "hsds-json", tmp_path / "json")
    doc = json.loads((tmp_path / "json" / "organizations" / f"{directory.id}.json").read_text())
    [location] = doc["locations"]
    assert [(lang["code"], lang["name"]) for lang in location["languages"]] == [
        ("en", "English"), ("es", "Spanish"), ("ase", "American Sign Language (ASL)")]
    assert {s["interpretation_services"] for s in doc["services"]} == {
        "Interpreter services available for: Vietnamese [vi], Somali [so]"}
    assert {(m["field_name"], m["replacement_value"]) for m in doc["metadata"]} >= {("languages_as_of", "2024-06-01")}
    export(runner, "hsds-csv", tmp_path / "tables")
    with (tmp_path / "tables" / "languages.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["code"] for r in rows) == ["ase", "en", "es"] and {r["location_id"] for r in rows} == {
        location["id"]}
    export(runner, "csv", tmp_path / "flat.csv")
    with (tmp_path / "flat.csv").open(encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header[-4:] == ["languages", "interpreter_services", "interpreter_languages", "languages_as_of"]
    for target in (tmp_path / "json", tmp_path / "tables", tmp_path / "flat.csv"):
        empty_directory(db_session)
        result = import_(runner, target, "--publish")
        assert result.exit_code == 0, result.output
        db_session.expire_all()
        clinic = db_session.get(Clinic, directory.id)
        assert (clinic.languages, clinic.interpreter_services, clinic.interpreter_languages,
                clinic.languages_as_of) == (["en", "es", "ase"], True, ["vi", "so"], date(2024, 6, 1)), target
        other = db_session.scalars(select(Clinic).where(Clinic.id != directory.id)).one()
        assert (other.languages, other.interpreter_services, other.interpreter_languages) == ([], True, [])


def test_another_publishers_languages_are_read_by_name(runner, db_session, directory, tmp_path):
    export(runner, "hsds-json", tmp_path / "json")
    path = tmp_path / "json" / "organizations" / f"{directory.id}.json"
    doc = json.loads(path.read_text())
    doc["locations"][0]["languages"] = [{"id": "2989d3ed-c547-48f8-8f9d-432d81c7892e", "name": "Spanish"}]
    for service in doc["services"]:
        service["interpretation_services"] = "Interpretation services are available in Urdu, Polish and ASL"
    path.write_text(json.dumps(doc))
    result = import_(runner, tmp_path / "json", "--publish")
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    clinic = db_session.get(Clinic, directory.id)
    assert (clinic.languages, clinic.interpreter_languages) == (["es"], ["ase", "pl", "ur"])


def test_an_unknown_language_code_aborts_the_import_with_its_place(runner, db_session, directory, tmp_path):
    export(runner, "hsds-json", tmp_path / "json")
    path = tmp_path / "json" / "organizations" / f"{directory.id}.json"
    doc = json.loads(path.read_text())
    doc["locations"][0]["languages"][0]["code"] = "xx"
    path.write_text(json.dumps(doc))
    result = import_(runner, tmp_path / "json", "--publish")
    assert result.exit_code == 1
    assert "‘xx’ is not a known language code" in result.output
