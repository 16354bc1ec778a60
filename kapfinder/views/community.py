"""Public actions on a listing: claim it (owners), report a problem (anyone, anonymously)."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user

from .. import language, listings, vocab_words
from ..accounts import InvalidToken
from ..auth import confirmed_required, external_url, log_event
from ..errors import Conflict, InvalidParameter, NotFound
from ..extensions import db, limiter
from ..forms.listing import ClaimForm, ConfirmClaimForm, ReportForm, listing_error_message
from ..mail import notify
from ..web import link_to
from ..models import Clinic, User

bp = Blueprint("community", __name__)

REPORTS_PER_ADDRESS = "5/hour"


def _session():
    return db.session()


def _published(slug: str) -> Clinic:
    clinic = listings.published_clinic(_session(), slug)
    if clinic is None:
        raise NotFound("listing", "not_found")
    return clinic


def _mail(to: str, template: str, subject: str, **context) -> None:
    notify(current_app.config, to, subject, render_template(template, **context), label=template)


def _no_referrer(response):
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# --- claims ---------------------------------------------------------------------------------------

@bp.route("/clinics/<slug>/claim", methods=["GET", "POST"])
@confirmed_required
def claim(slug: str):
    clinic = _published(slug)
    form = ClaimForm()
    if clinic.owner_id is not None:
        status = 409 if request.method == "POST" else 200
        return render_template("community/claim.html", clinic=clinic, form=form, owned=True), status
    if request.method == "GET":
        return render_template("community/claim.html", clinic=clinic, form=form,
                               domain=listings.website_host(clinic.website))
    by_email = form.method.data != "moderator"
    try:
        claim_row, token = listings.start_claim(
            _session(), slug, current_user.id, email=(form.email.data or "") if by_email else None,
            note="" if by_email else (form.note.data or ""))
    except InvalidParameter as err:
        field = form.email if err.field == "email" else form.note
        if by_email and err.field == "note":  # no address given at all
            field, err = form.email, InvalidParameter("email", "required")
        field.errors = [*field.errors, listing_error_message(err)]
        return render_template("community/claim.html", clinic=clinic, form=form,
                               domain=listings.website_host(clinic.website)), 400
    except Conflict:
        return render_template("community/claim.html", clinic=clinic, form=form, owned=True), 409
    log_event("claim_requested", current_user.id, claim_row.method, path=request.path)
    if token:
        _mail(claim_row.email, "community/mail/claim_link.txt", _("Confirm that you run %(name)s", name=clinic.name),
              clinic=clinic, link=external_url("community.confirm_claim_page", slug=slug, token=token))
    return render_template("community/claim_sent.html", clinic=clinic, claim=claim_row)


@bp.get("/clinics/<slug>/claim/confirm")
def confirm_claim_page(slug: str):
    """The mailed link's landing page; a button (POST) uses the link up, so a mail scanner cannot."""
    form = ConfirmClaimForm(token=request.args.get("token", ""))
    here = url_for("community.confirm_claim_page", slug=slug, token=form.token.data)
    return _no_referrer(current_app.make_response(render_template(
        "community/claim_confirm.html", form=form, slug=slug, here=here)))


@bp.post("/clinics/<slug>/claim/confirm")
@confirmed_required
def confirm_claim(slug: str):
    form = ConfirmClaimForm()
    token = form.token.data or ""
    try:
        listings.confirm_claim(_session(), slug, token, current_user.id)
    except (InvalidToken, NotFound):
        response = current_app.make_response((render_template("community/claim_invalid.html"), 400))
        return _no_referrer(response)
    except Conflict:
        response = current_app.make_response((render_template("community/claim_invalid.html", owned=True), 409))
        return _no_referrer(response)
    log_event("claim_confirmed", current_user.id, "ok", path=request.path)
    flash(_("The listing is yours now. Check it and keep it up to date."))
    clinic = _published(slug)
    landing = link_to("owner.listing", clinic_id=clinic.id) or link_to("directory.clinic", slug=clinic.slug) or "/"
    return _no_referrer(redirect(landing))


# --- problem reports ------------------------------------------------------------------------------

@bp.route("/clinics/<slug>/report", methods=["GET", "POST"])
@limiter.limit(REPORTS_PER_ADDRESS, key_func=get_remote_address, methods=["POST"])
def report(slug: str):
    clinic = _published(slug)
    form = ReportForm()
    if request.method == "GET":
        return render_template("community/report.html", clinic=clinic, form=form)
    try:
        listings.report_problem(_session(), slug, form.reason.data or "", form.note.data or "")
    except InvalidParameter as err:
        field = form.note if err.field == "note" else form.reason
        message = _("Choose what is wrong.") if err.field == "reason" else listing_error_message(err)
        field.errors = [*field.errors, message]
        return render_template("community/report.html", clinic=clinic, form=form), 400
    if clinic.owner_id is not None:
        owner = _session().get(User, clinic.owner_id)
        if owner is not None and owner.active:
            with language.speaking():  # to the owner, in English, whatever the reporter reads
                _mail(owner.email, "community/mail/report_owner.txt",
                      _("A problem was reported on your listing %(name)s", name=clinic.name),
                      clinic=clinic, reason=vocab_words.label(listings.REPORT_REASONS, form.reason.data),
                      note=form.note.data or "", link=external_url("owner.listing", clinic_id=clinic.id))
    return render_template("community/report_sent.html", clinic=clinic)
