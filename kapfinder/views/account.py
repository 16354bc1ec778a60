"""Owner accounts: sign-up, email confirmation, sign-in, sign-out, password reset and change.

Views are thin: the form, one call into ``kapfinder.accounts``, then a page or a redirect.
Sign-up, sign-in and reset look the same to a visitor whether or not the address has an account.
"""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required

from .. import accounts, throttle
from ..auth import account_rate_key, end_session, external_url, log_event, remember_for, safe_next, start_session
from ..errors import InvalidParameter
from ..extensions import db
from ..forms.account import (ChangePasswordForm, ConfirmEmailForm, ResetPasswordForm, ResetRequestForm,
                             SignInForm, SignOutForm, SignUpForm, add_error)
from ..mail import notify
from ..web import link_to

bp = Blueprint("account", __name__, url_prefix="/account")

SIGN_IN_PER_ADDRESS = "20/minute"
SIGN_IN_PER_ACCOUNT = "5/minute;20/hour"
SIGN_UP_PER_ADDRESS = "5/hour"
RESET_PER_ADDRESS = "5/hour"


def _mail(to: str, template: str, subject: str, **context) -> None:
    notify(current_app.config, to, subject, render_template(f"mail/{template}.txt", **context), label=template)


def _link_page(template: str, status: int = 200, **context):
    """A page a mailed link opens (or its form's answer): the token in its URL must not leak through Referer."""
    response = current_app.make_response((render_template(template, **context), status))
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _token_form_page(form, purpose: str, template: str):
    """The GET of a mailed link: its form with the token, or "this link is no longer valid" (400)."""
    form.token.data = request.args.get("token", "")
    try:
        accounts.check_token(db.session(), form.token.data, purpose)
    except accounts.InvalidToken:
        return _link_page("account/link_invalid.html", 400)
    return _link_page(template, form=form)


def _landing(user) -> str:
    """Where signing in leads: the moderation queue, else the owner's listings, else the account page."""
    endpoints = ("moderate.queue",) if user.is_moderator else ()
    for endpoint in (*endpoints, "owner.dashboard"):
        if (url := link_to(endpoint)) is not None:
            return url
    return url_for("account.index")


@bp.errorhandler(429)
def too_many(err):
    if request.endpoint == "account.sign_in":
        message = _("Too many sign-in attempts. Please wait a few minutes before trying again, "
                    "or reset your password if you have forgotten it.")
    else:
        message = _("Too many requests from your connection. Please try again in an hour.")
    response = current_app.make_response((render_template("account/rate_limited.html", message=message), 429))
    limited = err.get_response() if hasattr(err, "get_response") else None
    if limited is not None and limited.headers.get("Retry-After"):
        response.headers["Retry-After"] = limited.headers["Retry-After"]
    return response


@bp.errorhandler(503)
def store_down(err):
    """The shared rate-limit store does not answer: these forms fail closed (kapfinder.throttle)."""
    response = current_app.make_response(
        (render_template("errors/error.html", status=503, message=throttle.unavailable_message()), 503))
    response.headers["Retry-After"] = "30"
    return response


@bp.get("/")
@login_required
def index():
    return render_template("account/index.html", sign_out_form=SignOutForm())


@bp.route("/sign-up", methods=["GET", "POST"])
@throttle.limit(SIGN_UP_PER_ADDRESS, get_remote_address, scope="sign_up")
def sign_up():
    form = SignUpForm()
    if not form.validate_on_submit():
        return render_template("account/sign_up.html", form=form), 400 if form.is_submitted() else 200
    try:
        result = accounts.register(db.session(), form.email.data, form.password.data)
    except InvalidParameter as err:
        add_error(form, err, "password")
        return render_template("account/sign_up.html", form=form), 400
    user = result.user
    if result.confirm_token:
        _mail(user.email, "confirm", _("Confirm your email address for kapfinder"),
              link=external_url("account.confirm", token=result.confirm_token))
    elif not result.created and user.active:
        _mail(user.email, "account_exists", _("You already have a kapfinder account"),
              sign_in=external_url("account.sign_in"), reset=external_url("account.reset_request"))
    log_event("sign_up", user.id if result.created else None, "created" if result.created else "existing")
    return render_template("account/check_mail.html", purpose="sign_up")


