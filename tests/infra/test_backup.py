"""``flask db backup`` / ``flask db restore`` round-trip every table's rows, on the engine under test."""
from __future__ import annotations

import os
import stat

from sqlalchemy import inspect, select, text

from kapfinder.models import Clinic, User


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    tables = {}
    with engine.connect() as conn:
        for name in sorted(inspect(conn).get_table_names()):
            rows = conn.execute(text(f'SELECT * FROM "{name}"')).all()
            tables[name] = sorted((tuple(row) for row in rows), key=repr)
    return tables


def test_backup_then_restore_brings_back_every_row(app, db_session, make_clinic, runner, tmp_path):
    from kapfinder.extensions import db

    owner = User(email="owner@clinic.example", password_hash="x", role="owner")
    db_session.add(owner)
    db_session.commit()
    kept = make_clinic(name="Kept Clinic", owner_id=owner.id,
                       insurance=[{"carrier": "aetna", "service": "ketamine", "network": "in-network"}],
                       prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 600}],
                       at_home_states=["TX"])
    kept_id, doomed_id = kept.id, make_clinic(name="Doomed Clinic").id
    db_session.remove()
    before = snapshot(db.engine)
    assert before["clinic"] and before["gazetteer_zip"] and before["clinic_insurance"]

    backup = tmp_path / "backups" / "kapfinder.backup"
    result = runner.invoke(args=["db", "backup", str(backup)])
    assert result.exit_code == 0, result.output
    assert backup.is_file() and backup.stat().st_size > 0

    # Things go wrong after the backup: an edit, a deletion, a new listing.
    clinic = db_session.get(Clinic, kept_id)
    clinic.name = "Renamed After Backup"
    db_session.delete(db_session.get(Clinic, doomed_id))
    db_session.commit()
    make_clinic(name="Added After Backup")
    db_session.remove()
    assert snapshot(db.engine) != before

    result = runner.invoke(args=["db", "restore", "--yes", str(backup)])
    assert result.exit_code == 0, result.output
    assert "Restored the database" in result.output

    after = snapshot(db.engine)
    # Every row comes back, except that the search index's epoch is new: a process that indexed the
    # data as it was after the backup must not take the restored generation number for what it saw.
    (epoch_before, generation_before), = [row[1:3] for row in before.pop("search_state")]
    (epoch_after, generation_after), = [row[1:3] for row in after.pop("search_state")]
    assert after == before
    assert generation_after == generation_before and epoch_after != epoch_before
    names = db_session.scalars(select(Clinic.name).order_by(Clinic.name)).all()
    assert names == ["Doomed Clinic", "Kept Clinic"]
    restored = db_session.get(Clinic, kept_id)
    assert [row.carrier for row in restored.insurance] == ["aetna"]
    assert restored.at_home_states == ["TX"]


def test_restore_asks_before_replacing_the_database(app, make_clinic, runner, tmp_path):
    make_clinic(name="Still Here")
    backup = tmp_path / "kapfinder.backup"
    assert runner.invoke(args=["db", "backup", str(backup)]).exit_code == 0
    result = runner.invoke(args=["db", "restore", str(backup)], input="n\n")
    assert result.exit_code != 0
    assert "Replace every row" in result.output


def test_restore_from_a_missing_file_says_so_and_changes_nothing(app, db_session, make_clinic, runner, tmp_path):
    make_clinic(name="Still Here")
    result = runner.invoke(args=["db", "restore", "--yes", str(tmp_path / "nope.backup")])
    assert result.exit_code != 0
    assert "No backup at" in result.output
    assert db_session.scalars(select(Clinic.name)).all() == ["Still Here"]


def test_restore_refuses_a_file_that_is_not_a_backup(app, db_session, make_clinic, runner, tmp_path):
    make_clinic(name="Still Here")
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"this is not a database backup\n" * 100)
    result = runner.invoke(args=["db", "restore", "--yes", str(junk)])
    assert result.exit_code != 0
    db_session.remove()
    assert db_session.scalars(select(Clinic.name)).all() == ["Still Here"]


def test_a_backup_is_readable_by_its_owner_only(app, make_clinic, runner, tmp_path):
    make_clinic(name="Kept Clinic")
    backup = tmp_path / "kapfinder.backup"
    backup.write_text("an older file at the same path, world-readable")
    backup.chmod(0o644)
    previous = os.umask(0o022)  # the usual umask: new files 0644
    try:
        result = runner.invoke(args=["db", "backup", str(backup)])
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert backup.stat().st_size > 100


def test_restore_refuses_a_backup_of_another_schema_version_and_changes_nothing(
        app, db_session, make_clinic, runner, tmp_path):
    from kapfinder.extensions import db

    make_clinic(name="In The Old Backup")
    db_session.remove()
    with db.engine.begin() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("UPDATE alembic_version SET version_num = '0008'"))  # as an older release wrote it
    backup = tmp_path / "old-release.backup"
    try:
        assert runner.invoke(args=["db", "backup", str(backup)]).exit_code == 0
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
    make_clinic(name="Added Since")
    db_session.remove()
    before = snapshot(db.engine)

    result = runner.invoke(args=["db", "restore", "--yes", str(backup)])
    assert result.exit_code != 0
    assert f"holds schema version 0008, but this code expects {head}" in result.output
    assert "The database was not changed" in result.output
    assert snapshot(db.engine) == before
    assert sorted(db_session.scalars(select(Clinic.name)).all()) == ["Added Since", "In The Old Backup"]
