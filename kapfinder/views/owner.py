"""An owner's pages (/owner): their listings, a new listing, edit, re-confirm.

Thin: parse the form, call one service of ``kapfinder.listings``, render or redirect. Another
owner's listing answers 404, exactly like a listing that does not exist.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import listings
from ..auth import confirmed_required
from ..errors import Conflict, InvalidParameter, NotFound
from ..extensions import db
from ..forms.listing import ListingForm, VersionForm, count_insurance_rows, listing_error_message

bp = Blueprint("owner", __name__, url_prefix="/owner")


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


@bp.get("/")
@confirmed_required
def dashboard():
    rows = listings.owner_listings(_session(), current_user.id)
    return render_template("owner/dashboard.html", rows=rows, reconfirm_form=VersionForm())


@bp.route("/listings/new", methods=["GET", "POST"])
@confirmed_required
def new():
    form = ListingForm(insurance_rows=count_insurance_rows(request.form))
    if request.method == "POST":
        try:
            clinic = listings.create_listing(_session(), current_user.id, form.to_values(request.form), **_geocoder())
        except InvalidParameter as err:
            for one in getattr(err, "errors", [err]):
                form.add_service_error(one)
            return render_template("owner/edit.html", form=form, clinic=None), 400
        flash(_("Thank you. Your listing is waiting for a moderator; we will email you when it is published."))
        return redirect(url_for("owner.listing", clinic_id=clinic.id))
    return render_template("owner/edit.html", form=form, clinic=None)


@bp.get("/listings/<clinic_id>")
@confirmed_required
def listing(clinic_id: str):
    session = _session()
    clinic = listings.owned_listing(session, clinic_id, current_user.id)
    return render_template("owner/listing.html", clinic=clinic,
                           revision=listings.pending_revision(session, clinic.id),
                           reports=listings.open_reports(session, clinic.id),
                           reconfirm_form=VersionForm(version=clinic.version))


@bp.route("/listings/<clinic_id>/edit", methods=["GET", "POST"])
@confirmed_required
def edit(clinic_id: str):
    session = _session()
    clinic = listings.owned_listing(session, clinic_id, current_user.id)
    if request.method == "GET":
        values = listings.form_values(session, clinic)
        form = ListingForm(insurance_rows=len(values["insurance"]), version=clinic.version)
        form.fill(values)
        return render_template("owner/edit.html", form=form, clinic=clinic,
                               revision=listings.pending_revision(session, clinic.id))
    form = ListingForm(insurance_rows=count_insurance_rows(request.form))
    try:
        result = listings.edit_listing(session, clinic.id, current_user.id, _version(request.form.get("version")),
                                       form.to_values(request.form), **_geocoder())
    except Conflict:
        # Nothing was written: show the newer data, with what changed in words.
        clinic = listings.owned_listing(session, clinic_id, current_user.id)
        values = listings.form_values(session, clinic)
        form = ListingForm(formdata=None, insurance_rows=len(values["insurance"]), version=clinic.version)
        form.fill(values)
        return render_template("owner/edit.html", form=form, clinic=clinic, conflict=True,
                               revision=listings.pending_revision(session, clinic.id)), 409
    except InvalidParameter as err:
        for one in getattr(err, "errors", [err]):
            form.add_service_error(one)
        return render_template("owner/edit.html", form=form, clinic=clinic,
                               revision=listings.pending_revision(session, clinic.id)), 400
    if result.pending:
        flash(_("Saved. Changes to %(fields)s wait for a moderator; the rest is published.",
                fields=", ".join(field_label(k) for k in result.pending)))
    else:
        flash(_("Saved and published."))
    return redirect(url_for("owner.listing", clinic_id=clinic.id))


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


def field_label(key: str) -> str:
    return str(FIELD_LABELS.get(key, key))


def _labels() -> dict:
    from flask_babel import lazy_gettext as _l

    return {
        "name": _l("name"), "description": _l("description"), "street": _l("street address"), "city": _l("city"),
        "state": _l("state"), "zip": _l("ZIP code"), "lat": _l("latitude"), "lon": _l("longitude"),
        "phone": _l("phone"), "website": _l("website"), "email": _l("email"), "npi": _l("NPI"),
        "methods": _l("methods"), "settings": _l("settings"), "at_home_states": _l("at-home states"),
        "prescriber_types": _l("prescribers"), "therapist_licenses": _l("therapist licences"),
        "rems_certified": _l("REMS certification"), "vital_signs_monitoring": _l("vital-signs monitoring"),
        "medical_screening": _l("medical screening"), "hours": _l("hours"), "hours_note": _l("notes on hours"),
        "conditions": _l("conditions"), "therapy": _l("care model"), "therapy_extras": _l("extras"),
        "offers_evaluation": _l("evaluation"), "sliding_scale": _l("sliding scale"), "financing": _l("financing"),
        "superbill": _l("superbill"), "hsa_fsa": _l("HSA/FSA"), "accepting_new_patients": _l("accepting new patients"),
        "insurance": _l("insurance"), "prices": _l("prices"), "status": _l("status"), "slug": _l("address of the page"),
        "verified_at": _l("verified"), "confirmed_at": _l("re-confirmed"), "owner_id": _l("owner"),
        "reason": _l("reason"), "revision": _l("proposed changes"), "report": _l("problem report"),
    }


FIELD_LABELS = _labels()


@bp.app_template_filter("field_label")
def _field_label_filter(key: str) -> str:
    return field_label(key)
