"""Concurrency without loss (issue 6 item 3), on whichever engine the suite runs on.

Each thread has its own session, as each request or process would. The version check is the
database's own ``UPDATE ... WHERE version = :expected``, so it holds on PostgreSQL too.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from kapfinder import listings
from kapfinder.db import configure_engine
from kapfinder.errors import Conflict
from kapfinder.extensions import db
from kapfinder.models import AuditLog, Clinic, ListingRevision
from tests.listings.conftest import valid_listing

RACES = 200


def run_threads(targets) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.slow
def test_two_editors_racing_200_times_one_wins_each_race(db_session, owner, moderator):
    clinic = listings.approve_listing(db_session, listings.create_listing(db_session, owner.id, valid_listing()).id,
                                      moderator.id)
    clinic_id, owner_id = clinic.id, owner.id
    engine = db.engine
    sessions = [Session(engine), Session(engine)]
    # Each editor's form, cleaned once: the race is about the write, not the validation.
    forms = [valid_listing(description=f"editor {i}", phone=f"(512) 555-01{10 + i}") for i in range(2)]

    for race in range(RACES):
        with Session(engine) as s:
            version = s.get(Clinic, clinic_id).version
        barrier = threading.Barrier(2)
        outcome: dict[int, str] = {}

        def editor(i: int) -> None:
            session = sessions[i]
            data = dict(forms[i], description=f"race {race} editor {i}")
            barrier.wait()
            try:
                listings.edit_listing(session, clinic_id, owner_id, version, data)
                outcome[i] = "accepted"
            except Conflict:
                outcome[i] = "refused"
            except Exception as exc:  # anything else is a failure of the race
                outcome[i] = repr(exc)
            finally:
                session.rollback()
                session.expunge_all()

        run_threads([lambda: editor(0), lambda: editor(1)])
        assert sorted(outcome.values()) == ["accepted", "refused"], (race, outcome)
        winner = next(i for i, o in outcome.items() if o == "accepted")
        with Session(engine) as s:
            row = s.get(Clinic, clinic_id)
            assert row.version == version + 1
            assert row.description == f"race {race} editor {winner}"
            pending = s.scalars(select(ListingRevision).where(
                ListingRevision.clinic_id == clinic_id, ListingRevision.status == "pending")).all()
            assert len(pending) == 1
            assert pending[0].changes["phone"]["new"] == f"+151255501{10 + winner}"
    for s in sessions:
        s.close()


@pytest.mark.slow
def test_16_writers_50_edits_each_none_lost(db_session, owner, moderator):
    clinic = listings.approve_listing(db_session, listings.create_listing(db_session, owner.id, valid_listing()).id,
                                      moderator.id)
    clinic_id, owner_id, start_version = clinic.id, owner.id, db_session.get(Clinic, clinic.id).version
    writers, edits = 16, 50
    # One connection per writer, as 16 processes would have.
    engine = create_engine(db.engine.url, pool_size=writers + 2)
    configure_engine(engine)
    errors: list[str] = []

    def writer(w: int) -> None:
        try:
            with Session(engine) as session:
                for j in range(edits):
                    while True:  # read, modify, write; a refused write re-reads, as a person would
                        session.expire_all()
                        version = session.get(Clinic, clinic_id).version
                        session.rollback()
                        try:  # "everything is still correct", from a page showing ``version``
                            listings.reconfirm(session, clinic_id, owner_id, version)
                            break
                        except Conflict:
                            continue
        except Exception as exc:  # e.g. "database is locked" would end up here
            errors.append(repr(exc))

    run_threads([lambda w=w: writer(w) for w in range(writers)])
    engine.dispose()
    assert errors == []
    engine = db.engine
    with Session(engine) as s:
        assert s.get(Clinic, clinic_id).version == start_version + writers * edits
        counted = s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.clinic_id == clinic_id, AuditLog.action == "reconfirmed"))
        assert counted == writers * edits
