"""Re-imports never change a public listing behind a moderator's back (docs/HSDS.md → Imports).

Changes to an owned listing, and changes to a published listing imported without ``--publish``,
become the listing's one pending revision; the public listing stays as it is until a moderator
approves them.
"""
from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import func, select

from kapfinder import listings
from kapfinder.models import Clinic, ListingRevision

from .test_exchange import export, import_


def edit_flat(path: Path, clinic_id: str, **changes: str) -> None:
    """Change cells of one clinic's row in a flat CSV export, as a spreadsheet user would."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0])
    for row in rows:
        if row["id"] == clinic_id:
            row.update(changes)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, header, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)


def revisions(db_session, clinic_id: str, status: str = "pending") -> list[ListingRevision]:
    db_session.expire_all()
    return list(db_session.scalars(select(ListingRevision).where(
        ListingRevision.clinic_id == clinic_id, ListingRevision.status == status)))


def public_name(client, slug: str) -> str:
    response = client.get(f"/clinics/{slug}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_reimport_of_an_owned_listing_waits_for_a_moderator(runner, client, db_session, make_clinic, make_user,
                                                             tmp_path):
    owner, moderator = make_user(), make_user(role="moderator")
    clinic = make_clinic(name="Old Harbor Ketamine", owner_id=owner.id, accepting_new_patients=True)
    clinic_id, slug, version = clinic.id, clinic.slug, clinic.version
    path = tmp_path / "in.csv"
    export(runner, "csv", path)
    edit_flat(path, clinic_id, name="New Harbor Ketamine", description="New words.", accepting_new_patients="false")

    result = import_(runner, path, "--publish")  # --publish does not override the owner's moderation
    assert result.exit_code == 0, result.output
    assert "in.csv line 2: changes wait for a moderator (the listing has an owner): " \
           "name, description, accepting_new_patients" in result.output
    assert "0 new and 0 updated listing(s) (published), 1 with changes waiting for a moderator" in result.output

    html = public_name(client, slug)
    assert "Old Harbor Ketamine" in html and "New Harbor Ketamine" not in html
    db_session.expire_all()
    stored = db_session.get(Clinic, clinic_id)
    assert (stored.name, stored.version, stored.owner_id, stored.accepting_new_patients) == \
        ("Old Harbor Ketamine", version, owner.id, True)
    [revision] = revisions(db_session, clinic_id)
    assert revision.changes["name"] == {"old": "Old Harbor Ketamine", "new": "New Harbor Ketamine"}
    assert set(revision.changes) == {"name", "description", "accepting_new_patients"}
    queue = listings.moderation_queue(db_session)
    assert [(q.kind, q.clinic.id) for q in queue] == [("revision", clinic_id)]

    # The same file again: still one revision, nothing new to see.
    again = import_(runner, path, "--publish")
    assert again.exit_code == 0, again.output
    assert "1 with changes waiting" in again.output
    assert len(revisions(db_session, clinic_id)) == 1

    listings.approve_revision(db_session, revision.id, moderator.id)
    assert "New Harbor Ketamine" in public_name(client, slug)
    db_session.expire_all()
    stored = db_session.get(Clinic, clinic_id)
    assert (stored.description, stored.accepting_new_patients, stored.owner_id) == ("New words.", False, owner.id)


def test_unchanged_reimport_of_an_owned_listing_proposes_nothing(runner, db_session, make_clinic, make_user, tmp_path):
    owner = make_user()
    clinic = make_clinic(owner_id=owner.id, hours=[{"day": "tu", "opens": "08:30", "closes": "16:00"}],
                         insurance=[{"carrier": "aetna", "service": "ketamine", "network": "in-network",
                                     "plan_types": ["ppo", "hmo"]}],
                         prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 550}],
                         description="", hours_note="", npi=None)
    for fmt in ("csv", "hsds-json", "hsds-csv"):
        target = tmp_path / fmt / ("x.csv" if fmt == "csv" else "out")
        export(runner, fmt, target)
        result = import_(runner, target)
        assert result.exit_code == 0, result.output
        assert "0 with changes waiting for a moderator, 1 unchanged" in result.output, (fmt, result.output)
    assert revisions(db_session, clinic.id) == []


def test_imported_changes_join_the_owners_pending_revision(runner, db_session, make_clinic, make_user, tmp_path):
    owner = make_user()
    clinic = make_clinic(owner_id=owner.id, description="Before.")
    form = listings.form_values(db_session, clinic)
    form["phone"] = "(512) 555-0199"
    listings.edit_listing(db_session, clinic.id, owner.id, clinic.version, form)
    [owners] = revisions(db_session, clinic.id)
    assert set(owners.changes) == {"phone"}

    path = tmp_path / "in.csv"
    export(runner, "csv", path)
    edit_flat(path, clinic.id, description="After.")
    result = import_(runner, path)
    assert result.exit_code == 0, result.output
    assert ": description" in result.output  # only what the import newly proposes is listed
    [merged] = revisions(db_session, clinic.id)
    assert merged.id == owners.id
    assert merged.changes["phone"]["new"] == "+15125550199"
    assert merged.changes["description"] == {"old": "Before.", "new": "After."}
    assert db_session.get(Clinic, clinic.id).description == "Before."


def test_published_listing_stays_public_while_imported_changes_wait(runner, client, db_session, make_clinic,
                                                                     make_user, tmp_path):
    moderator = make_user(role="moderator")
    clinic = make_clinic(name="Steady Clinic", methods=["iv"])  # unowned, published
    clinic_id, slug = clinic.id, clinic.slug
    path = tmp_path / "in.csv"
    export(runner, "csv", path)
    edit_flat(path, clinic_id, name="Renamed Clinic", methods="iv;im")

    result = import_(runner, path)
    assert result.exit_code == 0, result.output
    assert "changes wait for a moderator (published listing, imported without --publish): name, methods" \
        in result.output
    db_session.expire_all()
    stored = db_session.get(Clinic, clinic_id)
    assert (stored.status, stored.name, stored.methods) == ("published", "Steady Clinic", ["iv"])
    assert "Steady Clinic" in public_name(client, slug)
    hsds = client.get(f"/hsds/organizations/{clinic_id}").get_json()
    assert hsds["name"] == "Steady Clinic"
    [revision] = revisions(db_session, clinic_id)

    listings.approve_revision(db_session, revision.id, moderator.id)
    db_session.expire_all()
    assert db_session.get(Clinic, clinic_id).methods == ["iv", "im"]
    assert "Renamed Clinic" in public_name(client, slug)


def test_publish_updates_an_unowned_listing_at_once_and_withdraws_waiting_changes(runner, client, db_session,
                                                                                   make_clinic, tmp_path):
    clinic = make_clinic(name="Steady Clinic")
    clinic_id, slug = clinic.id, clinic.slug
    path = tmp_path / "in.csv"
    export(runner, "csv", path)
    edit_flat(path, clinic_id, name="Renamed Clinic")
    assert import_(runner, path).exit_code == 0
    assert len(revisions(db_session, clinic_id)) == 1

    result = import_(runner, path, "--publish")
    assert result.exit_code == 0, result.output
    assert "0 new and 1 updated listing(s) (published), 0 with changes waiting" in result.output
    assert "Renamed Clinic" in public_name(client, slug)
    assert revisions(db_session, clinic_id) == []
    assert len(revisions(db_session, clinic_id, "withdrawn")) == 1


def test_unpublished_listing_is_updated_in_place_and_new_ones_are_pending(runner, db_session, make_clinic, tmp_path):
    clinic = make_clinic(name="Waiting Clinic", status="pending", slug=None)
    path = tmp_path / "in.csv"
    export(runner, "csv", path)  # only published listings are exported: write the row by hand
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    row = {k: "" for k in header}
    row.update(id=clinic.id, name="Waiting Clinic, renamed", street=clinic.street, city="Austin", state="TX",
               zip="78701", phone="(512) 555-0100", methods="iv", settings="in-clinic", therapy="prep-integration")
    new = dict(row, id="", name="Brand New Clinic", street="9 Other St")
    with open(path, "a", newline="", encoding="utf-8") as f:
        csv.DictWriter(f, header, lineterminator="\r\n").writerows([row, new])

    result = import_(runner, path)
    assert result.exit_code == 0, result.output
    assert "1 new and 1 updated listing(s) (pending), 0 with changes waiting" in result.output
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).name == "Waiting Clinic, renamed"
    statuses = dict(db_session.execute(select(Clinic.name, Clinic.status)).all())
    assert statuses == {"Waiting Clinic, renamed": "pending", "Brand New Clinic": "pending"}
    assert db_session.scalar(select(func.count()).select_from(ListingRevision)) == 0


def test_rows_without_an_id_match_on_npi_and_street_or_on_name_and_address(runner, db_session, make_clinic, tmp_path):
    by_npi = make_clinic(name="Prairie Ketamine", street="100 Congress Ave", zip="78701", npi="1234567893")
    by_name = make_clinic(name="River Clinic", street="7 Lamar Blvd", zip="78701", npi=None)
    path = tmp_path / "in.csv"
    export(runner, "csv", path)
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    base = {k: "" for k in header}
    base.update(city="Austin", state="TX", zip="78701", phone="(512) 555-0100", methods="iv", settings="in-clinic",
                therapy="prep-integration")
    rows = [
        dict(base, name="Prairie Ketamine (renamed)", street="100  congress AVE", npi="1234567893"),  # same place
        dict(base, name="Prairie Ketamine North", street="900 North Loop", npi="1234567893"),  # NPI alone: new
        dict(base, name="RIVER  clinic", street="7 lamar blvd"),  # same name and address
    ]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, header, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)

    result = import_(runner, path, "--publish")
    assert result.exit_code == 0, result.output
    assert "1 new and 2 updated listing(s) (published)" in result.output
    db_session.expire_all()
    assert db_session.get(Clinic, by_npi.id).name == "Prairie Ketamine (renamed)"
    assert db_session.get(Clinic, by_name.id).name == "RIVER  clinic"
    assert db_session.scalar(select(func.count()).select_from(Clinic)) == 3
