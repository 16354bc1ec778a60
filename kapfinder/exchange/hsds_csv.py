"""The HSDS CSV reader: a folder of table files (``organizations.csv``, ``locations.csv``, ...).

The tables are loaded into a temporary SQLite file and joined there into one nested organization
document at a time (the shape of the HSDS JSON ``compiled/organization``), which is checked against
the official schema and read like an HSDS JSON document; problems name the file and line.
"""
from __future__ import annotations

import os
import sqlite3
import tempfile
from collections import defaultdict
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterator

from . import schemas
from .common import Problem
from .hsds_in import MAX_PROBLEMS_PER_DOCUMENT, Bundle, TermResolver, bundle_items, bundles_of
from .schemas import NESTING, TABLES, table_columns
from .textfiles import csv_header, csv_lines, is_broken, unescape
from .records import Item

INSERT_BATCH = 5000
#: The linking columns of each table (each is indexed): phone → {organization_id, location_id}, ...
LINKS: dict[str, set[str]] = defaultdict(set)
for _nested in NESTING.values():
    for _field, _child, _key in _nested:
        LINKS[_child].add(_key)
Rows = dict[str, list[sqlite3.Row]]
Typer = Callable[[sqlite3.Row, list[Problem]], dict[str, Any]]


def read_items(store: "TabularStore") -> Iterator[Item]:
    """The records of a loaded folder, one organization document at a time."""
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
        for bundle in bundles_of(org):
            if isinstance(bundle, Bundle):
                yield from bundle_items(bundle, resolve, lambda p, org=org: locate_in(org, p))


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


class TabularStore:
    """The HSDS CSV tables of a folder, loaded into a temporary SQLite file for joining."""

    def __init__(self, folder: Path):
        self.folder = folder
        fd, self.path = tempfile.mkstemp(suffix=".sqlite3", prefix="kapfinder-import-")
        os.close(fd)
        self.db = sqlite3.connect(self.path)
        self.db.row_factory = sqlite3.Row
        self.tables: dict[str, list[str]] = {}
        self.problems: list[Problem] = []
        self._typers: dict[str, Typer] = {}

    def __enter__(self) -> "TabularStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()
        Path(self.path).unlink(missing_ok=True)

    # --- loading ---------------------------------------------------------------------------------

    def load(self) -> None:
        for name, schema in TABLES.items():
            file = self.folder / schema["path"]
            if file.is_file():
                self._load_table(name, schema, file)
        self._check_coordinates()
        reported = any(p.where.startswith("organizations.csv") for p in self.problems)
        if "organization" not in self.tables and not reported:
            self.problems.append(Problem(self.folder.name, None, "has no organizations.csv"))

    def _load_table(self, name: str, schema: dict[str, Any], file: Path) -> None:
        columns = table_columns(schema)
        required = [c for c in list(schema.get("required", [])) + list(schema.get("tabular_required", []))
                    if c in columns]
        header, problems = csv_header(file, schema["path"], required)
        self.problems += problems
        if problems:
            return
        assert header is not None
        columns = [c for c in columns if c in header]
        self.tables[name] = columns
        cols = ", ".join(f'"{c}"' for c in columns)
        self.db.execute(f'CREATE TABLE "{name}" (_line INTEGER, {cols})')
        position = {h: i for i, h in enumerate(header)}  # a repeated column: the last one counts
        wanted = [position[c] for c in columns]
        rows = []
        for line, _header, cells, problem in csv_lines(file, schema["path"]):
            if problem:
                self.problems.append(problem)
                if is_broken(problem):
                    break
                continue
            assert cells is not None
            width = len(cells)
            rows.append([line] + [unescape(cells[i]) if i < width else "" for i in wanted])
            if len(rows) >= INSERT_BATCH:
                self._insert(name, columns, rows)
                rows = []
        self._insert(name, columns, rows)
        self._index(name, schema["path"], columns)

    def _index(self, name: str, path: str, columns: list[str]) -> None:
        """Index the id and the linking columns; report ids given twice."""
        if "id" in columns:
            self.db.execute(f'CREATE INDEX "ix_{name}_id" ON "{name}" (id)')
            for dup in self.db.execute(f'SELECT id, group_concat(_line) AS lines FROM "{name}" '
                                       f"WHERE id != '' GROUP BY id HAVING count(*) > 1"):
                self.problems.append(Problem(f"{path} lines {dup['lines']}", "id", f"duplicate id {dup['id']}"))
        for link in sorted(LINKS.get(name, ())):
            if link in columns:
                self.db.execute(f'CREATE INDEX "ix_{name}_{link}" ON "{name}" ("{link}")')

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

    # --- reading -----------------------------------------------------------------------------------

    def _typer(self, table: str) -> Typer:
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

    def _children(self, table: str, key: str, values: list[str]) -> Rows:
        """The rows of ``table`` whose ``key`` is one of ``values``, grouped by it, in file order."""
        found: Rows = defaultdict(list)
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
        names = {r["id"].lower(): r["name"] for r in self.rows("taxonomy") if r["id"]}
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
        problems: dict[int, list[Problem]] = {row[0]: [] for row in chunk}
        orgs = [self._typer("organization")(row, problems[row[0]]) for row in chunk]
        nested = self._nested_rows("organization", [o.get("id", "") for o in orgs])
        for row, org in zip(chunk, orgs):
            self._nest("organization", org, nested, problems[row[0]])
            yield org, problems[row[0]]

    def _nested_rows(self, table: str, ids: list[str]) -> dict[tuple[str, str], Rows]:
        """(parent table, field) → the child rows by parent id, for the parents ``ids``, all levels down."""
        found: dict[tuple[str, str], Rows] = {}
        for field_name, child, key in NESTING[table]:
            rows = self._children(child, key, ids)
            if (table, child) == ("organization", "phone") and "location_id" in self.tables.get("phone", []):
                rows = {k: [r for r in v if not r["location_id"]] for k, v in rows.items()}  # a location's phone
            found[(table, field_name)] = rows
            if child in NESTING:
                child_ids = [r[self.tables[child].index("id") + 1] for group in rows.values() for r in group] \
                    if "id" in self.tables.get(child, []) else []
                found.update(self._nested_rows(child, child_ids))
        return found

    def _nest(self, table: str, doc: dict[str, Any], nested: dict[tuple[str, str], Rows],
              problems: list[Problem]) -> None:
        """Fill in ``doc``'s nested lists, depth first (so problems come in the document's order)."""
        parent_id = doc.get("id", "")
        for field_name, child, _key in NESTING[table]:
            doc[field_name] = []
            for row in nested[(table, field_name)].get(parent_id, []):
                item = self._typer(child)(row, problems)
                if child in NESTING:
                    self._nest(child, item, nested, problems)
                doc[field_name].append(item)
