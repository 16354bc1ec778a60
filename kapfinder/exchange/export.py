"""Exports of the published directory: ``csv`` (one file), ``hsds-json`` and ``hsds-csv`` (folders).

Each export is written beside its target first and moved into place at the end, so the files served
at ``/open-data/`` are never half-written. Clinics are read in chunks: memory stays flat.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ..hsds.documents import organization_doc
from ..hsds.taxonomies import all_taxonomies, all_terms
from ..models import Clinic
from . import flat
from .common import FLAT_CSV_NAME, LICENSE_NAME, dump_json, escape_cell, format_number, license_text
from .schemas import SCHEMA_DIR

CHUNK = 500
#: The HSDS tables, from the official per-table schemas, in datapackage ``order``.
TABLE_SCHEMAS = sorted(
    (json.loads(p.read_text(encoding="utf-8")) for p in SCHEMA_DIR.glob("*.json") if p.name != "openapi.json"),
    key=lambda s: s["datapackage_metadata"]["order"])
TABLES = {s["name"]: s for s in TABLE_SCHEMAS}


def table_columns(schema: dict[str, Any]) -> list[str]:
    """The tabular columns of a table: every property that is not a nested array or object."""
    return [name for name, prop in schema["properties"].items()
            if prop.get("type") not in ("array", "object") and "$ref" not in prop]


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
    return session.scalar(select(func.count()).select_from(Clinic).where(Clinic.status == "published")) or 0


def published_clinics(session: Session) -> Iterator[Clinic]:
    """Every published clinic in id order, loaded a chunk at a time (with insurance, prices, states)."""
    last = ""
    while True:
        chunk = session.scalars(
            select(Clinic).where(Clinic.status == "published", Clinic.id > last).order_by(Clinic.id).limit(CHUNK)
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


def export(session: Session, fmt: str, target: str | Path, settings: ExportSettings,
           progress: Callable[[int], None] | None = None) -> ExportResult:
    """Write the published directory in ``fmt`` to ``target`` (a file for csv unless it is a folder)."""
    target = Path(target)
    tick = progress or (lambda n: None)
    if fmt == "csv":
        if target.is_dir() or (not target.suffix and not target.exists()):
            target = target / FLAT_CSV_NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        count = _atomic_file(target, lambda f: _write_flat(session, f, tick))
        (target.parent / LICENSE_NAME).write_text(license_text(settings.license, settings.attribution,
                                                               settings.base_url), encoding="utf-8")
        return ExportResult(target, count)
    if fmt not in ("hsds-json", "hsds-csv"):
        raise ValueError(f"unknown export format {fmt!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        writer = _write_hsds_json if fmt == "hsds-json" else _write_hsds_csv
        count = writer(session, work, settings, tick)
        (work / LICENSE_NAME).write_text(license_text(settings.license, settings.attribution, settings.base_url),
                                         encoding="utf-8")
        _swap_dir(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ExportResult(target, count)


def _atomic_file(target: Path, write) -> Any:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            result = write(f)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


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


def _write_flat(session: Session, f, tick) -> int:
    writer = csv.writer(f, lineterminator="\r\n")
    writer.writerow(flat.HEADER)
    count = 0
    for clinic in published_clinics(session):
        row = flat.clinic_row(clinic)
        writer.writerow([escape_cell(row[k]) for k in flat.HEADER])
        count += 1
        tick(1)
    return count


def _dump(doc: Any) -> bytes:
    return dump_json(doc)


def taxonomies_doc() -> dict[str, Any]:
    return {"taxonomies": all_taxonomies(), "taxonomy_terms": all_terms()}


def _write_hsds_json(session: Session, work: Path, settings: ExportSettings, tick) -> int:
    orgs = work / "organizations"
    orgs.mkdir()
    count = 0
    for clinic in published_clinics(session):
        doc = organization_doc(clinic, settings.base_url, full_service=True)
        (orgs / f"{clinic.id}.json").write_bytes(_dump(doc))
        count += 1
        tick(1)
    (work / "taxonomies.json").write_bytes(_dump(taxonomies_doc()))
    return count


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


def table_rows(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) for every record of one organization document, foreign keys filled in."""
    org_id = doc["id"]
    yield "organization", doc
    for ident in doc.get("organization_identifiers", []):
        yield "organization_identifier", ident
    for attr in doc.get("attributes", []):
        yield "attribute", attr
    for meta in doc.get("metadata", []):
        yield "metadata", meta
    for loc in doc.get("locations", []):
        yield "location", loc
        for address in loc.get("addresses", []):
            yield "address", address
        for phone in loc.get("phones", []):
            yield "phone", phone
        for schedule in loc.get("schedules", []):
            yield "schedule", schedule
    for service in doc.get("services", []):
        yield "service", {**service, "organization_id": org_id}
        for sal in service.get("service_at_locations", []):
            yield "service_at_location", sal
        for area in service.get("service_areas", []):
            yield "service_area", area
        for option in service.get("cost_options", []):
            yield "cost_option", option
        for attr in service.get("attributes", []):
            yield "attribute", attr


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


def _write_hsds_csv(session: Session, work: Path, settings: ExportSettings, tick) -> int:
    files, writers = {}, {}
    try:
        for schema in TABLE_SCHEMAS:
            f = open(work / schema["path"], "w", encoding="utf-8", newline="")
            files[schema["name"]] = f
            writers[schema["name"]] = csv.writer(f, lineterminator="\r\n")
            writers[schema["name"]].writerow(table_columns(schema))
        columns = {name: table_columns(TABLES[name]) for name in TABLES}
        count = 0
        for clinic in published_clinics(session):
            doc = organization_doc(clinic, settings.base_url, full_service=True)
            for table, row in table_rows(doc):
                writers[table].writerow([_cell(row.get(c)) for c in columns[table]])
            count += 1
            tick(1)
        for taxonomy in all_taxonomies():
            writers["taxonomy"].writerow([_cell(taxonomy.get(c)) for c in columns["taxonomy"]])
        for term in all_terms():
            writers["taxonomy_term"].writerow([_cell(term.get(c)) for c in columns["taxonomy_term"]])
    finally:
        for f in files.values():
            f.close()
    (work / "datapackage.json").write_bytes(_dump(datapackage(settings)))
    return count
