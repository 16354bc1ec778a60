"""kapfinder's ``/hsds/openapi.json``: the official HSDS 3.0 OpenAPI document with a documented patch.

The official file (``data/hsds-3.0/schema/openapi.json``) stays unmodified; this module reads it
and applies, in order (docs/HSDS.md → "The patched OpenAPI document"):

1. ``info`` and ``servers`` describe this installation (title, version, data licence, ``/hsds``).
2. Every ``$ref`` to ``https://raw.githubusercontent.com/openreferral/specification/3.0/schema/…`` is
   replaced by a local ``#/components/schemas/…`` reference; the referenced official schemas are
   copied in unchanged (their own relative ``$ref``s rewritten the same way). Nothing is fetched.
3. ``GET /service_at_locations/{id}`` answers the compiled *service_at_location* schema (the official
   document gives it the compiled *service* schema by mistake).
4. Every operation documents the 400 and 404 answers it really gives, in the API's error shape, and
   list operations document the ``application/x-ndjson`` answer of ``format=ndjson``.
5. Parameter schemas carry the constraints the server enforces (ranges, enums, formats, lengths);
   ``minimal`` is added to ``GET /services`` and ``GET /openapi.json`` is described.
Flask-free: the view passes the base URL.
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .ids import ID_PATTERN
from .params import COUNT_RANGES, LIST_PARAMETERS, MAX_PROXIMITY_M, MAX_VALUE_LENGTH

HSDS_DIR = Path(__file__).parents[1] / "data" / "hsds-3.0"
SCHEMA_DIR = HSDS_DIR / "schema"
OFFICIAL_BASE = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"
TEXT_PATTERN = "^[^\\u0000-\\u001F\\u007F]*$"
UUID_PATTERN = ID_PATTERN.pattern
LIST_PATHS = tuple(f"/{endpoint}" for endpoint in LIST_PARAMETERS)

PARAMETER_SCHEMAS: dict[str, dict[str, Any]] = {
    "search": {"type": "string", "maxLength": MAX_VALUE_LENGTH, "pattern": TEXT_PATTERN},
    "page": {"type": "integer", "minimum": COUNT_RANGES["page"][0], "maximum": COUNT_RANGES["page"][1],
             "default": 1},
    "per_page": {"type": "integer", "minimum": COUNT_RANGES["per_page"][0], "maximum": COUNT_RANGES["per_page"][1],
                 "default": 20},
    "format": {"type": "string", "enum": ["json", "ndjson"], "default": "json"},
    "minimal": {"type": "boolean", "default": False},
    "full": {"type": "boolean", "default": False},
    "full_service": {"type": "boolean", "default": False},
    "top_only": {"type": "boolean", "default": False},
    "modified_after": {"type": "string", "format": "date-time"},
    "taxonomy_term_id": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
    "taxonomy_id": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
    "organization_id": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
    "parent_id": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
    "postcode": {"type": "string", "pattern": "^[0-9]{5}$"},
    "proximity": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_PROXIMITY_M},
}
PARAMETER_NOTES = {
    "search": "Case-insensitive substring of the service name, organization name or description.",
    "postcode": "A known 5-digit US ZIP code; alone it means within 25 miles of its centroid.",
    "proximity": "Metres from the postcode's centroid (needs `postcode`); at most 804,672 (500 miles).",
    "modified_after": "An RFC 3339 date-time.",
    "minimal": "true: each service has only id, name, status and last_modified.",
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "field"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "field": {"type": ["string", "null"]}},
    }},
}


def official_openapi() -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / "openapi.json").read_text(encoding="utf-8"))


def _component_name(url: str) -> str:
    """"https://…/schema/compiled/service.json" → "compiled_service"; "metadata.json" → "metadata"."""
    rel = url[len(OFFICIAL_BASE):] if url.startswith(OFFICIAL_BASE) else url
    return rel.removesuffix(".json").replace("/", "_")


def _rewrite_refs(node: Any, base: str, found: set[str]) -> Any:
    """Replace official schema URLs (absolute, or relative to ``base``) by local component refs."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                absolute = value if value.startswith("http") else base + value
                found.add(absolute)
                out[key] = f"#/components/schemas/{_component_name(absolute)}"
            else:
                out[key] = _rewrite_refs(value, base, found)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, base, found) for v in node]
    return node


