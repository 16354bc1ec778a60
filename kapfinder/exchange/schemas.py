"""The official HSDS 3.0 JSON schemas, loaded from ``kapfinder/data/hsds-3.0`` (nothing is fetched).

Schemas are registered under their official URLs (``https://raw.githubusercontent.com/openreferral/
specification/3.0/schema/...``) in a ``referencing`` registry, so their relative ``$ref``s resolve to
the local copies. Validation is JSON Schema Draft 2020-12 with format checking. The per-table
schemas also give the HSDS CSV form: its tables, their columns, and how they nest.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ..hsds.openapi import OFFICIAL_BASE, SCHEMA_DIR

try:  # a compiled (Rust) validator: about a hundred times faster on the 3 MB compiled schemas
    import jsonschema_rs
except ImportError:  # pragma: no cover - the pure-Python validator gives the same answers
    jsonschema_rs = None


#: The HSDS tables, from the official per-table schemas, in datapackage ``order``.
TABLE_SCHEMAS = sorted(
    (json.loads(p.read_text(encoding="utf-8")) for p in SCHEMA_DIR.glob("*.json") if p.name != "openapi.json"),
    key=lambda s: s["datapackage_metadata"]["order"])
TABLES = {s["name"]: s for s in TABLE_SCHEMAS}


def table_columns(schema: dict[str, Any]) -> list[str]:
    """The tabular columns of a table: every property that is not a nested array or object."""
    return [name for name, prop in schema["properties"].items()
            if prop.get("type") not in ("array", "object") and "$ref" not in prop]


#: How the tables nest into a compiled organization document, in document order (the HSDS CSV
#: export writes them so, the import joins them so):
#: parent table → (field of the parent, child table, the child's column holding the parent's id).
NESTING: dict[str, tuple[tuple[str, str, str], ...]] = {
    "organization": (("organization_identifiers", "organization_identifier", "organization_id"),
                     ("attributes", "attribute", "link_id"),
                     ("metadata", "metadata", "resource_id"),
                     ("phones", "phone", "organization_id"),
                     ("locations", "location", "organization_id"),
                     ("services", "service", "organization_id")),
    "location": (("addresses", "address", "location_id"),
                 ("phones", "phone", "location_id"),
                 ("schedules", "schedule", "location_id"),
                 ("languages", "language", "location_id")),
    "service": (("service_at_locations", "service_at_location", "service_id"),
                ("service_areas", "service_area", "service_id"),
                ("cost_options", "cost_option", "service_id"),
                ("attributes", "attribute", "link_id"),
                ("languages", "language", "service_id")),
}


def schema_path(name: str) -> Path:
    """"compiled/service" or "taxonomy" → the local file."""
    return SCHEMA_DIR / f"{name}.json"


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    return json.loads(schema_path(name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        if path.name == "openapi.json":
            continue
        rel = path.relative_to(SCHEMA_DIR).as_posix()
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((OFFICIAL_BASE + rel, Resource.from_contents(contents, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    """A validator for one official schema: "compiled/organization", "taxonomy_term", ..."""
    schema = {"$ref": OFFICIAL_BASE + f"{name}.json"}
    return Draft202012Validator(schema, registry=registry(), format_checker=FormatChecker())


def errors(name: str, document: Any) -> Iterator[ValidationError]:
    return validator(name).iter_errors(document)


def pointer(path) -> str:
    """A JSON pointer ("/locations/0/latitude") for a jsonschema error path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path) or "/"


@lru_cache(maxsize=None)
def _fast_validator(name: str):
    return jsonschema_rs.Draft202012Validator(load_schema(name), validate_formats=True)


def problems(name: str, document: Any) -> Iterator[tuple[list, str | None, str]]:
    """(path, field, message) for each way ``document`` breaks the official schema ``name``.

    The compiled schemas hold no ``$ref``, so imports check them with jsonschema-rs when it is
    installed; everything else (and the tests) uses ``jsonschema`` with the local registry.
    """
    if jsonschema_rs is not None and name.startswith("compiled/"):
        for err in _fast_validator(name).iter_errors(document):
            path = list(err.instance_path)
            yield path, _field(path, err.message, type(err.kind).__name__.endswith("Required")), err.message
        return
    for err in errors(name, document):
        path = list(err.absolute_path)
        yield path, _field(path, err.message, err.validator == "required"), err.message


def _field(path: list, message: str, required: bool) -> str | None:
    if required:
        for quote in ('"', "'"):
            if quote in message:
                return message.split(quote)[1]
    return str(path[-1]) if path and isinstance(path[-1], str) else None