@bp.route("/confirm", methods=["GET", "POST"])
def confirm():
    """The link in the mail opens a page with one button; only its POST uses the link up, so a mail
    scanner that follows links (a GET) confirms nothing and spends nothing."""
    form = ConfirmEmailForm()
    if request.method == "GET":
        return _token_form_page(form, "confirm", "account/confirm.html")
    if not form.validate_on_submit():
        return _link_page("account/confirm.html", 400, form=form)
    try:
        user = accounts.confirm_email(db.session(), form.token.data or "")
    except accounts.InvalidToken:
        log_event("email_confirmation", None, "invalid_link")
        return _link_page("account/link_invalid.html", 400)
    log_event("email_confirmation", user.id, "success")
    return _link_page("account/confirmed.html")


@bp.route("/sign-in", methods=["GET", "POST"])
@throttle.limit(SIGN_IN_PER_ADDRESS, get_remote_address, scope="sign_in_address")
@throttle.limit(SIGN_IN_PER_ACCOUNT, account_rate_key, scope="sign_in_account")
def sign_in():
    form = SignInForm(remember_days=remember_for().days)
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
        if current_user.is_authenticated:
            return redirect(safe_next(form.next.data) or _landing(current_user))
        return render_template("account/sign_in.html", form=form)
    if not form.validate_on_submit():
        return render_template("account/sign_in.html", form=form), 400
    result = accounts.authenticate(db.session(), form.email.data, form.password.data)
    if result.ok:
        start_session(result.user, remember=bool(form.remember.data))
        log_event("sign_in", result.user.id, "success")
        return redirect(safe_next(form.next.data) or _landing(result.user))
    if result.outcome == "unconfirmed":
        # Only someone who knows the password gets here: send a fresh confirmation link.
        token = accounts.resend_confirmation(db.session(), result.user)
        if token:
            _mail(result.user.email, "confirm", _("Confirm your email address for kapfinder"),
                  link=external_url("account.confirm", token=token))
        log_event("sign_in", result.user.id, "unconfirmed")
        return render_template("account/check_mail.html", purpose="unconfirmed")
    log_event("sign_in", result.user.id if result.user else None, "failure")
    form.password.errors = [_("That email address and password do not match an account.")]
    return render_template("account/sign_in.html", form=form), 400


@bp.post("/sign-out")
def sign_out():
    form = SignOutForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        user_id = current_user.id
        accounts.sign_out(db.session(), user_id)
        end_session()
        log_event("sign_out", user_id, "success")
    else:
        end_session()
    return redirect(url_for("account.sign_in"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return render_template("account/change_password.html", form=form), 400 if form.is_submitted() else 200
    user_id = current_user.id
    try:
        user = accounts.change_password(db.session(), user_id, form.current_password.data, form.new_password.data)
    except InvalidParameter as err:
        log_event("password_change", user_id, "failure")
        add_error(form, err, "new_password")
        return render_template("account/change_password.html", form=form), 400
    # Every other copy of every cookie is void now; this browser gets a fresh session.
    start_session(user)
    log_event("password_change", user_id, "success")
    _mail(user.email, "password_changed", _("Your kapfinder password was changed"),
          reset=external_url("account.reset_request"))
    return render_template("account/password_changed.html")


@bp.route("/reset", methods=["GET", "POST"])
@throttle.limit(RESET_PER_ADDRESS, get_remote_address, scope="reset")
def reset_request():
    form = ResetRequestForm()
    if not form.validate_on_submit():
        return render_template("account/reset_request.html", form=form), 400 if form.is_submitted() else 200
    user, token = accounts.request_reset(db.session(), form.email.data)
    if token:
        _mail(user.email, "reset", _("Reset your kapfinder password"),
              link=external_url("account.reset_password", token=token))
    log_event("password_reset_request", user.id if user else None, "sent" if token else "no_account")
    return render_template("account/check_mail.html", purpose="reset")


@bp.route("/reset/password", methods=["GET", "POST"])
def reset_password():
    form = ResetPasswordForm()
    if request.method == "GET":
        return _token_form_page(form, "reset", "account/reset_password.html")
    if not form.validate_on_submit():
        return _link_page("account/reset_password.html", 400, form=form)
    try:
        user = accounts.reset_password(db.session(), form.token.data, form.password.data)
    except accounts.InvalidToken:
        log_event("password_reset", None, "invalid_link")
        return _link_page("account/link_invalid.html", 400)
    except InvalidParameter as err:
        add_error(form, err, "password")
        return _link_page("account/reset_password.html", 400, form=form)
    end_session()
    log_event("password_reset", user.id, "success")
    _mail(user.email, "password_changed", _("Your kapfinder password was changed"),
          reset=external_url("account.reset_request"))
    return _link_page("account/password_reset_done.html")
