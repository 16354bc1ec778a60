"""The bulk-load path writes the same rows the ORM would, on whichever engine the suite runs."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from kapfinder import bulk, sample
from kapfinder.models import Clinic, ClinicAtHomeState, ClinicInsurance, ClinicPrice, unit_vector

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def _snapshot(session) -> dict[str, list]:
    """Every row of the clinic tables, without the child tables' surrogate keys."""
    session.expire_all()
    conn = session.connection()
    out = {}
    for table, order in ((bulk.CLINIC, ["id"]), (bulk.INSURANCE, ["clinic_id", "service", "carrier"]),
                         (bulk.PRICE, ["clinic_id", "service"]), (bulk.AT_HOME, ["clinic_id", "state"])):
        rows = conn.execute(select(table).order_by(*[table.c[k] for k in order])).mappings().all()
        out[table.name] = [{k: v for k, v in row.items() if not (k == "id" and table is not bulk.CLINIC)}
                           for row in rows]
    session.commit()
    return out


def _empty(session) -> None:
    bulk.delete_clinics(session.connection(), bulk.CLINIC.c.id.is_not(None))
    session.commit()


def _modes(session) -> list[bool]:
    """Core executemany everywhere; COPY too where the engine has it."""
    conn = session.connection()
    return [False, True] if bulk._use_copy(conn) else [False]


def test_bulk_rows_equal_orm_rows_derived_columns_included(db_session):
    zips = sample.standard_zips(db_session)
    records = list(sample.generate(zips, 80, seed=11, now=NOW))
    assert any(r.at_home_states for r in records) and any(r.insurance for r in records)

    db_session.add_all(bulk.to_orm(r) for r in records)
    db_session.commit()
    by_orm = _snapshot(db_session)
    assert len(by_orm["clinic"]) == 80

    for use_copy in _modes(db_session):
        _empty(db_session)
        assert bulk.insert_clinics(db_session.connection(), iter(records), batch_size=7, use_copy=use_copy) == 80
        db_session.commit()
        by_bulk = _snapshot(db_session)
        for table in by_orm:
            assert by_bulk[table] == by_orm[table], (table, use_copy)

    stored = db_session.get(Clinic, records[0].clinic["id"])
    assert (stored.ux, stored.uy, stored.uz) == unit_vector(stored.lat, stored.lon)
    assert stored.version == 1


def test_bulk_accepts_list_fields_and_fills_model_defaults(db_session):
    rows = bulk.ClinicRows(
        {"name": "Lists Clinic", "slug": "lists-clinic", "lat": 30.2713, "lon": -97.7426,
         "methods": ["esketamine-nasal", "iv"], "settings": ["in-clinic", "at-home"], "therapy": "integrated",
         "offers_evaluation": True, "rems_certified": True},
        insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network", "plan_types": ["ppo"],
                    "as_of": date(2026, 5, 1)}],
        prices=[{"service": "ketamine", "min_usd": 450, "max_usd": 600}],
        at_home_states=["TX", "CA", "TX"],
    )
    assert bulk.insert_clinics(db_session, [rows]) == 1
    db_session.commit()
    clinic = db_session.scalars(select(Clinic).where(Clinic.slug == "lists-clinic")).one()
    assert clinic.methods == ["iv", "esketamine-nasal"]
    assert clinic.services == ["esketamine", "ketamine", "psychotherapy", "evaluation"]
    assert clinic.at_home_states == ["CA", "TX"]
    assert [(i.carrier, i.plan_types) for i in clinic.insurance] == [("aetna", ["ppo"])]
    assert [(p.service, p.min_usd, p.max_usd) for p in clinic.prices] == [("ketamine", 450, 600)]
    # What the rows did not say comes from the model's defaults.
    assert clinic.status == "draft" and clinic.sample is False and clinic.version == 1
    assert clinic.hours == [] and clinic.description == ""
    assert len(clinic.id) == 36 and clinic.created_at is not None


def test_delete_clinics_removes_their_child_rows_only(db_session, make_clinic):
    keep = make_clinic(insurance=[{"carrier": "aetna", "service": "ketamine", "network": "in-network"}],
                       prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 400}], at_home_states=["TX"])
    zips = sample.standard_zips(db_session)
    bulk.insert_clinics(db_session, sample.generate(zips, 30, seed=2, now=NOW))
    db_session.commit()
    deleted = bulk.delete_clinics(db_session, bulk.CLINIC.c.sample.is_(True))
    db_session.commit()
    assert deleted == 30
    assert db_session.scalars(select(Clinic.id)).all() == [keep.id]
    for model in (ClinicInsurance, ClinicPrice, ClinicAtHomeState):
        assert set(db_session.scalars(select(model.clinic_id))) == {keep.id}


def test_a_large_load_into_an_empty_directory_builds_the_same_indexes_after_the_rows(db_session, monkeypatch):
    from kapfinder.search import parse_criteria, search

    _empty(db_session)
    before = sorted(bulk._secondary_indexes(db_session.connection()))
    db_session.commit()
    assert any(name == "ix_clinic_cell" for name, _sql in before)
    monkeypatch.setattr(bulk, "REINDEX_FROM", 10)
    result = sample.load(db_session, 60, seed=8)
    assert result.inserted == 60
    assert sorted(bulk._secondary_indexes(db_session.connection())) == before
    page = search(db_session, parse_criteria({"location": ["CA"]}, api=True))
    assert page.total == search(db_session, parse_criteria({"location": ["CA"]}, api=True), use_index=False).total


def test_a_failed_load_puts_the_indexes_back(db_session, monkeypatch):
    _empty(db_session)
    before = sorted(bulk._secondary_indexes(db_session.connection()))
    db_session.commit()
    monkeypatch.setattr(bulk, "REINDEX_FROM", 10)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bulk, "insert_clinics", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        sample.load(db_session, 60, seed=8)
    db_session.rollback()
    assert sorted(bulk._secondary_indexes(db_session.connection())) == before


def test_a_load_leaves_the_garbage_collector_as_it_found_it(db_session):
    import gc

    rows = sample.generate(sample.standard_zips(db_session.connection()), 3, seed=9)
    assert gc.isenabled()
    assert bulk.insert_clinics(db_session, rows) == 3
    assert gc.isenabled()  # paused only while the rows streamed

    def failing():
        yield from sample.generate(sample.standard_zips(db_session.connection()), 1, seed=10)
        raise ValueError("a bad record")

    with pytest.raises(ValueError, match="a bad record"):
        bulk.insert_clinics(db_session, failing())
    assert gc.isenabled()
    db_session.rollback()
