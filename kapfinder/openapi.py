"""The OpenAPI 3.1 document of the JSON API v1, built from the vocabularies.

Every enum comes from ``kapfinder.vocab`` (the same data files the search validates against), so
the document cannot drift from what the server accepts. Flask-free: the view passes the server URL.
"""
from __future__ import annotations

from typing import Any

from . import vocab

MAX_VALUE_LENGTH = 200
RADIUS_MIN, RADIUS_MAX, RADIUS_DEFAULT = 1, 500, 25
PER_PAGE_MAX, PER_PAGE_DEFAULT = 100, 20
# No control characters (NUL included) and at most 200 characters: what parse_criteria enforces.
TEXT_PATTERN = "^[^\\u0000-\\u001F\\u007F]*$"
DATETIME_PATTERN = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$"
DATE_PATTERN = "^\\d{4}-\\d{2}-\\d{2}$"
UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ERROR_CODES = {
    "invalid_parameter": 400, "unknown_location": 400, "ambiguous_location": 400, "not_found": 404,
    "method_not_allowed": 405, "rate_limited": 429, "server_error": 500,
}
COVERAGE_STATUSES = ["in-network", "out-of-network", "self-pay", "not-offered"]
MATCHES = ["distance", "state"]
DAYS = ["mo", "tu", "we", "th", "fr", "sa", "su"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _enum(vocabulary: vocab.Vocabulary) -> dict[str, Any]:
    return {"type": "string", "enum": list(vocabulary.slugs)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    out = dict(schema)
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    types = out.get("type")
    out["type"] = [*(types if isinstance(types, list) else [types]), "null"]
    return out


def _list_of(vocabulary: vocab.Vocabulary) -> dict[str, Any]:
    return {"type": "array", "items": _enum(vocabulary), "uniqueItems": True,
            "description": f"{vocabulary.title} slugs, in vocabulary order."}


def _object(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False, **extra}


DATETIME = {"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN,
            "description": "ISO 8601, UTC, with `Z`."}
DATE = {"type": "string", "format": "date", "pattern": DATE_PATTERN}
USD = {"type": ["integer", "null"], "minimum": 0, "description": "Whole US dollars per session; null: unknown."}
TEXT = {"type": "string", "maxLength": MAX_VALUE_LENGTH, "pattern": TEXT_PATTERN}


def _schemas() -> dict[str, Any]:
    distance = {"type": ["number", "null"], "minimum": 0,
                "description": "Great-circle distance rounded to one decimal; null for state matches "
                               "and without a location."}
    summary = {
        "id": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
        "slug": {"type": "string"},
        "name": {"type": "string"},
        "url": {"type": "string", "format": "uri", "description": "The clinic's page on this site."},
        "distance_mi": distance,
        "distance_km": distance,
        "match": {"type": ["string", "null"], "enum": [*MATCHES, None],
                  "description": "`distance`: within the radius; `state`: an at-home programme serving "
                                 "the location's state; null without a location."},
        "lat": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
        "lon": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
        "address": _ref("Address"),
        "phone": {"type": ["string", "null"], "pattern": "^\\+[1-9]\\d{1,14}$",
                  "description": "E.164, e.g. `+15125550100`."},
        "website": {"type": ["string", "null"]},
        "methods": _list_of(vocab.METHODS),
        "settings": _list_of(vocab.SETTINGS),
        "conditions": _list_of(vocab.CONDITIONS),
        "services": {**_list_of(vocab.SERVICES),
                     "description": "Covered-service slugs the clinic offers, derived from its methods, "
                                    "care model and evaluation flag."},
        "insurance": {"type": "array", "items": _ref("InsuranceItem"),
                      "description": "By service, then carrier (vocabulary order)."},
        "self_pay": {"type": "array", "items": _ref("SelfPayItem")},
        "accepting_new_patients": {"type": ["boolean", "null"]},
        "accepting_as_of": _nullable(DATE),
        "languages": {**_list_of(vocab.LANGUAGES),
                      "description": "Languages the staff offer care in, as the listing states them (ISO 639-1; "
                                     "`ase` is American Sign Language). Empty: not stated; English is not implied."},
        "interpreter_services": {"type": "boolean", "description": "The clinic offers interpreter services."},
        "interpreter_languages": {**_list_of(vocab.LANGUAGES),
                                  "description": "Languages the interpreter services cover (may be empty)."},
        "languages_as_of": {**_nullable(DATE), "description": "When the listing last stated its languages."},
        "verified_at": _nullable(DATETIME),
        "stale": {"type": "boolean", "description": "Not confirmed in the last 90 days."},
        "sample": {"type": "boolean", "description": "True for fictional sample data."},
    }
    summary_required = list(summary)
    summary["coverage"] = {
        "type": "array", "items": _ref("CoverageEntry"), "minItems": len(vocab.SERVICES),
        "maxItems": len(vocab.SERVICES),
        "description": "Present only when `insurance` is given: one entry per service, in vocabulary order.",
    }
    detail = {k: v for k, v in summary.items() if k != "coverage"}
    detail.update({
        "description": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "hours": {"type": "array", "items": _ref("Hours"),
                  "description": "Opening hours in the clinic's own time zone (`timezone`)."},
        "hours_note": {"type": "string"},
        "timezone": {"type": ["string", "null"], "description": "IANA time zone, from the clinic's ZIP."},
        "at_home_states": {"type": "array", "items": _enum(vocab.STATES), "uniqueItems": True,
                           "description": "US states an at-home programme serves."},
        "therapy": _nullable(_enum(vocab.THERAPY)),
        "therapy_extras": _list_of(vocab.THERAPY_EXTRAS),
        "payment_options": _object({slug: {"type": "boolean", "description": vocab.PAYMENT_OPTIONS.label(slug)}
                                    for slug in vocab.PAYMENT_OPTIONS.slugs}),
        "safety": _ref("Safety"),
        "npi": {"type": ["string", "null"], "pattern": "^[12]\\d{9}$"},
        "confirmed_at": _nullable(DATETIME),
        "updated_at": _nullable(DATETIME),
    })
    query = {
        "location": {"oneOf": [_ref("Location"), {"type": "null"}]},
        "radius": {"type": ["integer", "null"], "minimum": RADIUS_MIN, "maximum": RADIUS_MAX,
                   "description": "Null without a location; echoed but not applied for a whole state."},
        "method": _list_of(vocab.METHODS),
        "insurance": _nullable(_enum(vocab.CARRIERS)),
        "plan_type": _nullable(_enum(vocab.PLAN_TYPES)),
        "service": _nullable(_enum(vocab.SERVICES)),
        "condition": _list_of(vocab.CONDITIONS),
        "language": _list_of(vocab.LANGUAGES),
        "setting": _nullable(_enum(vocab.SETTINGS)),
        "accepting": {"type": "boolean"},
        "sort": {**_enum(vocab.SORTS), "description": "The order actually used."},
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX},
    }
    return {
        "Error": _object({"error": _object({
            "code": {"type": "string", "enum": list(ERROR_CODES)},
            "message": {"type": "string", "description": "A sentence for people, in the site's language."},
            "field": {"type": ["string", "null"], "description": "The first bad parameter, or null."},
            "choices": {"type": "array", "items": _ref("LocationChoice"),
                        "description": "With `ambiguous_location`: the places the location could mean, the "
                                       "largest (most ZIP codes) first."},
            "suggestions": {"type": "array", "items": _ref("LocationChoice"), "maxItems": 3,
                            "description": "With `unknown_location`: up to three places the location may have "
                                           "meant (a misspelt city, the ZIP or the city of an address whose parts "
                                           "disagree), best first; empty when nothing is close. Offered, never "
                                           "applied: search again with one's `location`."},
        }, required=["code", "message", "field"])}),
        "LocationChoice": _object({"label": {"type": "string"},
                                   "location": {"type": "string", "description": "A `location` value."}}),
        "Location": _object({
            "input": {"type": "string", "description": "What was given."},
            "label": {"type": "string", "description": "`City, ST`, a state name, or `lat, lon` to 3 decimals."},
            "lat": {"type": ["number", "null"]},
            "lon": {"type": ["number", "null"]},
        }, description="The resolved location; lat and lon are null for a whole state."),
        "Query": _object(query, description="Every parameter, normalised, with defaults filled in."),
        "Address": _object({"street": {"type": "string"}, "city": {"type": "string"},
                            "state": {"type": "string"}, "zip": {"type": "string"}}),
        "InsuranceItem": _object({
            "carrier": _enum(vocab.CARRIERS),
            "plan_types": {**_list_of(vocab.PLAN_TYPES), "description": "Empty: every plan type."},
            "service": _enum(vocab.SERVICES),
            "network": _enum(vocab.NETWORKS),
            "as_of": _nullable(DATE),
        }),
        "SelfPayItem": _object({"service": _enum(vocab.SERVICES), "min_usd": USD, "max_usd": USD,
                                "as_of": _nullable(DATE)}),
        "CoverageEntry": _object({
            "service": _enum(vocab.SERVICES),
            "status": {"type": "string", "enum": COVERAGE_STATUSES},
            "network": _nullable(_enum(vocab.NETWORKS)),
            "plan_types": _list_of(vocab.PLAN_TYPES),
            "min_usd": USD,
            "max_usd": USD,
            "as_of": _nullable(DATE),
            "notes": {"type": "array", "items": _enum(vocab.PAYMENT_OPTIONS),
                      "description": "Payment options that apply when the plan does not cover the service "
                                     "in network (e.g. `superbill`)."},
        }),
        "Hours": _object({"day": {"type": "string", "enum": DAYS},
                          "opens": {"type": "string", "pattern": "^\\d{2}:\\d{2}$"},
                          "closes": {"type": "string", "pattern": "^\\d{2}:\\d{2}$"}}),
        "Safety": _object({
            "prescriber_types": _list_of(vocab.PRESCRIBER_TYPES),
            "therapist_licenses": _list_of(vocab.THERAPIST_LICENSES),
            "rems_certified": {"type": "boolean"},
            "vital_signs_monitoring": {"type": "boolean"},
            "medical_screening": {"type": "boolean"},
        }),
        "ClinicSummary": _object(summary, required=summary_required),
        "ClinicDetail": _object(detail),
        "SearchResponse": _object({
            "query": _ref("Query"),
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX},
            "pages": {"type": "integer", "minimum": 0, "description": "ceil(total / per_page)."},
            "results": {"type": "array", "items": _ref("ClinicSummary"), "maxItems": PER_PAGE_MAX},
        }),
        "Term": _object({"slug": {"type": "string"}, "label": {"type": "string"},
                         "description": {"type": "string"}}),
        "Taxonomy": _object({
            name: {"type": "array", "items": _ref("Term"), "minItems": len(v), "maxItems": len(v),
                   "description": v.title}
            for name, v in vocab.TAXONOMY.items()
        }),
    }


