"""Error pages: JSON under /api/v1 and /hsds (every status, 500 included), friendly HTML elsewhere."""
from __future__ import annotations

from flask import Flask, g, render_template, request
from flask.globals import request_ctx
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, SecurityError

from ..errors import KapfinderError
from ..messages import error_message
from ..web import json_error, wants_json
CODES = {400: "invalid_parameter", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 409: "conflict",
         413: "payload_too_large", 422: "unprocessable", 429: "rate_limited", 500: "server_error"}


def kapfinder_error_response(err: KapfinderError):
    extra = {"choices": err.choices} if hasattr(err, "choices") else {}
    if getattr(err, "suggestions", None) is not None:
        extra["suggestions"] = err.suggestions
    return json_error(err.status, err.code, error_message(err), err.field, **extra)


def _http_message(status: int) -> str:
    return {
        400: _("The request could not be understood."),
        401: _("Please sign in."),
        403: _("You don't have access to this page."),
        404: _("We couldn't find that page."),
        405: _("That method is not allowed here."),
        413: _("That upload is too large."),
        429: _("Too many requests. Please wait a moment and try again."),
    }.get(status, _("Something went wrong on our side. Please try again later."))


def error_page(status: int, message: str, template: str = "errors/error.html"):
    """The HTML error page; the plain one (no link, no stylesheet) when no URL can be built, as for a
    Host outside ``TRUSTED_HOSTS``, whose request Flask never binds to the URL map."""
    if request_ctx.url_adapter is None:
        template = "errors/plain.html"
    g.kapfinder_error_page = True  # language.py: no hreflang, and the switch goes to the home page
    return render_template(template, status=status, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(KapfinderError)
    def handle_domain_error(err: KapfinderError):
        if wants_json():
            return kapfinder_error_response(err)
        return error_page(err.status, error_message(err))

    @app.errorhandler(HTTPException)
    def handle_http(err: HTTPException):
        status = err.code or 500
        # An untrusted Host: say so, without echoing it.
        message = (_("This site does not answer to that address.") if isinstance(err, SecurityError)
                   else _http_message(status))
        if wants_json():
            response = json_error(status, CODES.get(status, "error"), message)
        else:
            template = "errors/404.html" if status == 404 else "errors/error.html"
            response = app.make_response(error_page(status, message, template))
        if status == 429 and err.get_response() is not None:
            retry = err.get_response().headers.get("Retry-After")
            if retry:
                response.headers["Retry-After"] = retry
        if status == 405 and err.get_response() is not None:
            allow = err.get_response().headers.get("Allow")
            if allow:
                response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500, "server_error", _http_message(500))
        return error_page(500, _http_message(500))
