"""What every response gets (security headers, a request log line without the query string), /healthz,
the open-data CORS header, the API's error shape, and ``link_to`` for links between features."""
from __future__ import annotations

import logging
import time

from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, jsonify, request, url_for
from sqlalchemy import text

from .extensions import db

request_log = logging.getLogger("kapfinder.request")

#: Paths that answer JSON for every error, 500 included.
JSON_PREFIXES = ("/api/", "/hsds")


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def json_error(status: int, code: str, message: str, field: str | None = None, **extra) -> Response:
    """The API's error shape: ``{"error": {"code", "message", "field", ...}}``."""
    response = jsonify({"error": {"code": code, "message": message, "field": field, **extra}})
    response.status_code = status
    return response


def link_to(endpoint: str, **values) -> str | None:
    """``url_for(endpoint, **values)``, or None when this app has no such endpoint (it was built
    without that feature's blueprint): a page then leaves the link out instead of failing."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


def is_open_data() -> bool:
    """Any web page may read the JSON API (every answer under /api/v1/), the HSDS API and the export
    downloads: no cookies are involved, so ``Access-Control-Allow-Origin: *`` is safe."""
    return (request.method in ("GET", "HEAD")
            and (request.path.startswith("/api/v1/") or request.blueprint == "hsds"
                 or request.endpoint == "opendata.download"))


def allow_open_data_reads(app: Flask) -> None:
    @app.after_request
    def _open_data_cors(response: Response) -> Response:
        if is_open_data():
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response


def content_security_policy(tile_url: str | None) -> str:
    """``default-src 'self'``; a configured tile server's origin is added to ``img-src`` only."""
    img_src = "'self' data:"
    if tile_url:
        parts = urlsplit(tile_url)
        img_src += f" {parts.scheme}://{parts.netloc}"
    return (f"default-src 'self'; img-src {img_src}; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'")


#: Browser features the site uses, for itself only: "use my location" and "copy link". Every
#: other powerful feature is off for the page and for any frame.
ALLOWED_FEATURES = ("geolocation", "clipboard-write")
DISABLED_FEATURES = (
    "accelerometer", "autoplay", "browsing-topics", "camera", "clipboard-read",
    "display-capture", "encrypted-media", "fullscreen", "gamepad", "gyroscope", "hid", "idle-detection",
    "local-fonts", "magnetometer", "microphone", "midi", "otp-credentials", "payment", "picture-in-picture",
    "publickey-credentials-create", "publickey-credentials-get", "screen-wake-lock", "serial",
    "storage-access", "sync-xhr", "usb", "window-management", "xr-spatial-tracking",
)
PERMISSIONS_POLICY = ", ".join([f"{name}=(self)" for name in ALLOWED_FEATURES]
                               + [f"{name}=()" for name in DISABLED_FEATURES])


def security_headers(response: Response, secure: bool) -> Response:
    """The headers every response gets, error pages included (CSP is added by ``register``)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    if secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def register(app: Flask) -> None:
    """Security headers and the request log line on every response (``logs`` says where the line
    goes), and /healthz."""

    @app.before_request
    def _start_timer():
        g.request_started = time.perf_counter()

    csp = content_security_policy(app.config.get("TILE_URL"))

    @app.after_request
    def _headers_and_log(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        security_headers(response, request.is_secure)
        elapsed = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
        # Method, path, status and time only: never the query string. Control characters in the
        # path are escaped by logsafe's filter on this logger.
        request_log.info("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed)
        return response

    @app.get("/healthz")
    def healthz():
        try:
            db.session.execute(text("SELECT 1"))
        except Exception:  # any database failure means "not ready"
            db.session.rollback()
            return jsonify({"status": "unavailable"}), 503
        return jsonify({"status": "ok"})
