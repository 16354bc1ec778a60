"""JSON API v1 (DESIGN.md → JSON API v1): search, one clinic, the taxonomy and the OpenAPI document.

Thin: parse → one service → serialize. Errors are raised as KapfinderError / HTTPException and
answered in the ``{"error": {...}}`` shape by ``views/errors.py``.
"""
from __future__ import annotations

import zlib

from flask import Blueprint, current_app, jsonify, request

from .. import listings, vocab, vocab_words
from ..errors import NotFound
from ..extensions import db, limiter
from ..formats import clinic_url
from ..models import Clinic, utcnow
from ..openapi import build_openapi
from ..search import parse_criteria, search, search_cache_key, search_json
from ..serialize import clinic_detail, search_response

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Public reads are unlimited unless the operator sets KAPFINDER_READ_RATE_LIMIT (e.g. "600/minute").
# The scope "read" is meant to be shared with the other public reads (pages, /hsds).
limiter.shared_limit(lambda: current_app.config.get("READ_RATE_LIMIT") or "1000000/second", scope="read",
                     exempt_when=lambda: not current_app.config.get("READ_RATE_LIMIT"))(bp)


def _clinic_url(clinic: Clinic) -> str | None:
    """The clinic's public page, from KAPFINDER_BASE_URL (never from the request's Host)."""
    return clinic_url(current_app.config["BASE_URL"], clinic.slug)


def _url_prefix() -> str:
    """What a clinic's slug follows in its ``url`` (``_clinic_url``)."""
    return clinic_url(current_app.config["BASE_URL"], "x")[:-1]


#: How long a cached search response may be served. Any change to the directory ends it at once
#: (the key holds the data's generation); the TTL only bounds how late a listing turns "stale".
RESPONSE_TTL_S = 60


@bp.get("/clinics")
def clinics():
    criteria = parse_criteria(request.args.to_dict(flat=False), api=True)
    # "Cache-Control: no-cache" (a client's or a benchmark's) asks for a fresh answer: the response
    # cache is neither read nor written (compressing a page no one asked to keep costs as much as
    # a fifth of the request).
    fresh = "no-cache" in request.headers.get("Cache-Control", "")
    responses = None if fresh else current_app.extensions.get("kapfinder_response_cache")
    key = search_cache_key(db.session, criteria) if responses is not None else None
    if key is not None:
        body = _cached_body(responses.get_bytes(key))
        if body is not None:
            return current_app.response_class(body, mimetype="application/json")
    now = utcnow()
    body = None
    if current_app.config.get("SEARCH_INDEX", True):
        # Straight from the index and each clinic's pre-encoded result (search.summaries), when
        # the index answers this search; else the search below.
        body = search_json(db.session, criteria, _url_prefix(), now=now,
                           cache=current_app.extensions.get("kapfinder_cache"))
    if body is None:
        page = search(db.session, criteria, now=now, cache=current_app.extensions.get("kapfinder_cache"),
                      use_index=current_app.config.get("SEARCH_INDEX", True))
        body = jsonify(search_response(page, _clinic_url, now=now)).get_data()
    if key is not None:
        # Compressed (a page of 20 results: ~40 KB of JSON, ~6 KB stored) so a few hundred fit.
        responses.set_bytes(key, zlib.compress(body, 1), ttl=RESPONSE_TTL_S)
    return current_app.response_class(body, mimetype="application/json")


def _cached_body(stored: bytes | None) -> bytes | None:
    """A stored response, or None when there is none or it is not ours to read (an entry another
    release left in a shared Redis for its last seconds): then the search runs afresh."""
    if stored is None:
        return None
    try:
        return zlib.decompress(stored)
    except zlib.error:
        return None


@bp.get("/clinics/<ident>")
def clinic(ident: str):
    found = (listings.published_clinic(db.session, clinic_id=ident.lower())
             or listings.published_clinic(db.session, ident))
    if found is None:
        raise NotFound(None, "not_found")
    return jsonify(clinic_detail(found, url=_clinic_url(found)))


@bp.get("/taxonomy")
def taxonomy():
    """Slugs with English labels; ``?lang=es`` gives the labels and descriptions in Spanish."""
    return jsonify({name: vocab_words.as_json(vocabulary) for name, vocabulary in vocab.TAXONOMY.items()})


@bp.get("/openapi.json")
def openapi():
    return jsonify(build_openapi(f"{current_app.config['BASE_URL']}{bp.url_prefix}"))
