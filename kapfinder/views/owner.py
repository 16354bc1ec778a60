"""An owner's pages (/owner): their listings, a new listing and edits step by step, re-confirm.

Thin: parse the step's fields, call ``kapfinder.drafts`` (which calls ``kapfinder.listings``),
render or redirect. Another owner's listing or draft answers 404, exactly like one that does not
exist. Every step is its own page and works without JavaScript; each Save stores the draft.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import listings
from ..listings import drafts
from ..auth import confirmed_required
from ..errors import Conflict, InvalidParameter, NotFound
from ..extensions import db
from .listing_words import field_label
from ..forms.listing import STEP_TITLES, ListingForm, VersionForm, apply_row_action, listing_error_message, \
    parse_step, review_sections
from ..models import Status

bp = Blueprint("owner", __name__, url_prefix="/owner")
STEP = "<any(basics, care, prices, safety, review):step>"


def _session():
    return db.session()


def _geocoder() -> dict:
    return {"geocoder": current_app.config.get("GEOCODER") or "offline",
            "user_agent": current_app.config.get("NOMINATIM_USER_AGENT")}


def _version(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        raise Conflict("version", "conflict") from None


def _seen_version(raw: str | None) -> int | None:
    try:
        return int(raw or "")
    except ValueError:
        return None


@bp.get("/")
@confirmed_required
def dashboard():
    session = _session()
    rows = listings.owner_listings(session, current_user.id)
    saved = drafts.owner_drafts(session, current_user.id)
    return render_template("owner/dashboard.html", rows=rows, reconfirm_form=VersionForm(),
                           new_draft=next((d for d in saved if d.clinic_id is None), None),
                           edit_drafts={d.clinic_id: d for d in saved if d.clinic_id is not None})


@bp.get("/listings/new")
@confirmed_required
def new():
    working = drafts.working_copy(_session(), current_user.id)
    return redirect(url_for("owner.new_step", step=working.step))


@bp.route(f"/listings/new/{STEP}", methods=["GET", "POST"])
@confirmed_required
def new_step(step: str):
    return _step(None, step)


@bp.post("/listings/new/discard")
@confirmed_required
def discard_new():
    if drafts.discard(_session(), current_user.id):
        flash(_("Your draft was discarded."))
    return redirect(url_for("owner.dashboard"))


@bp.get("/listings/<clinic_id>")
@confirmed_required
def listing(clinic_id: str):
    session = _session()
    clinic = listings.owned_listing(session, clinic_id, current_user.id)
    return render_template("owner/listing.html", clinic=clinic,
                           revision=listings.pending_revision(session, clinic.id),
                           draft=drafts.find_draft(session, current_user.id, clinic.id),
                           reports=listings.open_reports(session, clinic.id),
                           reconfirm_form=VersionForm(version=clinic.version))


@bp.get("/listings/<clinic_id>/edit")
@confirmed_required
def edit(clinic_id: str):
    working = drafts.working_copy(_session(), current_user.id, clinic_id)
    return redirect(url_for("owner.edit_step", clinic_id=clinic_id, step=working.step))


@bp.route(f"/listings/<clinic_id>/edit/{STEP}", methods=["GET", "POST"])
@confirmed_required
def edit_step(clinic_id: str, step: str):
    return _step(clinic_id, step)


@bp.post("/listings/<clinic_id>/edit/discard")
@confirmed_required
def discard_edit(clinic_id: str):
    if drafts.discard(_session(), current_user.id, clinic_id):
        flash(_("Your draft was discarded; the listing is as it was."))
    return redirect(url_for("owner.dashboard"))


@bp.post("/listings/<clinic_id>/edit/update")
@confirmed_required
def update_draft(clinic_id: str):
    """Put the owner's changes on top of the listing as it is now (after "this listing changed")."""
    rebased = drafts.rebase(_session(), current_user.id, clinic_id)
    if rebased.replaced:
        flash(_("Your draft now starts from the listing as it is now. Your changes to %(fields)s replace "
                "newer ones: check them before you save.", fields=_labels_of(rebased.replaced)))
    else:
        flash(_("Your draft now starts from the listing as it is now, with your changes kept. Check it, then save."))
    return redirect(url_for("owner.edit_step", clinic_id=clinic_id, step="review"))


# --- one step --------------------------------------------------------------------------------------

def _step_url(clinic_id: str | None, step: str) -> str:
    if clinic_id is None:
        return url_for("owner.new_step", step=step)
    return url_for("owner.edit_step", clinic_id=clinic_id, step=step)


