"""Imports: flat CSV, HSDS JSON and HSDS CSV, all or nothing (docs/HSDS.md → Imports).

Two passes. The check pass reads the input once, checks every record and collects every problem
(with file and line, or file and JSON pointer, and field) and every skipped record, keeping each
checked record in a temporary file; if there is any problem, nothing is written. The writing pass
reads the checked records back and writes them in one transaction, in batches: new listings through
``kapfinder.bulk``, changes that need a moderator through ``kapfinder.listings``. Nothing holds the
whole input in memory (HSDS CSV tables are joined in a temporary SQLite file, and so are the keys
the duplicate checks remember).
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import pickle
import sqlite3
import tempfile
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from .. import bulk, listings, vocab
from ..hsds.ids import hsds_id
from ..db import write_transaction
from ..models import Clinic, ClinicAtHomeState, ClinicInsurance, ClinicPrice, ListingRevision, utcnow
from . import flat, schemas
from .common import FORMATS, Problem, Skipped, orjson, unescape_cell
from .export import TABLES, table_columns
from .hsds_in import Bundle, TermResolver, bundles_of, document_kind, records_of, schema_for
from .records import ClinicRecord, Gazetteer, RecordProblems, finish, match_keys

SNIFF_BYTES = 64 * 1024
MAX_JSON_DOCUMENT = 50 * 1024 * 1024
MAX_PROBLEMS_PER_DOCUMENT = 50
BATCH = 1000
csv.field_size_limit(10 * 1024 * 1024)

Item = tuple["ClinicRecord | None", list[Problem], "Skipped | None"]


@dataclass(frozen=True)
class Waiting:
    """An existing listing whose imported changes wait for a moderator."""

    where: str
    clinic_id: str
    reason: str
    fields: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: changes wait for a moderator ({self.reason}): {', '.join(self.fields)}"


@dataclass
class ImportReport:
    format: str
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Listings whose changes wait for a moderator as a pending revision (owned, or published
    #: and imported without ``--publish``).
    waiting: list[Waiting] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# --- format detection and input sniffing ----------------------------------------------------

def detect_format(path: Path) -> str | None:
    if path.is_dir():
        if (path / "organizations").is_dir() or (path / "taxonomies.json").is_file():
            return "hsds-json"
        if (path / "organizations.csv").is_file() or (path / "datapackage.json").is_file():
            return "hsds-csv"
        return None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".json", ".ndjson"):
        return "hsds-json"
    return None


def sniff_text(path: Path) -> str | None:
    """Why this file is not UTF-8 text, or None. Reads only the first 64 KiB."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if b"\x00" in head:
        return "is not a text file (it contains NUL bytes)"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    return None


def _display(path: Path, root: Path) -> str:
    try:
        rel = path.relative_to(root)
        return str(rel) if str(rel) != "." else path.name
    except ValueError:
        return str(path)


# --- flat CSV -----------------------------------------------------------------------------------

def _csv_header(path: Path, name: str, required: tuple[str, ...] | list[str]) -> tuple[list[str] | None, list[Problem]]:
    """Read and check the header line (bounded: a 200 MB file without line breaks is refused at once)."""
    why = sniff_text(path)
    if why:
        return None, [Problem(name, None, why)]
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = f.readline(SNIFF_BYTES)
    if not first.endswith(("\n", "\r")) and len(first) >= SNIFF_BYTES - 1:
        return None, [Problem(f"{name} line 1", None, "is not a CSV file: no header line")]
    try:
        header = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return None, [Problem(f"{name} line 1", None, "is not a CSV file: the header cannot be read")]
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        return header, [Problem(f"{name} line 1", c, "required column is missing") for c in missing]
    return header, []


