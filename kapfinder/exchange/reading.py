"""Which format an input is in, whether it can be read as such, and its format's reader.

Every reader yields ``common.Item``s (record, problems, skipped) as the input is read: ``flat``
for the flat CSV, ``hsds_json`` for HSDS JSON, ``hsds_csv`` for an HSDS CSV folder.
"""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Iterator

from . import flat, hsds_csv, hsds_json
from .common import FORMATS, Problem
from .records import Item


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


def input_problem(path: Path, fmt: str | None) -> Problem | None:
    """Why ``path`` cannot be read as ``fmt`` at all, or None."""
    if not path.exists():
        return Problem(str(path), None, "does not exist")
    if fmt not in FORMATS:
        return Problem(path.name, None, "format not recognised: give --format csv, hsds-json or hsds-csv")
    if fmt == "hsds-csv" and not path.is_dir():
        return Problem(path.name, None, "hsds-csv is a folder of table files")
    if fmt == "csv" and path.is_dir():
        return Problem(path.name, None, "csv is one file")
    return None


def read_items(fmt: str, path: Path, stack: ExitStack) -> Iterator[Item]:
    """The input's records, read as they are needed (what the reader holds is closed by ``stack``).
    An HSDS CSV folder is loaded into its temporary store at once."""
    if fmt == "csv":
        return flat.read_items(path)
    if fmt == "hsds-json":
        return hsds_json.read_items(path)
    store = stack.enter_context(hsds_csv.TabularStore(path))
    store.load()
    return hsds_csv.read_items(store)