def _query_param(name: str, schema: dict[str, Any], description: str, *, array: bool = False) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": False, "description": description,
                             "schema": schema}
    if array:
        param.update(style="form", explode=True)
    return param


def _search_parameters() -> list[dict[str, Any]]:
    def one_of(vocabulary: vocab.Vocabulary) -> dict[str, Any]:
        return _enum(vocabulary)

    def many(vocabulary: vocab.Vocabulary) -> dict[str, Any]:
        return {"type": "array", "items": _enum(vocabulary)}

    return [
        _query_param("location", {**TEXT, "minLength": 1},
                     "A 5-digit ZIP (ZIP+4 too), `City, ST`, `City, State Name`, a state, `lat,lon`, or a "
                     "street address: one ending in a ZIP is that ZIP (`City, ST ZIP` too), else its "
                     "trailing `City, ST`; resolved offline. Not together with `lat`/`lon`. Unresolvable "
                     "(or a ZIP in another state than the one given): 400 `unknown_location` with "
                     "`suggestions`; a city in several states: 400 `ambiguous_location` with `choices`."),
        _query_param("lat", {"type": "number", "minimum": -90, "maximum": 90},
                     "Latitude in decimal degrees; needs `lon`, not together with `location`."),
        _query_param("lon", {"type": "number", "minimum": -180, "maximum": 180},
                     "Longitude in decimal degrees; needs `lat`, not together with `location`."),
        _query_param("radius", {"type": "integer", "minimum": RADIUS_MIN, "maximum": RADIUS_MAX,
                                "default": RADIUS_DEFAULT},
                     "Miles; a clinic matches when its unrounded distance is within it. Ignored without "
                     "a location and for a whole state."),
        _query_param("method", many(vocab.METHODS), "Administration methods (any of them).", array=True),
        _query_param("insurance", one_of(vocab.CARRIERS),
                     "Carrier: keeps clinics whose listing says it covers, in or out of network, the "
                     "service the patient means: `service` if given; else, with `method`, the service a "
                     "chosen method the clinic lists implies (`esketamine-nasal` → `esketamine`, every "
                     "racemic method → `ketamine`); else any offered service. Adds `coverage` to every result."),
        _query_param("plan_type", one_of(vocab.PLAN_TYPES), "Plan type; only with `insurance`."),
        _query_param("service", one_of(vocab.SERVICES),
                     "Covered service that must be in or out of network; only with `insurance`."),
        _query_param("condition", many(vocab.CONDITIONS), "Conditions treated (any of them).", array=True),
        _query_param("language", many(vocab.LANGUAGES),
                     "Language codes (ISO 639-1; `ase` for American Sign Language), any of them: a clinic "
                     "matches when its staff offer care in one, or its interpreter services cover one.",
                     array=True),
        _query_param("setting", one_of(vocab.SETTINGS),
                     "`in-clinic`: distance matches only; `at-home`: at-home programmes serving the "
                     "location's state only."),
        _query_param("accepting", {"type": "string", "enum": ["0", "1"], "default": "0"},
                     "`1`: only clinics accepting new patients."),
        _query_param("sort", one_of(vocab.SORTS),
                     "Default `distance` with a location, else `name`; `distance` without a location is `name`."),
        _query_param("page", {"type": "integer", "default": 1},
                     "1-based; below 1 is served as page 1; past the end is an empty page."),
        _query_param("per_page", {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX,
                                  "default": PER_PAGE_DEFAULT}, "Results per page."),
    ]


