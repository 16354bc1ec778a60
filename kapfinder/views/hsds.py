"""The Open Referral HSDS 3.0 API under /hsds (DESIGN.md → Precise rules → Open data).

Thin: parse the parameters, call one function of ``kapfinder.hsds``, answer JSON (or NDJSON with
``format=ndjson``: the whole list streamed, no paging). Errors are ``KapfinderError``s, answered in
the API's ``{"error": {...}}`` shape by ``views/errors.py``.
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context

from .. import hsds
from ..extensions import db, limiter
from ..hsds.openapi import patched_openapi_text

bp = Blueprint("hsds", __name__, url_prefix="/hsds")

limiter.shared_limit(lambda: current_app.config.get("READ_RATE_LIMIT") or "1000000/second", scope="read",
                     exempt_when=lambda: not current_app.config.get("READ_RATE_LIMIT"))(bp)

NDJSON = "application/x-ndjson"


def _base_url() -> str:
    return current_app.config["BASE_URL"]


def _query(endpoint: str) -> hsds.ListQuery:
    return hsds.parse_list_query(endpoint, request.args.to_dict(flat=False))


def _stream(documents) -> Response:
    def lines():
        for doc in documents:
            yield json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"
    return Response(stream_with_context(lines()), mimetype=NDJSON)


def _list(endpoint: str, page_of, iter_of):
    q = _query(endpoint)
    if q.ndjson:
        return _stream(iter_of(db.session, q, _base_url()))
    return jsonify(page_of(db.session, q, _base_url()).as_json())


@bp.get("/")
def root():
    return jsonify(hsds.api_root(_base_url()))


@bp.get("/openapi.json")
def openapi():
    text = patched_openapi_text(_base_url(), current_app.config.get("DATA_LICENSE") or "CC-BY-4.0")
    return Response(text, mimetype="application/json")


@bp.get("/services")
def services():
    return _list("services", hsds.services_page, hsds.iter_services)


@bp.get("/services/<ident>")
def service(ident: str):
    return jsonify(hsds.service_by_id(db.session, ident, _base_url()))


@bp.get("/organizations")
def organizations():
    return _list("organizations", hsds.organizations_page, hsds.iter_organizations)


@bp.get("/organizations/<ident>")
def organization(ident: str):
    full_service = hsds.parse_flag("full_service", request.args.getlist("full_service"))
    return jsonify(hsds.organization_by_id(db.session, ident, _base_url(), full_service))


@bp.get("/service_at_locations")
def service_at_locations():
    return _list("service_at_locations", hsds.sals_page, hsds.iter_sals)


@bp.get("/service_at_locations/<ident>")
def service_at_location(ident: str):
    return jsonify(hsds.sal_by_id(db.session, ident, _base_url()))


def _static_list(endpoint: str, items_of):
    q = _query(endpoint)
    items = items_of(q)
    if q.ndjson:
        return _stream(iter(items))
    return jsonify(hsds.static_page(items, q).as_json())


@bp.get("/taxonomies")
def taxonomies():
    return _static_list("taxonomies", hsds.taxonomy_items)


@bp.get("/taxonomies/<ident>")
def taxonomy(ident: str):
    return jsonify(hsds.taxonomy_by_id(ident))


@bp.get("/taxonomy_terms")
def taxonomy_terms():
    return _static_list("taxonomy_terms", hsds.term_items)


@bp.get("/taxonomy_terms/<ident>")
def taxonomy_term(ident: str):
    return jsonify(hsds.term_by_id(ident))
