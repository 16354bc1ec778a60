"""The HSDS JSON reader: one document or a folder of them (``organizations/*.json`` and
``taxonomies.json``, as the export writes it). Each document is checked against its official
schema before its records are read."""
from __future__ import annotations

import codecs
import json
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

from . import schemas
from .common import Problem, Skipped, orjson
from .hsds_in import MAX_PROBLEMS_PER_DOCUMENT, TermResolver, bundle_items, bundles_of, document_kind, schema_for
from .textfiles import SNIFF_BYTES, display_name, sniff_text
from .records import Item

MAX_JSON_DOCUMENT = 50 * 1024 * 1024


def read_items(path: Path) -> Iterator[Item]:
    """The records of an HSDS JSON file or folder, read a document at a time."""
    file_terms, problems = _file_terms(path)
    if problems:
        yield None, problems, None
        return
    resolve = TermResolver(file_terms)
    files, root = _documents(path)
    if not files:
        yield None, [Problem(path.name, None, "holds no HSDS JSON documents (organizations/*.json)")], None
        return
    for file in files:
        name = display_name(file, root)
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
            elif isinstance(bundle, Skipped):
                yield None, [], Skipped(f"{name}#{bundle.where}", bundle.reason)
            else:
                yield from bundle_items(bundle, resolve, lambda p, name=name: f"{name}#{p or '/'}")


def _documents(path: Path) -> tuple[list[Path], Path]:
    """The documents to read, and the folder their names are given relative to."""
    if path.is_dir():
        files = sorted((path / "organizations").glob("*.json")) if (path / "organizations").is_dir() else []
        files += sorted(p for p in path.glob("*.json") if p.name not in ("taxonomies.json", "datapackage.json"))
        return files, path
    return [path], path.parent


def _file_terms(path: Path) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """The taxonomy terms a folder's ``taxonomies.json`` defines, by id."""
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
    found = sorted(schemas.problems(name, doc), key=lambda p: list(map(str, p[0])))
    return [Problem(f"{where}#{base}{schemas.pointer(path)}", field_name, message)
            for path, field_name, message in islice(found, MAX_PROBLEMS_PER_DOCUMENT)]