def _json(schema_name: str, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {"application/json": {"schema": _ref(schema_name)}}}
    if headers:
        response["headers"] = headers
    return response


def _responses(ok_schema: str, ok_description: str, *, bad_request: bool = False,
               not_found: bool = False) -> dict[str, Any]:
    cors = {"Access-Control-Allow-Origin": {"schema": {"type": "string", "const": "*"},
                                            "description": "Open data: any origin may read it."}}
    out: dict[str, Any] = {"200": _json(ok_schema, ok_description, cors)}
    if bad_request:
        out["400"] = {"$ref": "#/components/responses/BadRequest"}
    if not_found:
        out["404"] = {"$ref": "#/components/responses/NotFound"}
    out["429"] = {"$ref": "#/components/responses/RateLimited"}
    out["500"] = {"$ref": "#/components/responses/ServerError"}
    return out


def build_openapi(server_url: str = "/api/v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document; ``server_url`` is where ``/clinics`` etc. are mounted."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kapfinder API",
            "version": "1.0.0",
            "summary": "Clinics offering ketamine-assisted psychotherapy, searchable by location, method "
                       "and insurance.",
            "description": (
                "Read-only open data. Every route answers GET (and HEAD); any other method answers 405 "
                "`method_not_allowed` in the error shape. Every error is `{\"error\": {\"code\", \"message\", "
                "\"field\"}}`; `field` is the first bad parameter or null. A parameter that takes one value "
                "given twice, a value longer than 200 characters or holding a control character is 400 "
                "`invalid_parameter`. Reads are not rate limited unless the operator sets "
                "`KAPFINDER_READ_RATE_LIMIT`; then 429 `rate_limited` with `Retry-After`. "
                "The directory is not medical advice; confirm coverage with the clinic and the insurer."
            ),
            "license": {"name": "CC-BY-4.0", "identifier": "CC-BY-4.0"},
        },
        "servers": [{"url": server_url}],
        "paths": {
            "/clinics": {"get": {
                "operationId": "searchClinics",
                "summary": "Search published clinics, nearest first",
                "description": "Values within a parameter combine with OR; parameters combine with AND. "
                               "With a location, in-clinic matches come first (by distance rounded to 0.1 mi, "
                               "then fresh before stale, newest confirmation, name), then at-home programmes "
                               "serving the location's state (`match: state`, null distance).",
                "parameters": _search_parameters(),
                "responses": _responses("SearchResponse", "One page of results.", bad_request=True),
            }},
            "/clinics/{clinic}": {"get": {
                "operationId": "getClinic",
                "summary": "One published clinic, by id or slug",
                "parameters": [{"name": "clinic", "in": "path", "required": True,
                                "description": "The clinic's id (UUID) or slug.", "schema": {"type": "string"}}],
                "responses": _responses("ClinicDetail", "The whole public listing.", not_found=True),
            }},
            "/taxonomy": {"get": {
                "operationId": "getTaxonomy",
                "summary": "Every vocabulary, keyed by parameter name, with labels and descriptions",
                "responses": _responses("Taxonomy", "The vocabularies."),
            }},
            "/openapi.json": {"get": {
                "operationId": "getOpenAPI",
                "summary": "This document",
                "responses": {"200": {"description": "The OpenAPI 3.1 document.",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              "429": {"$ref": "#/components/responses/RateLimited"},
                              "500": {"$ref": "#/components/responses/ServerError"}},
            }},
        },
        "components": {
            "schemas": _schemas(),
            "responses": {
                "BadRequest": _json("Error", "`invalid_parameter`, `unknown_location` or `ambiguous_location` "
                                             "(with `choices`)."),
                "NotFound": _json("Error", "`not_found`: no published clinic has that id or slug."),
                "MethodNotAllowed": _json("Error", "`method_not_allowed`: every route is read-only.",
                                          {"Allow": {"schema": {"type": "string"}}}),
                "RateLimited": _json("Error", "`rate_limited`, only when the operator sets a read limit.",
                                     {"Retry-After": {"schema": {"type": "integer", "minimum": 0},
                                                      "description": "Seconds to wait."}}),
                "ServerError": _json("Error", "`server_error`."),
            },
        },
    }
