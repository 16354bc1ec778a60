"""Imports: flat CSV, HSDS JSON and HSDS CSV, all or nothing (docs/HSDS.md → Imports).

Two passes. The check pass reads the input once (through the format's reader, ``reading``), checks
every record and collects every problem (with file and line, or file and JSON pointer, and field)
and every skipped record, keeping each checked record in a temporary file; if there is any problem,
nothing is written. The writing pass (``writing``) reads the checked records back and writes them
in one transaction, in batches. Nothing holds the whole input in memory (HSDS CSV tables are joined
in a temporary SQLite file, and so are the keys the duplicate checks remember).
"""
from __future__ import annotations

import hashlib
import pickle
import sqlite3
import tempfile
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import IO, Callable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Clinic, utcnow
from .common import ImportReport, Problem
from .reading import detect_format, input_problem, read_items
from .records import ClinicRecord, Gazetteer, Item, RecordProblems, finish, match_keys
from .writing import BATCH, store

__all__ = ["ImportReport", "run_import"]


def run_import(session: Session, path: str | Path, fmt: str | None = None, *, publish: bool = False,
               now: datetime | None = None, progress: Callable[[int], None] | None = None,
               checked: Callable[[ImportReport], None] | None = None,
               checking: Callable[[int], None] | None = None) -> ImportReport:
    """Check, then (if nothing is wrong) store. ``checking(n)`` is called every 1,000 records checked,
    ``checked(report)`` between the passes and ``progress(n)`` as batches of ``n`` records are written.

    The input is read once. The check pass keeps each checked record in a temporary file on disk
    (not in memory); the writing pass reads them back, so exactly what was checked is stored.
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    report = ImportReport(format=fmt or "?")
    problem = input_problem(path, fmt)
    if problem is not None:
        report.problems.append(problem)
        return report
    assert fmt is not None
    with ExitStack() as stack:
        items = read_items(fmt, path, stack)
        spool = stack.enter_context(tempfile.TemporaryFile(prefix="kapfinder-import-"))
        _check(session, items, Gazetteer(session), report, spool, checking)
        session.rollback()
        if checked:
            checked(report)
        if report.problems:
            return report
        store(session, _unspool(spool), publish, now or utcnow(), progress, report)
    return report


# --- the check pass -----------------------------------------------------------------------------------

def _check(session: Session, items: Iterator[Item], gazetteer: Gazetteer, report: ImportReport,
           spool: IO[bytes], checking: Callable[[int], None] | None = None) -> None:
    """Check every record; while nothing is wrong, keep each checked record in ``spool`` for writing."""
    checker = _Checker(session, gazetteer, report)
    for record, problems, skipped in items:
        report.problems += problems
        if skipped is not None and not problems:
            report.skipped.append(skipped)
        if record is None or skipped is not None:
            continue
        checker.check(record)
        if checking is not None and report.records % 1000 == 0:
            checking(report.records)
        if not report.problems:
            pickle.dump((record.values, record.insurance, record.prices), spool, pickle.HIGHEST_PROTOCOL)
    checker.close()


class _Checker:
    """One record at a time: the listing rules (``records.finish``), then what only the whole input
    (or the directory) can tell: ids, slugs and locations given twice, slugs taken by another listing."""

    def __init__(self, session: Session, gazetteer: Gazetteer, report: ImportReport):
        self.session, self.gazetteer, self.report = session, gazetteer, report
        self.empty = session.scalar(select(Clinic.id).limit(1)) is None
        self.seen = Seen()
        self.pending_slugs: list[tuple[str, str | None, str]] = []

    def check(self, record: ClinicRecord) -> None:
        where = record.values.get("_where", "?")
        problems = RecordProblems(record.locate or (lambda _p, where=where: where))
        finish(record, problems, self.gazetteer)
        self.report.problems += problems.items
        self.report.records += 1
        self._given_twice(record, where)

    def _given_twice(self, record: ClinicRecord, where: str) -> None:
        for kind, value in (("id", record.id), ("slug", record.values.get("slug"))):
            first = self.seen.first(kind, value, where) if value else None
            if first is not None:
                self.report.problems.append(Problem(where, kind, f"duplicate {kind} {value} (also at {first})"))
        if record.values.get("slug"):
            self.pending_slugs.append((record.values["slug"], record.id, where))
            if len(self.pending_slugs) >= BATCH:
                self._check_slugs()
        npi_key, name_key = match_keys(record.values)
        for key, what in ((npi_key, "NPI, street and ZIP"), (name_key, "name and address")):
            first = self.seen.first(what, repr(key), where) if key is not None else None
            if first is not None and first != where:
                self.report.problems.append(Problem(where, None, f"same {what} as {first}: one listing per location"))

    def _check_slugs(self) -> None:
        """Slugs that already belong to another listing (one query per batch of records)."""
        if self.pending_slugs and not self.empty:
            owners = dict(self.session.execute(select(Clinic.slug, Clinic.id).where(
                Clinic.slug.in_({slug for slug, _cid, _where in self.pending_slugs}))).all())
            for slug, cid, where in self.pending_slugs:
                owner = owners.get(slug)
                if owner is not None and owner != cid:
                    self.report.problems.append(Problem(where, "slug", f"slug {slug} belongs to another listing"))
        self.pending_slugs.clear()

    def close(self) -> None:
        self._check_slugs()
        self.seen.close()


class Seen:
    """The ids, slugs and match keys met so far in one import, with where each was first met.

    Kept in a private temporary SQLite database (on disk, with SQLite's small default page cache),
    so the duplicate checks need no memory that grows with the input.
    """

    def __init__(self) -> None:
        self.db = sqlite3.connect("")  # "": a temporary database, deleted when closed
        self.db.execute("CREATE TABLE seen (kind TEXT, key BLOB, place TEXT, PRIMARY KEY (kind, key)) WITHOUT ROWID")

    def first(self, kind: str, key: str, where: str) -> str | None:
        """Where ``key`` was met before (None the first time, when it is remembered with ``where``)."""
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
        if self.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", (kind, digest, where)).rowcount:
            return None
        return self.db.execute("SELECT place FROM seen WHERE kind = ? AND key = ?", (kind, digest)).fetchone()[0]

    def close(self) -> None:
        self.db.close()


def _unspool(spool: IO[bytes]) -> Iterator[ClinicRecord]:
    """The records the check pass kept, in input order."""
    spool.seek(0)
    while True:
        try:
            values, insurance, prices = pickle.load(spool)
        except EOFError:
            return
        yield ClinicRecord(values=values, insurance=insurance, prices=prices)