def _step(clinic_id: str | None, step: str):
    session = _session()
    owner_id = current_user.id
    working = drafts.working_copy(session, owner_id, clinic_id)  # NotFound for anyone else's
    if request.method == "GET":
        found = drafts.errors(session, working.values) if step == "review" else []
        return _render(working, step, found)

    action = request.form.get("action", "next")
    submitted = parse_step(step, request.form)
    if step == "review" and not (submitted["lat"].strip() or submitted["lon"].strip()):
        # Both left empty: no correction, the address places the listing.
        submitted["lat"], submitted["lon"] = (working.base["lat"], working.base["lon"]) if working.base else ("", "")
    anchor = apply_row_action(submitted, action)
    merged = drafts.merge(working.values, working.base, step, submitted)
    found = drafts.errors(session, merged, step)
    target = _target(step, action, anchor)
    continue_at = drafts.next_step(step) if action == "next" and not found else target
    try:
        working = drafts.save_step(session, owner_id, clinic_id, step, submitted,
                                   seen_version=_seen_version(request.form.get("version")), continue_at=continue_at)
    except Conflict:
        # Nothing was stored: show the step as it is now.
        working = drafts.working_copy(session, owner_id, clinic_id)
        return _render(working, step, [], conflict=True), 409

    if action == "later":
        flash(_("Your draft is saved. Continue it from your listings whenever you like."))
        return redirect(url_for("owner.dashboard"))
    if anchor is not None:
        return redirect(_step_url(clinic_id, step) + "#" + anchor, code=303)
    if action != "next":
        return redirect(_step_url(clinic_id, target), code=303)
    if step == "review":
        return _submit(working, clinic_id)  # checks every step's fields
    if found:
        return _render(working, step, found), 400
    return redirect(_step_url(clinic_id, drafts.next_step(step)), code=303)


def _target(step: str, action: str, anchor: str | None) -> str:
    if anchor is not None or action in ("next", "later"):
        return step
    if action == "back":
        return drafts.previous_step(step)
    goto = action.removeprefix("goto-")
    return goto if goto in drafts.STEPS else step


def _submit(working: drafts.Working, clinic_id: str | None):
    session = _session()
    try:
        result = drafts.submit(session, current_user.id, clinic_id,
                               seen_version=_seen_version(request.form.get("version")), **_geocoder())
    except Conflict:
        working = drafts.working_copy(session, current_user.id, clinic_id)
        return _render(working, "review", drafts.errors(session, working.values), conflict=True), 409
    except InvalidParameter as err:
        return _render(working, "review", list(getattr(err, "errors", [err]))), 400
    if clinic_id is None:
        flash(_("Thank you. Your listing is waiting for a moderator; we will email you when it is published."))
        return redirect(url_for("owner.listing", clinic_id=result.id))
    if result.pending:
        flash(_("Saved. Changes to %(fields)s wait for a moderator; the rest is published.",
                fields=_labels_of(result.pending)))
    else:
        flash(_("Saved and published."))
    return redirect(url_for("owner.listing", clinic_id=clinic_id))


def _labels_of(keys) -> str:
    return ", ".join(field_label(k) for k in keys)


def _render(working: drafts.Working, step: str, found: list, *, conflict: bool = False):
    session = _session()
    clinic_id = working.clinic.id if working.clinic is not None else None
    values = dict(working.values)
    corrected = drafts.has_correction(values, working.base)
    if not corrected:  # the correction fields show only a correction, never the placed position
        values["lat"] = values["lon"] = ""
    form = ListingForm(values, version=working.version)
    found = sorted(found, key=lambda err: drafts.STEPS.index(drafts.step_of(err.field)))  # in step order
    here = [e for e in found if drafts.step_of(e.field) == step]
    for err in here:
        form.add_service_error(err)
    summary = form.error_items(found, href=lambda err: "" if drafts.step_of(err.field) == step
                               else _step_url(clinic_id, drafts.step_of(err.field)))
    number = drafts.STEPS.index(step) + 1
    context = dict(
        form=form, step=step, number=number, total=len(drafts.STEPS), title=STEP_TITLES[step],
        steps=[{"slug": s, "number": i + 1, "title": STEP_TITLES[s], "current": s == step}
               for i, s in enumerate(drafts.STEPS)],
        action_url=_step_url(clinic_id, step), clinic=working.clinic, draft=working.draft, conflict=conflict,
        summary=summary, general=form.section_errors.get("general", []),
        behind=working.behind, changed=_labels_of(drafts.changed_since(session, working)) if working.behind else "",
        moderated=_labels_of(k for k in drafts.STEP_FIELDS[step] if k in listings.MODERATED_FIELDS)
        if working.clinic is not None and working.clinic.status == Status.PUBLISHED else "",
        revision=listings.pending_revision(session, clinic_id) if clinic_id else None,
        discard_url=url_for("owner.discard_edit", clinic_id=clinic_id) if clinic_id else url_for("owner.discard_new"),
        discard_form=VersionForm(),
    )
    if step == "review":
        context.update(
            sections=review_sections(form, working.values),
            steps_with_errors={drafts.step_of(e.field) for e in found},
            step_urls={s: _step_url(clinic_id, s) for s in drafts.STEPS},
            placement=drafts.preview_placement(session, working.values, working.base, **_placement_args()),
            corrected=corrected,
        )
    return render_template("owner/step.html", **context)


def _placement_args() -> dict:
    return {"geocoder": current_app.config.get("GEOCODER") or "offline"}


@bp.post("/listings/<clinic_id>/reconfirm")
@confirmed_required
def reconfirm(clinic_id: str):
    session = _session()
    try:
        listings.reconfirm(session, clinic_id, current_user.id, _version(request.form.get("version")))
    except Conflict as err:
        if err.reason == "conflict":
            flash(_("This listing changed since you opened it. Check it below, then confirm again."))
        else:
            flash(listing_error_message(err))
        return redirect(url_for("owner.listing", clinic_id=clinic_id))
    except NotFound:
        raise
    flash(_("Thank you. The listing is marked as confirmed today."))
    return redirect(request.form.get("back") == "dashboard" and url_for("owner.dashboard")
                    or url_for("owner.listing", clinic_id=clinic_id))
