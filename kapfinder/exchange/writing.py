"""The import's writing pass: checked records into the database, in one transaction.

New listings go in through ``kapfinder.bulk``; existing ones (matched by id, NPI + street + ZIP, or
name + address) are rewritten in place, unless a moderator must see the change first (an owned
listing, or a published one imported without ``--publish``): then it becomes the listing's pending
revision through ``kapfinder.listings``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, Callable, Iterator

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from .. import bulk, listings, vocab
from ..db import write_transaction
from ..hsds.ids import hsds_id
from ..models import Clinic, ClinicAtHomeState, ClinicInsurance, ClinicPrice, ListingRevision, Status
from .common import ImportReport, Waiting
from .records import ClinicRecord, match_keys

BATCH = 1000
CLINIC = Clinic.__table__
REVISION = ListingRevision.__table__
CHILD_TABLES = (ClinicInsurance.__table__, ClinicPrice.__table__, ClinicAtHomeState.__table__)


Proposal = tuple[dict[str, Any], ClinicRecord, str]  # (the existing listing, the record, why a moderator)


@dataclass
class _Batch:
    """What to do with one batch of records."""

    new_rows: list[bulk.ClinicRows] = field(default_factory=list)
    updates: list[tuple[dict[str, Any], dict[str, Any], ClinicRecord]] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)


def store(session: Session, records: Iterator[ClinicRecord], publish: bool, now: datetime,
          progress: Callable[[int], None] | None, report: ImportReport) -> None:
    """Write every record in one transaction: new listings in bulk, updates in place, and changes
    that need a moderator (an owned listing, or a published one without ``publish``) as revisions."""
    with write_transaction(session):
        conn = session.connection()
        empty = session.scalar(select(Clinic.id).limit(1)) is None
        reserved_slugs: set[str] = set()
        while batch := list(islice(records, BATCH)):
            matches = {} if empty else _matches(session, batch)
            plan = _plan(session, batch, matches, publish, now, reserved_slugs)
            report.created += bulk.insert_clinics(conn, plan.new_rows, now=now)
            if plan.updates:
                _update(conn, plan.updates, now)
                report.updated += len(plan.updates)
            if plan.proposals:
                _propose(session, plan.proposals, now, report)
            if progress is not None:
                progress(len(batch))


def _plan(session: Session, batch: list[ClinicRecord], matches: dict[int, dict[str, Any]], publish: bool,
          now: datetime, reserved_slugs: set[str]) -> _Batch:
    plan = _Batch()
    for record in batch:
        existing = matches.get(id(record))
        why = _moderator_first(existing, publish)
        if why:
            assert existing is not None
            plan.proposals.append((existing, record, why))
            continue
        values = _clinic_values(record, publish, now)
        if existing is not None:
            values["id"] = existing["id"]
            values["slug"] = values.get("slug") or existing["slug"]
        if publish and not values.get("slug"):
            values["slug"] = _new_slug(session, values, reserved_slugs)
        if existing is not None:
            plan.updates.append((existing, values, record))
        else:
            plan.new_rows.append(bulk.ClinicRows(values, insurance=record.insurance, prices=record.prices,
                                                 at_home_states=record.values.get("at_home_states") or []))
    return plan


def _moderator_first(existing: dict[str, Any] | None, publish: bool) -> str | None:
    """Why a moderator must see the change to this existing listing first, or None."""
    if existing is None:
        return None
    if existing["owner_id"] is not None:
        return "the listing has an owner"
    if existing["status"] == Status.PUBLISHED and not publish:
        return "published listing, imported without --publish"
    return None


def _propose(session: Session, proposals: list[Proposal], now: datetime, report: ImportReport) -> None:
    """Changes to listings a moderator must see first become each listing's pending revision
    (through ``listings.propose_revision``); the public listing stays as it is."""
    ids = [existing["id"] for existing, _r, _why in proposals]
    clinics = {c.id: c for c in session.scalars(
        select(Clinic).where(Clinic.id.in_(ids)).options(
            selectinload(Clinic.insurance), selectinload(Clinic.prices), selectinload(Clinic.at_home_state_rows)))}
    for existing, record, why in proposals:
        clinic = clinics[existing["id"]]
        values = snapshot_values(record, listings.snapshot(clinic))
        before = listings.pending_revision(session, clinic.id)
        before_changes = dict(before.changes) if before is not None else {}
        revision = listings.propose_revision(session, clinic, values, now=now)
        if revision is None:
            report.unchanged += 1
            continue
        fields = tuple(k for k in listings.FIELDS if k in revision.changes and
                       (k not in before_changes or before_changes[k] != revision.changes[k]))
        report.waiting.append(Waiting(record.values.get("_where", "?"), clinic.id, why,
                                      fields or tuple(k for k in listings.FIELDS if k in revision.changes)))
    session.flush()  # the clean objects are then held only weakly: memory stays flat


def snapshot_values(record: ClinicRecord, current: dict[str, Any]) -> dict[str, Any]:
    """The record in the listing services' snapshot form (``listings.FIELDS``).

    An empty text and a missing one are the same thing in every format, so neither counts as a change.
    """
    v = record.values
    out: dict[str, Any] = {}
    for key in listings.FIELDS:
        if key == "insurance":
            out[key] = [{"carrier": r["carrier"], "service": r["service"], "network": r["network"],
                         "plan_types": list(r.get("plan_types") or [])} for r in record.insurance]
        elif key == "prices":
            out[key] = [{"service": p["service"], "min_usd": p.get("min_usd"), "max_usd": p.get("max_usd")}
                        for p in record.prices]
        elif key in listings.LIST_FIELDS:
            out[key] = list(v.get(key) or [])
        elif key in listings.BOOL_FIELDS:
            out[key] = bool(v.get(key))
        elif key == "hours":
            out[key] = [dict(h) for h in v.get("hours") or []]
        else:
            out[key] = v.get(key)
            if out[key] in (None, "") and current.get(key) in (None, ""):
                out[key] = current.get(key)
    return out


COLUMNS = {c.key for c in CLINIC.columns}


def _clinic_values(record: ClinicRecord, publish: bool, now: datetime) -> dict[str, Any]:
    v = {k: val for k, val in record.values.items() if k in COLUMNS or k in bulk.LIST_FIELDS}
    v["status"] = Status.PUBLISHED if publish else Status.PENDING
    v["owner_id"] = None
    if publish and v.get("verified_at") is None:
        v["verified_at"] = now
    if publish and v.get("confirmed_at") is None:
        v["confirmed_at"] = v["verified_at"]
    v.setdefault("created_at", v.get("updated_at") or now)
    v.setdefault("updated_at", now)
    if not v.get("id"):
        v["id"] = hsds_id(f"import/{v.get('name')}/{v.get('street')}/{v.get('zip')}")
    return v


def _matches(session: Session, batch: list[ClinicRecord]) -> dict[int, dict[str, Any]]:
    """Existing clinics for the records of a batch: by id, else NPI + street + ZIP, else name + address
    (compared as ``match_keys`` normalises them: case and runs of spaces do not matter)."""
    cols = (CLINIC.c.id, CLINIC.c.owner_id, CLINIC.c.slug, CLINIC.c.version, CLINIC.c.status)
    ids = list({r.id for r in batch if r.id})
    by_id = {row.id: dict(row._mapping) for row in session.execute(select(*cols).where(CLINIC.c.id.in_(ids)))}
    found: dict[int, dict[str, Any]] = {}
    rest = []
    for record in batch:
        if record.id in by_id:
            found[id(record)] = by_id[record.id]
        else:
            rest.append(record)
    if not rest:
        return found
    npis = {r.values["npi"] for r in rest if r.values.get("npi")}
    names = {(r.values.get("name") or "").lower() for r in rest}
    names |= {" ".join(name.split()) for name in names}  # "River  Clinic" in the file finds "River Clinic"
    where = func.lower(CLINIC.c.name).in_(names)
    if npis:
        where = or_(CLINIC.c.npi.in_(npis), where)
    by_npi: dict[tuple, dict[str, Any]] = {}
    by_name: dict[tuple, dict[str, Any]] = {}
    stmt = select(*cols, CLINIC.c.npi, CLINIC.c.name, CLINIC.c.street, CLINIC.c.city, CLINIC.c.state,
                  CLINIC.c.zip).where(where).order_by(CLINIC.c.id)
    for row in session.execute(stmt):
        candidate = dict(row._mapping)
        npi_key, name_key = match_keys(candidate)
        if npi_key is not None:
            by_npi.setdefault(npi_key, candidate)
        by_name.setdefault(name_key, candidate)
    for record in rest:
        npi_key, name_key = match_keys(record.values)
        hit = (by_npi.get(npi_key) if npi_key is not None else None) or by_name.get(name_key)
        if hit is not None:
            found[id(record)] = {c.key: hit[c.key] for c in cols}
    return found


def _update(conn, updates: list[tuple[dict[str, Any], dict[str, Any], ClinicRecord]], now: datetime) -> None:
    """Rewrite existing clinics (one executemany) and replace their child rows."""
    rows = []
    for existing, values, _record in updates:
        row = bulk.clinic_row(values)
        row["version"] = (existing.get("version") or 1) + 1
        row["b_id"] = row.pop("id")
        rows.append(row)
    conn.execute(update(CLINIC).where(CLINIC.c.id == bindparam("b_id")), rows)
    ids = [existing["id"] for existing, _v, _r in updates]
    for table in CHILD_TABLES:
        conn.execute(delete(table).where(table.c.clinic_id.in_(ids)))
    # Changes an earlier import left waiting are superseded by what is now stored.
    conn.execute(update(REVISION).where(REVISION.c.clinic_id.in_(ids), REVISION.c.status == "pending")
                 .values(status="withdrawn", decided_at=now, updated_at=now, version=REVISION.c.version + 1))
    insurance, prices, states = [], [], []
    for existing, _values, record in updates:
        cid = existing["id"]
        insurance += [bulk.insurance_row(cid, r) for r in record.insurance]
        prices += [bulk.price_row(cid, r) for r in record.prices]
        states += [{"clinic_id": cid, "state": s}
                   for s in vocab.STATES.ordered(record.values.get("at_home_states") or [])]
    for table, child_rows in zip(CHILD_TABLES, (insurance, prices, states)):
        if child_rows:
            conn.execute(insert(table), child_rows)


def _new_slug(session: Session, values: dict[str, Any], reserved: set[str]) -> str:
    from slugify import slugify

    base = slugify(f"{values.get('name')} {values.get('city')}", max_length=200, word_boundary=True) or "clinic"
    taken = set(session.scalars(select(Clinic.slug).where((Clinic.slug == base) | Clinic.slug.like(base + "-%"))))
    taken |= {s for s in reserved if s == base or s.startswith(base + "-")}
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    reserved.add(slug)
    return slug