def _csv_lines(path: Path, name: str) -> Iterator[tuple[int, list[str], list[str] | None, Problem | None]]:
    """(line, header, raw cells, problem) for each data row; stops at the first broken line."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        line = 1
        try:
            header = [h.strip() for h in next(reader)]
            line = reader.line_num + 1
            for cells in reader:
                start, line = line, reader.line_num + 1
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) > len(header):
                    yield start, header, None, Problem(f"{name} line {start}", None,
                                                       f"has {len(cells)} cells but the header has {len(header)}")
                    continue
                yield start, header, cells, None
        except (csv.Error, UnicodeDecodeError) as exc:
            yield line, [], None, Problem(f"{name} line {line}", None, f"is not valid CSV: {exc}")


def _unescape(cell: str) -> str:
    return unescape_cell(cell) if cell[:1] == "'" else cell


def _csv_rows(path: Path, name: str) -> Iterator[tuple[int, dict[str, str] | None, Problem | None]]:
    """(line, row with cells unescaped, problem) for each data row; stops at the first broken line."""
    for line, header, cells, problem in _csv_lines(path, name):
        yield line, None if cells is None else {h: _unescape(c) for h, c in zip(header, cells)}, problem


def _flat_items(path: Path) -> Iterator[Item]:
    name = path.name
    header, problems = _csv_header(path, name, flat.REQUIRED)
    if problems:
        yield None, problems, None
        return
    for line, row, problem in _csv_rows(path, name):
        if problem:
            yield None, [problem], None
            if "not valid CSV" in problem.message:
                return
            continue
        report = RecordProblems(lambda _p, line=line: f"{name} line {line}")
        record = flat.record_from_row(row, report)
        if record is not None:
            record.values["_where"] = f"{name} line {line}"
            record.locate = lambda _p, line=line: f"{name} line {line}"
        yield record, report.items, None


# --- HSDS JSON ------------------------------------------------------------------------------------

def _json_files(path: Path) -> tuple[list[Path], Path]:
    if path.is_dir():
        files = sorted((path / "organizations").glob("*.json")) if (path / "organizations").is_dir() else []
        files += sorted(p for p in path.glob("*.json") if p.name not in ("taxonomies.json", "datapackage.json"))
        return files, path
    return [path], path.parent


def _file_terms_json(path: Path) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    tax = path / "taxonomies.json" if path.is_dir() else None
    if not tax or not tax.is_file():
        return {}, []
    doc, problem = _load_json(tax, "taxonomies.json")
    if problem:
        return {}, [problem]
    terms = doc.get("taxonomy_terms", []) if isinstance(doc, dict) else []
    return {str(t.get("id", "")).lower(): t for t in terms if isinstance(t, dict)}, []


def _load_json(path: Path, name: str) -> tuple[Any, Problem | None]:
    if path.stat().st_size > MAX_JSON_DOCUMENT:
        return None, Problem(name, None, f"is larger than {MAX_JSON_DOCUMENT // (1024 * 1024)} MB: "
                                         "split it into one file per organization")
    why = sniff_text(path)
    if why:
        return None, Problem(name, None, why)
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith((b"{", b"[")):
        return None, Problem(name, None, "is not a JSON document")
    try:
        if orjson is not None:  # several times faster than the json module on large inputs
            data = path.read_bytes()
            return orjson.loads(data[3:] if data.startswith(codecs.BOM_UTF8) else data), None
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f), None
    except json.JSONDecodeError as exc:  # orjson's error is a subclass
        return None, Problem(f"{name} line {exc.lineno} column {exc.colno}", None, f"malformed JSON: {exc.msg}")
    except UnicodeDecodeError:
        return None, Problem(name, None, "is not UTF-8 text")


def _schema_problems(doc: Any, where: str, base: str = "") -> list[Problem]:
    """Official-schema problems of one document (each item of a paging envelope on its own)."""
    if isinstance(doc, dict) and isinstance(doc.get("contents"), list):
        out = []
        for i, item in enumerate(doc["contents"]):
            out += _schema_problems(item, where, f"{base}/contents/{i}")
        return out
    if not isinstance(doc, dict):
        return []
    name = schema_for(document_kind(doc))
    if name is None:
        return []
    out = []
    for path, field_name, message in islice(sorted(schemas.problems(name, doc), key=lambda p: list(map(str, p[0]))),
                                            MAX_PROBLEMS_PER_DOCUMENT):
        out.append(Problem(f"{where}#{base}{schemas.pointer(path)}", field_name, message))
    return out


def _json_items(path: Path) -> Iterator[Item]:
    file_terms, problems = _file_terms_json(path)
    if problems:
        yield None, problems, None
        return
    resolve = TermResolver(file_terms)
    files, root = _json_files(path)
    if not files:
        yield None, [Problem(path.name, None, "holds no HSDS JSON documents (organizations/*.json)")], None
        return
    for file in files:
        name = _display(file, root)
        doc, problem = _load_json(file, name)
        if problem:
            yield None, [problem], None
            continue
        problems = _schema_problems(doc, name)
        if problems:
            yield None, problems, None
            continue
        for bundle in bundles_of(doc):
            if isinstance(bundle, str):
                yield None, [Problem(name, None, bundle)], None
                continue
            if isinstance(bundle, Skipped):
                yield None, [], Skipped(f"{name}#{bundle.where}", bundle.reason)
                continue
            yield from _bundle_items(bundle, resolve, lambda p, name=name: f"{name}#{p or '/'}")


def _bundle_items(bundle: Bundle, resolve: TermResolver, locate: Callable[[str | None], str]) -> Iterator[Item]:
    for record, problems, skipped in records_of(bundle, resolve, lambda: RecordProblems(locate)):
        if skipped is not None:
            skipped = Skipped(locate(skipped.where), skipped.reason)
        if record is not None:
            record.values["_where"] = locate(bundle.org_pointer)
            record.locate = locate
        yield record, problems.items, skipped


# --- HSDS CSV -------------------------------------------------------------------------------------

class TabularStore:
    """The HSDS CSV tables of a folder, loaded into a temporary SQLite file for joining."""

    LINKS = {  # table → the foreign key each nested list is found by
        "location": "organization_id", "service": "organization_id", "organization_identifier": "organization_id",
        "address": "location_id", "schedule": "location_id", "service_at_location": "service_id",
        "service_area": "service_id", "cost_option": "service_id", "attribute": "link_id", "metadata": "resource_id",
    }

    def __init__(self, folder: Path):
        self.folder = folder
        self.fd, self.path = tempfile.mkstemp(suffix=".sqlite3", prefix="kapfinder-import-")
        os.close(self.fd)
        self.db = sqlite3.connect(self.path)
        self.db.row_factory = sqlite3.Row
        self.tables: dict[str, list[str]] = {}
        self.problems: list[Problem] = []
        self._typers: dict[str, Callable[[sqlite3.Row, list[Problem]], dict[str, Any]]] = {}

    def close(self) -> None:
        self.db.close()
        Path(self.path).unlink(missing_ok=True)

    def load(self) -> None:
        for name, schema in TABLES.items():
            file = self.folder / schema["path"]
            if not file.is_file():
                continue
            required = [c for c in list(schema.get("required", [])) + list(schema.get("tabular_required", []))
                        if c in table_columns(schema)]
            header, problems = _csv_header(file, schema["path"], required)
            self.problems += problems
            if problems:
                continue
            columns = [c for c in table_columns(schema) if c in header]
            self.tables[name] = columns
            cols = ", ".join(f'"{c}"' for c in columns)
            self.db.execute(f'CREATE TABLE "{name}" (_line INTEGER, {cols})')
            rows = []
            position = {h: i for i, h in enumerate(header)}  # a repeated column: the last one counts
            wanted = [position[c] for c in columns]
            for line, _header, cells, problem in _csv_lines(file, schema["path"]):
                if problem:
                    self.problems.append(problem)
                    if "not valid CSV" in problem.message:
                        break
                    continue
                assert cells is not None
                width = len(cells)
                rows.append([line] + [_unescape(cells[i]) if i < width else "" for i in wanted])
                if len(rows) >= 5000:
                    self._insert(name, columns, rows)
                    rows = []
            self._insert(name, columns, rows)
            if "id" in columns:
                self.db.execute(f'CREATE INDEX "ix_{name}_id" ON "{name}" (id)')
                for dup in self.db.execute(f'SELECT id, group_concat(_line) AS lines FROM "{name}" '
                                           f"WHERE id != '' GROUP BY id HAVING count(*) > 1"):
                    self.problems.append(Problem(f"{schema['path']} lines {dup['lines']}", "id",
                                                 f"duplicate id {dup['id']}"))
            link = self.LINKS.get(name)
            if link in columns:
                self.db.execute(f'CREATE INDEX "ix_{name}_{link}" ON "{name}" ("{link}")')
        self._check_coordinates()
        if "organization" not in self.tables and not any(p.where.startswith("organizations.csv") for p in self.problems):
            self.problems.append(Problem(self.folder.name, None, "has no organizations.csv"))
        if "phone" in self.tables:
            for col in ("location_id", "organization_id"):
                if col in self.tables["phone"]:
                    self.db.execute(f'CREATE INDEX "ix_phone_{col}" ON phone ("{col}")')

    def _check_coordinates(self) -> None:
        """Every location row, linked to an organization or not, must have possible coordinates."""
        for column, limit in (("latitude", 90), ("longitude", 180)):
            if column not in self.tables.get("location", []):
                continue
            for row in self.db.execute(f"SELECT _line, {column} AS v FROM location WHERE {column} != ''"):
                try:
                    value = float(row["v"])
                except ValueError:
                    continue  # reported as "not a number" when the record is read
                if not -limit <= value <= limit:
                    self.problems.append(Problem(f"locations.csv line {row['_line']}", column,
                                                 f"{column} {value:g} is not between -{limit} and {limit}"))

    def _insert(self, name: str, columns: list[str], rows: list[list[Any]]) -> None:
        if rows:
            marks = ", ".join("?" for _ in range(len(columns) + 1))
            self.db.executemany(f'INSERT INTO "{name}" VALUES ({marks})', rows)

    def _typer(self, table: str) -> Callable[[sqlite3.Row, list[Problem]], dict[str, Any]]:
        """Row → dict with numbers typed, for one table (what each column needs is worked out once)."""
        typer = self._typers.get(table)
        if typer is not None:
            return typer
        schema = TABLES[table]
        path, required, props = schema["path"], set(schema.get("required", ())), schema["properties"]
        # (index in the row, column, is a number, is a required text): _line is column 0
        spec = [(i + 1, c, props[c].get("type") == "number", c in required and props[c].get("type") == "string")
                for i, c in enumerate(self.tables[table])]

        def typed(row: sqlite3.Row, problems: list[Problem]) -> dict[str, Any]:
            out: dict[str, Any] = {"_src": (path, row[0])}
            for index, column, number, required_text in spec:
                value = row[index]
                if value is None or value == "":
                    # A CSV cannot tell an empty text from a missing one: a required text is empty text.
                    if required_text:
                        out[column] = ""
                    continue
                if number:
                    try:
                        parsed = float(value)
                        out[column] = int(parsed) if value.lstrip("+-").isdigit() else parsed
                    except ValueError:
                        problems.append(Problem(f"{path} line {row[0]}", column, f"‘{value}’ is not a number"))
                else:
                    out[column] = value
            return out

        self._typers[table] = typed
        return typed

    def rows(self, table: str) -> list[sqlite3.Row]:
        if table not in self.tables:
            return []
        return list(self.db.execute(f'SELECT * FROM "{table}" ORDER BY _line'))

    def _children(self, table: str, key: str, values: list[str]) -> dict[str, list[sqlite3.Row]]:
        """The rows of ``table`` whose ``key`` is one of ``values``, grouped by it, in file order."""
        found: dict[str, list[sqlite3.Row]] = defaultdict(list)
        if table not in self.tables or key not in self.tables[table]:
            return found
        index = self.tables[table].index(key) + 1
        values = list(dict.fromkeys(values))
        for i in range(0, len(values), 500):
            chunk = values[i:i + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self.db.execute(f'SELECT * FROM "{table}" WHERE "{key}" IN ({marks}) ORDER BY _line', chunk):
                found[row[index]].append(row)
        return found

    def file_terms(self) -> dict[str, dict[str, Any]]:
        names = {r["id"].lower(): r["name"] for r in self.rows("taxonomy") if r["id"]} if "taxonomy" in self.tables else {}
        terms = {}
        for r in self.rows("taxonomy_term"):
            term = dict(r)
            if not term.get("taxonomy") and term.get("taxonomy_id"):
                term["taxonomy"] = names.get(str(term["taxonomy_id"]).lower(), "")
            terms[str(term.get("id") or "").lower()] = term
        return terms

    def organizations(self) -> Iterator[tuple[dict[str, Any], list[Problem]]]:
        """Each organization with its nested records, assembled 500 at a time (a dozen queries each)."""
        if "organization" not in self.tables:
            return
        last = -1
        while True:
            chunk = list(self.db.execute('SELECT * FROM organization WHERE _line > ? ORDER BY _line LIMIT 500',
                                         (last,)))
            if not chunk:
                return
            yield from self._assemble(chunk)
            last = chunk[-1][0]

    def _assemble(self, chunk: list[sqlite3.Row]) -> Iterator[tuple[dict[str, Any], list[Problem]]]:
        t = self._typer
        problems: dict[int, list[Problem]] = {}
        orgs = []
        for row in chunk:
            problems[row[0]] = []
            orgs.append(t("organization")(row, problems[row[0]]))
        oids = [o.get("id", "") for o in orgs]
        idents = self._children("organization_identifier", "organization_id", oids)
        metas = self._children("metadata", "resource_id", oids)
        org_phones = self._children("phone", "organization_id", oids)
        loc_phone_column = "location_id" in self.tables.get("phone", [])
        locations = self._children("location", "organization_id", oids)
        lids = [r[self.tables["location"].index("id") + 1] for rows in locations.values() for r in rows] \
            if "id" in self.tables.get("location", []) else []
        addresses = self._children("address", "location_id", lids)
        loc_phones = self._children("phone", "location_id", lids)
        schedules = self._children("schedule", "location_id", lids)
        services = self._children("service", "organization_id", oids)
        sids = [r[self.tables["service"].index("id") + 1] for rows in services.values() for r in rows] \
            if "id" in self.tables.get("service", []) else []
        sals = self._children("service_at_location", "service_id", sids)
        areas = self._children("service_area", "service_id", sids)
        costs = self._children("cost_option", "service_id", sids)
        attributes = self._children("attribute", "link_id", oids + sids)
        for row, org in zip(chunk, orgs):
            found = problems[row[0]]

            def typed(table: str, rows: list[sqlite3.Row], found=found) -> list[dict[str, Any]]:
                return [t(table)(r, found) for r in rows]

            oid = org.get("id", "")
            org["organization_identifiers"] = typed("organization_identifier", idents.get(oid, []))
            org["attributes"] = typed("attribute", attributes.get(oid, []))
            org["metadata"] = typed("metadata", metas.get(oid, []))
            org["phones"] = typed("phone", [r for r in org_phones.get(oid, [])
                                            if not (loc_phone_column and r["location_id"])])
            org["locations"] = []
            for loc in typed("location", locations.get(oid, [])):
                lid = loc.get("id", "")
                loc["addresses"] = typed("address", addresses.get(lid, []))
                loc["phones"] = typed("phone", loc_phones.get(lid, []))
                loc["schedules"] = typed("schedule", schedules.get(lid, []))
                org["locations"].append(loc)
            org["services"] = []
            for service in typed("service", services.get(oid, [])):
                sid = service.get("id", "")
                service["service_at_locations"] = typed("service_at_location", sals.get(sid, []))
                service["service_areas"] = typed("service_area", areas.get(sid, []))
                service["cost_options"] = typed("cost_option", costs.get(sid, []))
                service["attributes"] = typed("attribute", attributes.get(sid, []))
                org["services"].append(service)
            yield org, found


def locate_in(doc: dict[str, Any], pointer: str | None) -> str:
    """"locations.csv line 3" for a pointer into an assembled document (the deepest row it passes)."""
    node: Any = doc
    src = doc.get("_src")
    for part in (pointer or "").strip("/").split("/") if pointer else []:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            break
        if isinstance(node, dict) and node.get("_src"):
            src = node["_src"]
    return f"{src[0]} line {src[1]}" if src else "?"


def _tabular_items(store: TabularStore) -> Iterator[Item]:
    if store.problems:
        yield None, store.problems, None
        return
    resolve = TermResolver(store.file_terms())
    for org, problems in store.organizations():
        if problems:
            yield None, problems, None
            continue
        schema_problems = [
            Problem(locate_in(org, schemas.pointer(path)), field_name, message)
            for path, field_name, message in islice(schemas.problems("compiled/organization", org),
                                                    MAX_PROBLEMS_PER_DOCUMENT)]
        if schema_problems:
            yield None, schema_problems, None
            continue
        bundle = bundles_of(org)
        for b in bundle:
            if isinstance(b, Bundle):
                yield from _bundle_items(b, resolve, lambda p, org=org: locate_in(org, p))


# --- the two passes ---------------------------------------------------------------------------------

def _check(session: Session, items: Iterator[Item], gazetteer: Gazetteer, report: ImportReport,
           spool: IO[bytes] | None = None, checking: Callable[[int], None] | None = None) -> None:
    """Check every record; while nothing is wrong, keep each checked record in ``spool`` for writing."""
    empty = session.scalar(select(Clinic.id).limit(1)) is None
    seen = Seen()
    pending_slugs: list[tuple[str, str | None, str]] = []

    def check_slugs() -> None:
        """Slugs that already belong to another listing (one query per batch of records)."""
        if pending_slugs and not empty:
            owners = dict(session.execute(select(Clinic.slug, Clinic.id).where(
                Clinic.slug.in_({slug for slug, _cid, _where in pending_slugs}))).all())
            for slug, cid, where in pending_slugs:
                owner = owners.get(slug)
                if owner is not None and owner != cid:
                    report.problems.append(Problem(where, "slug", f"slug {slug} belongs to another listing"))
        pending_slugs.clear()

    for record, problems, skipped in items:
        report.problems += problems
        if skipped is not None and not problems:
            report.skipped.append(skipped)
        if record is None or skipped is not None:
            continue
        where = record.values.get("_where", "?")
        rp = RecordProblems(record.locate or (lambda _p, where=where: where))
        finish(record, rp, gazetteer)
        report.problems += rp.items
        report.records += 1
        if checking is not None and report.records % 1000 == 0:
            checking(report.records)
        cid = record.id
        if cid:
            first = seen.first("id", cid, where)
            if first is not None:
                report.problems.append(Problem(where, "id", f"duplicate id {cid} (also at {first})"))
        slug = record.values.get("slug")
        if slug:
            first = seen.first("slug", slug, where)
            if first is not None:
                report.problems.append(Problem(where, "slug", f"duplicate slug {slug} (also at {first})"))
            pending_slugs.append((slug, cid, where))
            if len(pending_slugs) >= BATCH:
                check_slugs()
        npi_key, name_key = match_keys(record.values)
        for key, what in ((npi_key, "NPI, street and ZIP"), (name_key, "name and address")):
            if key is None:
                continue
            first = seen.first(what, repr(key), where)
            if first is not None and first != where:
                report.problems.append(Problem(where, None, f"same {what} as {first}: one listing per location"))
        if spool is not None and not report.problems:
            pickle.dump((record.values, record.insurance, record.prices), spool, pickle.HIGHEST_PROTOCOL)
    check_slugs()
    seen.close()


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


def _items(fmt: str, path: Path, store: TabularStore | None) -> Iterator[Item]:
    """The input's records, read as they are needed."""
    if fmt == "csv":
        return _flat_items(path)
    if fmt == "hsds-json":
        return _json_items(path)
    assert store is not None
    return _tabular_items(store)


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
    if not path.exists():
        report.problems.append(Problem(str(path), None, "does not exist"))
        return report
    if fmt not in FORMATS:
        report.problems.append(Problem(path.name, None, "format not recognised: give --format csv, hsds-json or hsds-csv"))
        return report
    if fmt == "hsds-csv" and not path.is_dir():
        report.problems.append(Problem(path.name, None, "hsds-csv is a folder of table files"))
        return report
    if fmt == "csv" and path.is_dir():
        report.problems.append(Problem(path.name, None, "csv is one file"))
        return report
    with ExitStack() as stack:
        store = None
        if fmt == "hsds-csv":
            store = TabularStore(path)
            stack.callback(store.close)
            store.load()
        spool = stack.enter_context(tempfile.TemporaryFile(prefix="kapfinder-import-"))
        gazetteer = Gazetteer(session)
        _check(session, _items(fmt, path, store), gazetteer, report, spool, checking)
        session.rollback()
        if checked:
            checked(report)
        if report.problems:
            return report
        _store(session, _unspool(spool), publish, now or utcnow(), progress, report)
    return report


