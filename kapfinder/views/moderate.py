"""Moderators' pages (/moderate): the queue, a listing with everything waiting on it and its audit
log, and the decisions. Rejections carry a reason that is mailed to the owner (or claimant)."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import language, listings
from ..auth import external_url, log_event, moderator_required
from ..errors import Conflict, InvalidParameter, NotFound
from ..extensions import db
from ..forms.listing import DecisionForm, listing_error_message
from ..mail import notify
from ..models import Claim, Clinic, ListingRevision, ProblemReport, User

bp = Blueprint("moderate", __name__, url_prefix="/moderate")


@bp.before_request
@moderator_required
def _moderators_only():
    return None


def _session():
    return db.session()


def mail_user(user_id: int | None, template: str, subject: str, **context) -> None:
    """Mail an account, if there is one; a mail failure never undoes a decision."""
    if user_id is None:
        return
    user = _session().get(User, user_id)
    if user is None or not user.active:
        return
    notify(current_app.config, user.email, subject, render_template(template, **context), label=template)


@bp.get("/")
def queue():
    return render_template("moderate/queue.html", items=listings.moderation_queue(_session()))


@bp.get("/listings/<clinic_id>")
def listing(clinic_id: str):
    return _listing_page(clinic_id)


def _listing_page(clinic_id: str, *, changed: str | None = None, kept_reason: str = "", status: int = 200):
    """The listing with everything waiting on it. ``changed`` ("listing" or "revision") says that a
    decision was refused because it changed since the moderator opened the page: the page then shows
    the new changes, with the reason they had typed kept."""
    session = _session()
    session.expire_all()  # a refused decision shows what is stored now, not what this request read
    clinic = session.get(Clinic, clinic_id)
    if clinic is None:
        raise NotFound("listing", "not_found")
    return render_template(
        "moderate/listing.html", clinic=clinic, values=listings.snapshot(clinic),
        revision=listings.pending_revision(session, clinic.id),
        claims=listings.moderator_claims(session, clinic.id),
        reports=listings.open_reports(session, clinic.id),
        trail=listings.audit_trail(session, clinic.id),
        owner=session.get(User, clinic.owner_id) if clinic.owner_id else None,
        fields=listings.FIELDS, form=DecisionForm(), changed=changed, kept_reason=kept_reason), status


def _seen_version(form: DecisionForm) -> int:
    """The version the moderator's page showed; a form without one proves nothing was seen."""
    try:
        return int(form.version.data or "")
    except ValueError:
        raise Conflict("version", "changed_since_seen") from None


def _decide(clinic_id: str, action, *, outcome: str, mail: tuple[str, str] | None = None, needs_reason=False,
            versioned: str | None = None):
    """Run one decision, log it, mail the person it concerns, and go back to the queue.

    ``versioned`` ("listing" or "revision"): the action takes the version the moderator saw, and a
    change since answers 409 with the page showing the new changes.
    """
    form = DecisionForm()
    reason = (form.reason.data or "").strip()
    try:
        args = ([reason] if needs_reason else []) + ([_seen_version(form)] if versioned else [])
        obj = action(*args)
    except InvalidParameter as err:
        flash(listing_error_message(err) if err.field != "reason" else _("Give a reason: it is mailed to the owner."))
        return redirect(url_for("moderate.listing", clinic_id=clinic_id))
    except Conflict as err:
        if versioned and err.reason == "changed_since_seen":
            log_event("moderation", current_user.id, "changed_since_seen", path=request.path)
            return _listing_page(clinic_id, changed=versioned, kept_reason=reason, status=409)
        flash(listing_error_message(err))
        return redirect(url_for("moderate.listing", clinic_id=clinic_id))
    log_event("moderation", current_user.id, outcome, path=request.path)
    clinic = _session().get(Clinic, clinic_id)
    if mail is not None:
        recipient = obj.user_id if isinstance(obj, Claim) else clinic.owner_id
        with language.speaking():  # the owner's mail is in English, whatever the moderator reads
            mail_user(recipient, mail[0], str(mail[1]), clinic=clinic, reason=reason,
                      link=external_url("owner.listing", clinic_id=clinic.id),
                      public_link=external_url("directory.clinic", slug=clinic.slug) if clinic.slug else None)
    flash(_("Done."))
    return redirect(url_for("moderate.queue"))


@bp.post("/listings/<clinic_id>/approve")
def approve_listing(clinic_id: str):
    return _decide(clinic_id, lambda version: listings.approve_listing(
                       _session(), clinic_id, current_user.id, expected_version=version),
                   outcome="listing_approved", versioned="listing",
                   mail=("moderate/mail/listing_approved.txt", _l("Your listing is published")))


@bp.post("/listings/<clinic_id>/reject")
def reject_listing(clinic_id: str):
    return _decide(clinic_id, lambda reason, version: listings.reject_listing(
                       _session(), clinic_id, current_user.id, reason, expected_version=version),
                   outcome="listing_rejected", needs_reason=True, versioned="listing",
                   mail=("moderate/mail/listing_rejected.txt", _l("Your listing was not published")))


def _clinic_of(model: type[ListingRevision | Claim | ProblemReport], object_id: int, kind: str) -> str:
    """The listing a revision, claim or report belongs to (the page a decision returns to)."""
    item = _session().get(model, object_id)
    if item is None:
        raise NotFound(kind, "not_found")
    return item.clinic_id


@bp.post("/revisions/<int:revision_id>/approve")
def approve_revision(revision_id: int):
    return _decide(_clinic_of(ListingRevision, revision_id, "revision"),
                   lambda version: listings.approve_revision(_session(), revision_id, current_user.id,
                                                             expected_version=version),
                   outcome="revision_approved", versioned="revision",
                   mail=("moderate/mail/revision_approved.txt", _l("Your changes are published")))


@bp.post("/revisions/<int:revision_id>/reject")
def reject_revision(revision_id: int):
    return _decide(_clinic_of(ListingRevision, revision_id, "revision"),
                   lambda reason, version: listings.reject_revision(_session(), revision_id, current_user.id, reason,
                                                                    expected_version=version),
                   outcome="revision_rejected", needs_reason=True, versioned="revision",
                   mail=("moderate/mail/revision_rejected.txt", _l("Your changes were not published")))


@bp.post("/claims/<int:claim_id>/approve")
def approve_claim(claim_id: int):
    return _decide(_clinic_of(Claim, claim_id, "claim"),
                   lambda: listings.approve_claim(_session(), claim_id, current_user.id),
                   outcome="claim_approved", mail=("moderate/mail/claim_approved.txt", _l("Your claim was approved")))


@bp.post("/claims/<int:claim_id>/reject")
def reject_claim(claim_id: int):
    return _decide(_clinic_of(Claim, claim_id, "claim"),
                   lambda reason: listings.reject_claim(_session(), claim_id, current_user.id, reason),
                   outcome="claim_rejected", needs_reason=True,
                   mail=("moderate/mail/claim_rejected.txt", _l("Your claim was not approved")))


@bp.post("/reports/<int:report_id>/resolve")
def resolve_report(report_id: int):
    return _decide(_clinic_of(ProblemReport, report_id, "report"),
                   lambda reason: listings.resolve_report(_session(), report_id, current_user.id, resolution=reason),
                   outcome="report_resolved", needs_reason=True)


@bp.post("/reports/<int:report_id>/dismiss")
def dismiss_report(report_id: int):
    return _decide(_clinic_of(ProblemReport, report_id, "report"),
                   lambda reason: listings.resolve_report(_session(), report_id, current_user.id, dismiss=True,
                                                          resolution=reason),
                   outcome="report_dismissed", needs_reason=True)
