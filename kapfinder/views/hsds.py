"""The Open Referral HSDS 3.0 API under /hsds (DESIGN.md → Precise rules → Open data).

Thin: parse the parameters, call one function of ``kapfinder.hsds`` (the five lists through its
``LISTS`` table), answer JSON (or NDJSON with ``format=ndjson``: the whole list streamed, no paging).
Errors are ``KapfinderError``s, answered in the API's ``{"error": {...}}`` shape by ``views/errors.py``.
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


def _stream(documents) -> Response:
    def lines():
        for doc in documents:
            yield json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"
    return Response(stream_with_context(lines()), mimetype=NDJSON)


def _list_view(endpoint: str):
    """The view of one list endpoint: a page of JSON, or every item as NDJSON with ``format=ndjson``."""
    page_of, items_of = hsds.LISTS[endpoint]

    def view():
        q = hsds.parse_list_query(endpoint, request.args.to_dict(flat=False))
        if q.ndjson:
            return _stream(items_of(db.session, q, _base_url()))
        return jsonify(page_of(db.session, q, _base_url()).as_json())

    view.__name__ = endpoint
    return view


for _endpoint in hsds.LISTS:  # /hsds/services, /hsds/organizations, ... (endpoint names as the paths)
    bp.add_url_rule(f"/{_endpoint}", _endpoint, _list_view(_endpoint), methods=["GET"])


@bp.get("/")
def root():
    return jsonify(hsds.api_root(_base_url()))


@bp.get("/openapi.json")
def openapi():
    text = patched_openapi_text(_base_url(), current_app.config.get("DATA_LICENSE") or "CC-BY-4.0")
    return Response(text, mimetype="application/json")


@bp.get("/services/<ident>")
def service(ident: str):
    return jsonify(hsds.service_by_id(db.session, ident, _base_url()))


@bp.get("/organizations/<ident>")
def organization(ident: str):
    full_service = hsds.parse_flag("full_service", request.args.getlist("full_service"))
    return jsonify(hsds.organization_by_id(db.session, ident, _base_url(), full_service))


@bp.get("/service_at_locations/<ident>")
def service_at_location(ident: str):
    return jsonify(hsds.sal_by_id(db.session, ident, _base_url()))


@bp.get("/taxonomies/<ident>")
def taxonomy(ident: str):
    return jsonify(hsds.taxonomy_by_id(ident))


@bp.get("/taxonomy_terms/<ident>")
def taxonomy_term(ident: str):
    return jsonify(hsds.term_by_id(ident))
