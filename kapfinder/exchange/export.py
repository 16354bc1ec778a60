"""Exports of the published directory: ``csv`` (one file), ``hsds-json`` and ``hsds-csv`` (folders).

Each export is written beside its target first and moved into place at the end, so the files served
at ``/open-data/`` are never half-written. Clinics are read in chunks: memory stays flat.
"""
from __future__ import annotations

import csv
import os
import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ..hsds.documents import organization_doc
from ..hsds.taxonomies import all_taxonomies, all_terms
from ..models import Clinic, Status
from . import flat
from .common import FLAT_CSV_NAME, LICENSE_NAME, dump_json, escape_cell, format_number, license_text
from .schemas import NESTING, TABLE_SCHEMAS, TABLES, table_columns

CHUNK = 500


@dataclass
class ExportResult:
    path: Path
    clinics: int


@dataclass(frozen=True)
class ExportSettings:
    base_url: str
    license: str = "CC-BY-4.0"
    attribution: str | None = None


def count_published(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Clinic).where(Clinic.status == Status.PUBLISHED)) or 0


def published_clinics(session: Session) -> Iterator[Clinic]:
    """Every published clinic in id order, loaded a chunk at a time (with insurance, prices, states)."""
    last = ""
    while True:
        chunk = session.scalars(
            select(Clinic).where(Clinic.status == Status.PUBLISHED, Clinic.id > last).order_by(Clinic.id).limit(CHUNK)
            .options(selectinload(Clinic.insurance), selectinload(Clinic.prices),
                     selectinload(Clinic.at_home_state_rows))).all()
        if not chunk:
            return
        last = chunk[-1].id
        yield from chunk
        # No expunge_all(): the caller's own objects stay attached. Clean objects are held only
        # weakly by the session, so each chunk is freed once the caller moves on.


def default_target(instance_path: str | Path, fmt: str) -> Path:
    exports = Path(instance_path) / "exports"
    return exports / (FLAT_CSV_NAME if fmt == "csv" else fmt)


class _Counted:
    """The published clinics, counted and reported to ``progress`` as each is written."""

    def __init__(self, session: Session, progress: Callable[[int], None] | None):
        self.session, self.progress, self.count = session, progress, 0

    def __iter__(self) -> Iterator[Clinic]:
        for clinic in published_clinics(self.session):
            yield clinic
            self.count += 1
            if self.progress is not None:
                self.progress(1)


def export(session: Session, fmt: str, target: str | Path, settings: ExportSettings,
           progress: Callable[[int], None] | None = None) -> ExportResult:
    """Write the published directory in ``fmt`` to ``target`` (a file for csv unless it is a folder)."""
    target = Path(target)
    clinics = _Counted(session, progress)
    licence = license_text(settings.license, settings.attribution, settings.base_url)
    if fmt == "csv":
        if target.is_dir() or (not target.suffix and not target.exists()):
            target = target / FLAT_CSV_NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_file(target, lambda f: _write_flat(clinics, f))
        (target.parent / LICENSE_NAME).write_text(licence, encoding="utf-8")
        return ExportResult(target, clinics.count)
    if fmt not in ("hsds-json", "hsds-csv"):
        raise ValueError(f"unknown export format {fmt!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        writer = _write_hsds_json if fmt == "hsds-json" else _write_hsds_csv
        writer(clinics, work, settings)
        (work / LICENSE_NAME).write_text(licence, encoding="utf-8")
        _swap_dir(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ExportResult(target, clinics.count)


def _atomic_file(target: Path, write: Callable[[IO[str]], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            write(f)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _swap_dir(work: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    work.rename(target)
    work.parent.joinpath(target.name).chmod(0o755)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_flat(clinics: Iterable[Clinic], f: IO[str]) -> None:
    writer = csv.writer(f, lineterminator="\r\n")
    writer.writerow(flat.HEADER)
    for clinic in clinics:
        row = flat.clinic_row(clinic)
        writer.writerow([escape_cell(row[k]) for k in flat.HEADER])


def taxonomies_doc() -> dict[str, Any]:
    return {"taxonomies": all_taxonomies(), "taxonomy_terms": all_terms()}


def _write_hsds_json(clinics: Iterable[Clinic], work: Path, settings: ExportSettings) -> None:
    orgs = work / "organizations"
    orgs.mkdir()
    for clinic in clinics:
        doc = organization_doc(clinic, settings.base_url, full_service=True)
        (orgs / f"{clinic.id}.json").write_bytes(dump_json(doc))
    (work / "taxonomies.json").write_bytes(dump_json(taxonomies_doc()))


# --- HSDS tabular form ------------------------------------------------------------------------

def _cell(value: Any) -> str:
    kind = type(value)  # exact types first: this runs for every cell of a large export
    if kind is str:
        return escape_cell(value)
    if value is None:
        return ""
    if kind is int or kind is float:
        return format_number(value)
    return escape_cell(str(value))


def table_rows(doc: dict[str, Any], table: str = "organization") -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) for every record of one organization document, foreign keys filled in."""
    if table == "organization":
        yield table, doc
    for field_name, child, key in NESTING[table]:
        for item in doc.get(field_name, []):
            yield child, item if key in item else {**item, key: doc["id"]}
            if child in NESTING:
                yield from table_rows(item, child)


def datapackage(settings: ExportSettings) -> dict[str, Any]:
    resources = []
    for schema in TABLE_SCHEMAS:
        fields = []
        for name in table_columns(schema):
            prop = schema["properties"][name]
            spec = {"name": name, "type": prop.get("datapackage_type") or prop["type"],
                    "description": prop.get("description", "")}
            if prop.get("format") in ("uuid", "email", "uri") and "datapackage_type" not in prop:
                spec["format"] = prop["format"]
            if prop.get("enum"):
                spec["constraints"] = {"enum": prop["enum"]}
            fields.append(spec)
        meta = schema["datapackage_metadata"]
        resources.append({"name": schema["name"], "path": schema["path"], "description": schema["description"],
                          "format": meta["format"], "mediatype": meta["mediatype"], "profile": meta["profile"],
                          "encoding": "utf-8", "schema": {"fields": fields, "primaryKey": "id"}})
    package = {
        "name": "kapfinder-hsds", "title": "kapfinder directory (Open Referral HSDS 3.0)",
        "profile": "tabular-data-package", "homepage": settings.base_url,
        "licenses": [{"name": settings.license}],
        "resources": resources,
    }
    if settings.attribution:
        package["contributors"] = [{"title": settings.attribution, "role": "author"}]
    return package


def _write_hsds_csv(clinics: Iterable[Clinic], work: Path, settings: ExportSettings) -> None:
    columns = {name: table_columns(schema) for name, schema in TABLES.items()}
    with ExitStack() as files:
        writers = {}
        for schema in TABLE_SCHEMAS:
            f = files.enter_context(open(work / schema["path"], "w", encoding="utf-8", newline=""))
            writers[schema["name"]] = csv.writer(f, lineterminator="\r\n")
            writers[schema["name"]].writerow(columns[schema["name"]])

        def write(table: str, row: dict[str, Any]) -> None:
            writers[table].writerow([_cell(row.get(c)) for c in columns[table]])

        for clinic in clinics:
            for table, row in table_rows(organization_doc(clinic, settings.base_url, full_service=True)):
                write(table, row)
        for taxonomy in all_taxonomies():
            write("taxonomy", taxonomy)
        for term in all_terms():
            write("taxonomy_term", term)
    (work / "datapackage.json").write_bytes(dump_json(datapackage(settings)))