def _load_official_schema(url: str) -> dict[str, Any]:
    rel = url[len(OFFICIAL_BASE):]
    return json.loads((SCHEMA_DIR / rel).read_text(encoding="utf-8"))


def localise_refs(doc: dict[str, Any]) -> dict[str, Any]:
    """Patch step 2 alone: official schema URLs → local components holding the official schemas."""
    found: set[str] = set()
    doc["paths"] = _rewrite_refs(doc["paths"], OFFICIAL_BASE, found)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    pending = sorted(found)
    while pending:
        url = pending.pop()
        name = _component_name(url)
        if name in schemas:
            continue
        base = url.rsplit("/", 1)[0] + "/"
        more: set[str] = set()
        schemas[name] = _rewrite_refs(_load_official_schema(url), base, more)
        pending.extend(sorted(u for u in more if _component_name(u) not in schemas))
    return doc


def official_with_local_refs() -> dict[str, Any]:
    """The official document, unchanged but for its schema ``$ref``s resolved to the local copies."""
    return localise_refs(official_openapi())


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


@lru_cache(maxsize=4)
def _patched(base_url: str, license_name: str) -> str:
    doc = official_openapi()
    doc["info"] = {
        "title": "kapfinder HSDS 3.0 API",
        "version": "1.0.0",
        "summary": "The published kapfinder directory as Open Referral HSDS 3.0.",
        "description": "Open data: clinics offering ketamine-assisted psychotherapy, as HSDS 3.0 documents. "
                       "Built from the official Open Referral openapi.json (CC BY-SA 4.0) by the patch "
                       "described in kapfinder's docs/HSDS.md.",
        "license": {"name": license_name},
    }
    doc["servers"] = [{"url": f"{base_url}/hsds"}]

    # 3. The service_at_location answer (before refs are rewritten, so it is rewritten with them).
    sal = doc["paths"]["/service_at_locations/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
    sal["schema"] = {"$ref": OFFICIAL_BASE + "compiled/service_at_location.json"}

    # 2. Local references, with the official schemas copied in.
    localise_refs(doc)
    schemas = doc["components"]["schemas"]
    schemas["Error"] = ERROR_SCHEMA

    # 5. Parameter constraints.
    for name, param in doc["components"]["parameters"].items():
        param["schema"] = dict(PARAMETER_SCHEMAS[name])
        if name in PARAMETER_NOTES:
            param["description"] = PARAMETER_NOTES[name]
    for op in _operations(doc):
        for param in op.get("parameters", []):
            if "$ref" not in param and param.get("name") in PARAMETER_SCHEMAS:
                param["schema"] = dict(PARAMETER_SCHEMAS[param["name"]])
    services = doc["paths"]["/services"]["get"]["parameters"]
    if not any(p.get("$ref", "").endswith("/minimal") for p in services):
        services.append({"$ref": "#/components/parameters/minimal"})

    # 4. The answers the server really gives.
    for path, item in doc["paths"].items():
        op = item["get"]
        responses = op["responses"]
        if path != "/":
            responses["400"] = _error_response("A parameter is not valid (`field` names it).")
        if path.endswith("{id}"):
            responses["404"] = _error_response("No published record has this id.")
        if path in LIST_PATHS:
            item_schema = responses["200"]["content"]["application/json"]["schema"]["properties"]["contents"]["items"]
            responses["200"]["content"]["application/x-ndjson"] = {
                "schema": copy.deepcopy(item_schema),
                "description": "format=ndjson: one document a line, every item, no paging."}
    doc["paths"]["/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["required"] = [
        "version", "profile", "openapi_url"]
    doc["paths"]["/openapi.json"] = {"get": {
        "summary": "This document.", "operationId": "getOpenAPIDocument",
        "responses": {"200": {"description": "The patched OpenAPI document.",
                              "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    return json.dumps(doc)


def _operations(doc: dict[str, Any]):
    for item in doc["paths"].values():
        for method, op in item.items():
            if method in ("get", "put", "post", "delete", "patch"):
                yield op


def patched_openapi_text(base_url: str, license_name: str = "CC-BY-4.0") -> str:
    """The patched document as JSON text (built once per base URL and licence)."""
    return _patched(base_url, license_name)