# --- writing ----------------------------------------------------------------------------------------

CLINIC = Clinic.__table__
REVISION = ListingRevision.__table__
CHILD_TABLES = (ClinicInsurance.__table__, ClinicPrice.__table__, ClinicAtHomeState.__table__)


def _store(session: Session, records: Iterator[ClinicRecord], publish: bool, now: datetime,
           progress, report: ImportReport) -> None:
    """Write every record in one transaction: new listings in bulk, updates in place, and changes
    that need a moderator (an owned listing, or a published one without ``publish``) as revisions."""
    tick = progress or (lambda n: None)
    with write_transaction(session):
        conn = session.connection()
        empty = session.scalar(select(Clinic.id).limit(1)) is None
        reserved_slugs: set[str] = set()
        while batch := list(islice(records, BATCH)):
            matches = {} if empty else _matches(session, batch)
            new_rows: list[bulk.ClinicRows] = []
            updates: list[tuple[dict[str, Any], dict[str, Any], ClinicRecord]] = []
            proposals: list[tuple[dict[str, Any], ClinicRecord, str]] = []
            for record in batch:
                existing = matches.get(id(record))
                if existing is not None and existing["owner_id"] is not None:
                    proposals.append((existing, record, "the listing has an owner"))
                    continue
                if existing is not None and existing["status"] == "published" and not publish:
                    proposals.append((existing, record, "published listing, imported without --publish"))
                    continue
                values = _clinic_values(record, publish, now)
                if existing is not None:
                    values["id"] = existing["id"]
                    values["slug"] = values.get("slug") or existing["slug"]
                    if publish and not values.get("slug"):
                        values["slug"] = _new_slug(session, values, reserved_slugs)
                    updates.append((existing, values, record))
                else:
                    if publish and not values.get("slug"):
                        values["slug"] = _new_slug(session, values, reserved_slugs)
                    new_rows.append(bulk.ClinicRows(values, insurance=record.insurance, prices=record.prices,
                                                    at_home_states=record.values.get("at_home_states") or []))
            report.created += bulk.insert_clinics(conn, new_rows, now=now)
            if updates:
                _update(conn, updates, now)
                report.updated += len(updates)
            if proposals:
                _propose(session, proposals, now, report)
            tick(len(batch))


def _propose(session: Session, proposals: list[tuple[dict[str, Any], ClinicRecord, str]], now: datetime,
             report: ImportReport) -> None:
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
    v["status"] = "published" if publish else "pending"
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
        states += [{"clinic_id": cid, "state": s} for s in vocab.STATES.ordered(record.values.get("at_home_states") or [])]
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
