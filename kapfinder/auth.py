"""Flask glue for accounts: the Flask-Login set-up, session limits, the structured auth log,
``moderator_required``, safe ``next`` targets and links built from BASE_URL.

Sessions (DESIGN.md → Accounts and sessions):
- the session and remember cookies carry ``<account id>:<nonce>:<signed-in at>``; the nonce lives on
  the account and is checked on every request, so rotating it (sign-out, password change, reset,
  deactivation) voids every copy of every cookie of that account;
- a session ends after 60 idle minutes and 24 hours in all; "remember me" lasts 14 days
  (``KAPFINDER_REMEMBER_DAYS``, 30 at most), counted from the sign-in written into the cookie, so a
  copied cookie dies on time whatever expiry the copy claims;
- pages seen while signed in are ``Cache-Control: no-store`` and ``Vary: Cookie``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime, timedelta, timezone
from functools import wraps
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import (Flask, abort, current_app, g, has_request_context, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user, user_loaded_from_cookie
from flask_wtf.csrf import CSRFError

from . import accounts
from .extensions import db, login_manager
from .formats import iso_seconds
from .web import json_error, link_to, wants_json

SESSION_IDLE = timedelta(minutes=60)
SESSION_MAX = timedelta(hours=24)
REMEMBER_FOR = timedelta(days=14)  # the default; REMEMBER_COOKIE_DURATION, at most REMEMBER_MAX
REMEMBER_MAX = timedelta(days=30)
SEEN_RESOLUTION = 60  # seconds: how stale the "last seen" stamp may get before it is rewritten

auth_log = logging.getLogger("kapfinder.auth")


# ---------------------------------------------------------------- the structured log

def log_event(event: str, account_id: int | None, outcome: str, **extra: Any) -> None:
    """One JSON line: UTC time, event, account id, outcome (and e.g. the path, never a query string).
    Never pass a password, a token or an email address here."""
    record = {
        "time": iso_seconds(datetime.now(timezone.utc)),
        "event": event,
        "account": account_id,
        "outcome": outcome,
        **extra,
    }
    auth_log.info(json.dumps(record, sort_keys=False))


def current_account_id() -> int | None:
    user = g.get("_login_user")
    if user is not None and getattr(user, "is_authenticated", False):
        return user.id
    return None


def signed_in_account_id() -> int | None:
    """Like ``current_account_id``, but loads the account if nothing has yet: a CSRF check or a rate
    limit can refuse a request before the session is looked at, and its log line still names the account."""
    return current_user.id if current_user.is_authenticated else None


def _refused_log_extra() -> dict[str, Any]:
    """For a sign-in refused by its rate limit: the account the attempts were for, if there is one."""
    if request.endpoint != "account.sign_in" or request.method != "POST":
        return {}
    tried = accounts.find_user(db.session(), request.form.get("email", ""))
    return {"attempted_account": tried.id} if tried is not None else {}


# ---------------------------------------------------------------- sessions

def start_session(user, remember: bool = False) -> None:
    """Sign in with a brand-new session (nothing from the anonymous one carries over)."""
    session.clear()
    login_user(user, remember=remember, duration=remember_for(), fresh=True)
    now = int(time.time())
    # The sign-in time travels with the id and nonce, into the remember cookie too: _load_user
    # refuses a cookie older than the remember period, whatever its Expires attribute said.
    session["_user_id"] = f"{user.get_id()}:{now}"
    session["_auth_at"] = now
    session["_seen_at"] = now


def end_session() -> None:
    session.clear()
    logout_user()  # also deletes the remember cookie, if the browser sent one


def _stamp_restored_session(_app, user=None, **_kwargs) -> None:
    # A remember cookie started a new session: its 60-minute and 24-hour clocks start now.
    now = int(time.time())
    session["_auth_at"] = now
    session["_seen_at"] = now


def _forget_previous_request() -> None:
    g.pop("_login_user", None)
    g.pop("csrf_token", None)


def _enforce_session_limits() -> None:
    if request.endpoint == "static":
        return
    if "_user_id" in session:
        now = time.time()
        auth_at, seen_at = session.get("_auth_at"), session.get("_seen_at")
        if (not isinstance(auth_at, int) or not isinstance(seen_at, int)
                or now - seen_at > SESSION_IDLE.total_seconds() or now - auth_at > SESSION_MAX.total_seconds()):
            # Over: forget the session. A live remember cookie may start a new one.
            session.clear()
        elif now - seen_at >= SEEN_RESOLUTION:
            session["_seen_at"] = int(now)
    if "_user_id" in session or current_app.config["REMEMBER_COOKIE_NAME"] in request.cookies:
        # Load (and so check the nonce of) the account on every request, not only where a page asks.
        if not current_user.is_authenticated and "_user_id" in session:
            session.clear()


def remember_for() -> timedelta:
    configured = current_app.config.get("REMEMBER_COOKIE_DURATION") or REMEMBER_FOR
    if isinstance(configured, int):
        configured = timedelta(seconds=configured)
    return min(configured, REMEMBER_MAX)


def _load_user(session_id: str):
    # "<id>:<nonce>:<signed-in at>"; anything else (an older cookie's "<id>:<nonce>") signs nobody in.
    head, _, signed_in_at = (session_id or "").rpartition(":")
    if not signed_in_at.isdigit() or ":" not in head:
        return None
    if time.time() - int(signed_in_at) > remember_for().total_seconds():
        return None
    return accounts.load_session_user(db.session(), head)


# ---------------------------------------------------------------- access control

def _unauthorized():
    log_event("access_denied", None, "signed_out", path=request.path)
    sign_in = None if wants_json() else link_to("account.sign_in", next=request.path)
    if sign_in is None:  # the API, or an app built without the account pages
        abort(401)
    return redirect(sign_in)


def _account_required(allowed: Callable[[Any], bool], refusal: str) -> Callable[[Callable], Callable]:
    """A view decorator: a visitor gets the sign-in page; a signed-in account that is not ``allowed``
    gets 403, logged as ``access_denied`` with the outcome ``refusal``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not allowed(current_user):
                log_event("access_denied", current_user.id, refusal, path=request.path)
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


#: Only signed-in moderators get through; an owner gets 403, a visitor the sign-in page.
moderator_required = _account_required(lambda user: user.is_moderator, "not_moderator")
#: For pages that need a confirmed email address (every account that can sign in has one).
confirmed_required = _account_required(lambda user: user.is_confirmed, "unconfirmed")


# ---------------------------------------------------------------- links

def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None. Refuses absolute and scheme-relative URLs,
    backslashes (browsers read ``/\\host`` as ``//host``), control characters and other schemes."""
    if not target or len(target) > 2000:
        return None
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def external_url(endpoint: str, **values: Any) -> str | None:
    """An absolute link for mail and command output: BASE_URL plus the path, never the request's Host.
    None when this app was built without the feature that serves ``endpoint`` (a mail then leaves
    the link out)."""
    if endpoint not in current_app.view_functions:
        return None
    base = current_app.config["BASE_URL"].rstrip("/")
    if has_request_context():
        path = url_for(endpoint, **values)
    else:
        with current_app.test_request_context("/"):
            path = url_for(endpoint, **values)
    return base + path


def account_rate_key() -> str:
    """The per-account limiter key: a digest of the submitted address (never the address or a query string)."""
    email = accounts.normalise_email(request.form.get("email", ""))
    return "account:" + hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]


# ---------------------------------------------------------------- set-up

def register(app: Flask) -> None:
    """Sign-in for the whole app (called by ``create_app``, whichever blueprints it registers)."""
    app.config.setdefault("REMEMBER_COOKIE_DURATION", REMEMBER_FOR)
    app.config["REMEMBER_COOKIE_DURATION"] = min(app.config["REMEMBER_COOKIE_DURATION"], REMEMBER_MAX)
    app.config["REMEMBER_COOKIE_REFRESH_EACH_REQUEST"] = False
    # The signed cookie's own age limit backs up the server-side 24-hour check.
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_MAX
    app.config.setdefault("REMEMBER_COOKIE_NAME", "remember_token")

    login_manager.login_view = "account.sign_in"
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)
    user_loaded_from_cookie.connect(_stamp_restored_session)

    # First of all: forget a previous request's account and CSRF token. A real request always
    # starts with a fresh ``g``; a test that holds one app context across requests does not.
    app.before_request_funcs.setdefault(None, []).insert(0, _forget_previous_request)
    app.before_request(_enforce_session_limits)

    @app.after_request
    def _private_pages(response):
        signed_in = current_account_id() is not None or "_user_id" in session
        if signed_in or request.blueprint == "account":
            response.headers["Cache-Control"] = "no-store"
            response.vary.add("Cookie")
        if response.status_code == 429:
            log_event("rate_limited", signed_in_account_id(), "refused", path=request.path, **_refused_log_extra())
        return response

    @app.errorhandler(CSRFError)
    def _csrf_failed(err: CSRFError):
        log_event("csrf_failure", signed_in_account_id(), "refused", path=request.path)
        message = _("This form has expired or did not come from this site. "
                    "Go back, reload the page and try again.")
        if wants_json():
            return json_error(400, "csrf_failed", message)
        return render_template("errors/error.html", status=400, message=message), 400
