"""The listing form an owner fills in (new and edit), and the small moderation and community forms.

One long form in sections, every field of the clinic model. The form renders and re-fills;
``kapfinder.listings.clean_listing`` is the one place that validates, and the view puts each of
its errors next to the field it names (``add_service_error``). Only the fields below are read
from a POST: status, owner, slug, verified_at and the rest can never be set by posting them.
"""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from wtforms import (BooleanField, EmailField, Field, HiddenField, IntegerField, RadioField, SelectField,
                     SelectMultipleField, StringField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from .. import vocab
from ..errors import KapfinderError
from ..listings import DAYS, REPORT_REASONS
from ..messages import error_message

INSURANCE_ROWS_BLANK = 3
DAY_LABELS = {"mo": _l("Monday"), "tu": _l("Tuesday"), "we": _l("Wednesday"), "th": _l("Thursday"),
              "fr": _l("Friday"), "sa": _l("Saturday"), "su": _l("Sunday")}


class MultiCheckboxField(SelectMultipleField):
    """A group of checkboxes; ``render_field`` wraps it in a fieldset with a legend."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):  # unknown values are the service's to refuse, with its message
        pass


class LooseSelectField(SelectField):
    def pre_validate(self, form):
        pass


class LooseRadioField(RadioField):
    def pre_validate(self, form):
        pass


def _blank(label) -> list[tuple[str, Any]]:
    return [("", label)]


def _c(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


class ListingForm(FlaskForm):
    # 1. The clinic
    name = StringField(_l("Clinic name"), render_kw={"maxlength": 200, "autocomplete": "organization"})
    description = TextAreaField(_l("About the clinic"), render_kw={"maxlength": 5000, "rows": 5},
                                description=_l("What a patient should know: your approach, who you treat, what a first visit is like."))
    # 2. Address
    street = StringField(_l("Street address"), render_kw={"maxlength": 200, "autocomplete": "street-address"})
    city = StringField(_l("City"), render_kw={"maxlength": 100, "autocomplete": "address-level2"})
    state = LooseSelectField(_l("State"), choices=_c([("", "—"), *vocab.STATES.choices()]))
    zip = StringField(_l("ZIP code"), render_kw={"inputmode": "numeric", "maxlength": 10,
                                                 "autocomplete": "postal-code"})
    lat = StringField(_l("Latitude"), render_kw={"inputmode": "decimal", "maxlength": 20},
                      description=_l("Leave blank: we place the clinic at its ZIP code. Correct it if the map pin is off."))
    lon = StringField(_l("Longitude"), render_kw={"inputmode": "decimal", "maxlength": 20})
    # 3. Contact and hours
    phone = StringField(_l("Phone"), render_kw={"type": "tel", "autocomplete": "tel", "maxlength": 30})
    website = StringField(_l("Website"), render_kw={"type": "url", "inputmode": "url", "maxlength": 300},
                          description=_l("An http:// or https:// address."))
    email = EmailField(_l("Email for patients"), render_kw={"maxlength": 254})
    hours_note = TextAreaField(_l("Notes on hours"), render_kw={"maxlength": 500, "rows": 2},
                               description=_l("E.g. “Evenings by appointment”."))
    # 4. Treatment
    methods = MultiCheckboxField(_l("Administration methods"), choices=_c(vocab.METHODS.choices()))
    settings = MultiCheckboxField(_l("Settings"), choices=_c(vocab.SETTINGS.choices()))
    at_home_states = MultiCheckboxField(_l("States your at-home programme serves"), choices=_c(vocab.STATES.choices()),
                                        description=_l("Only for an at-home programme."))
    conditions = MultiCheckboxField(_l("Conditions treated"), choices=_c(vocab.CONDITIONS.choices()))
    therapy = LooseRadioField(_l("Care model"), choices=_c(vocab.THERAPY.choices()))
    therapy_extras = MultiCheckboxField(_l("Extras"), choices=_c(vocab.THERAPY_EXTRAS.choices()))
    offers_evaluation = BooleanField(_l("We offer psychiatric evaluation and screening"))
    # 5. Safety
    npi = StringField(_l("NPI number"), render_kw={"inputmode": "numeric", "maxlength": 10},
                      description=_l("The clinic's or prescriber's 10-digit National Provider Identifier."))
    prescriber_types = MultiCheckboxField(_l("Prescribers"), choices=_c(vocab.PRESCRIBER_TYPES.choices()))
    therapist_licenses = MultiCheckboxField(_l("Therapist licences"), choices=_c(vocab.THERAPIST_LICENSES.choices()))
    rems_certified = BooleanField(_l("REMS-certified for Spravato (esketamine)"))
    vital_signs_monitoring = BooleanField(_l("Vital signs are monitored during treatment"))
    medical_screening = BooleanField(_l("Medical screening before treatment"))
    # 6. Availability, prices and insurance
    accepting_new_patients = LooseRadioField(
        _l("Accepting new patients?"),
        choices=_c([("yes", _l("Yes")), ("no", _l("No")), ("unknown", _l("Not saying"))]), default="unknown")
    sliding_scale = BooleanField(_l("Sliding scale"))
    financing = BooleanField(_l("Financing or payment plans"))
    superbill = BooleanField(_l("Superbill for out-of-network reimbursement"))
    hsa_fsa = BooleanField(_l("HSA/FSA cards"))

    version = HiddenField()

    def __init__(self, formdata=_Auto, *, insurance_rows: int = 0, **kwargs):
        super().__init__(formdata=formdata, **kwargs)
        self._submitted = self.meta.wrap_formdata(self, formdata)
        # Fields made per day, per service and per insurance row (a fixed number: no script needed).
        self.hours_fields = []
        for day in DAYS:
            self.hours_fields.append((day, DAY_LABELS[day], self._extra(f"hours-{day}-opens", StringField(
                _l("Opens"), render_kw={"type": "time", "maxlength": 5})), self._extra(
                f"hours-{day}-closes", StringField(_l("Closes"), render_kw={"type": "time", "maxlength": 5}))))
        self.price_fields = []
        for service in vocab.SERVICES.slugs:
            self.price_fields.append((service, vocab.SERVICES.label(service), self._extra(
                f"prices-{service}-min", IntegerField(_l("From $"), validators=[Optional()],
                                                      render_kw={"inputmode": "numeric", "min": 0})), self._extra(
                f"prices-{service}-max", IntegerField(_l("To $"), validators=[Optional()],
                                                      render_kw={"inputmode": "numeric", "min": 0}))))
        self.insurance_fields = []
        for i in range(insurance_rows + INSURANCE_ROWS_BLANK):
            self.insurance_fields.append({
                "carrier": self._extra(f"insurance-{i}-carrier", LooseSelectField(
                    _l("Carrier"), choices=_c(_blank("—") + vocab.CARRIERS.choices()))),
                "service": self._extra(f"insurance-{i}-service", LooseSelectField(
                    _l("Service"), choices=_c(_blank("—") + vocab.SERVICES.choices()))),
                "network": self._extra(f"insurance-{i}-network", LooseSelectField(
                    _l("Network"), choices=_c(_blank("—") + vocab.NETWORKS.choices()))),
                "plan_types": self._extra(f"insurance-{i}-plan_types", MultiCheckboxField(
                    _l("Plan types (none ticked: every plan type)"), choices=_c(vocab.PLAN_TYPES.choices()))),
            })
        self.section_errors: dict[str, list[str]] = {}

    def _extra(self, name: str, unbound: Field) -> Field:
        field = unbound.bind(form=self, name=name, prefix=self._prefix)
        self._fields[name] = field
        field.process(self._submitted)
        return field

    # --- to and from the service's plain values ---------------------------------------------

    def fill(self, values: dict[str, Any]) -> None:
        """Show ``values`` (a snapshot of ``kapfinder.listings``) in the form."""
        for key in ("name", "description", "street", "city", "state", "zip", "phone", "website", "email",
                    "hours_note", "npi", "therapy"):
            self[key].data = values.get(key) or ""
        for key in ("lat", "lon"):
            self[key].data = "" if values.get(key) is None else f"{values[key]:.6f}".rstrip("0").rstrip(".")
        for key in ("methods", "settings", "at_home_states", "conditions", "therapy_extras", "prescriber_types",
                    "therapist_licenses"):
            self[key].data = list(values.get(key) or [])
        for key in ("offers_evaluation", "rems_certified", "vital_signs_monitoring", "medical_screening",
                    "sliding_scale", "financing", "superbill", "hsa_fsa"):
            self[key].data = bool(values.get(key))
        accepting = values.get("accepting_new_patients")
        self.accepting_new_patients.data = "unknown" if accepting is None else ("yes" if accepting else "no")
        hours = {}
        for row in values.get("hours") or []:
            hours.setdefault(row["day"], row)
        for day, _label, opens, closes in self.hours_fields:
            opens.data = hours.get(day, {}).get("opens", "")
            closes.data = hours.get(day, {}).get("closes", "")
        prices = {p["service"]: p for p in values.get("prices") or []}
        for service, _label, low, high in self.price_fields:
            low.data = prices.get(service, {}).get("min_usd")
            high.data = prices.get(service, {}).get("max_usd")
        rows = values.get("insurance") or []
        for fields, row in zip(self.insurance_fields, rows):
            for key in ("carrier", "service", "network", "plan_types"):
                fields[key].data = row[key]

    def to_values(self, formdata) -> dict[str, Any]:
        """The submitted values as ``kapfinder.listings.clean_listing`` reads them (raw strings)."""
        data: dict[str, Any] = {}
        for key in ("name", "description", "street", "city", "state", "zip", "lat", "lon", "phone", "website",
                    "email", "hours_note", "npi", "therapy"):
            data[key] = formdata.get(key, "")
        for key in ("methods", "settings", "at_home_states", "conditions", "therapy_extras", "prescriber_types",
                    "therapist_licenses"):
            data[key] = formdata.getlist(key)
        for key in ("offers_evaluation", "rems_certified", "vital_signs_monitoring", "medical_screening",
                    "sliding_scale", "financing", "superbill", "hsa_fsa"):
            data[key] = formdata.get(key, "")
        accepting = formdata.get("accepting_new_patients", "unknown")
        data["accepting_new_patients"] = {"yes": True, "no": False}.get(accepting)
        data["hours"] = [{"day": day, "opens": formdata.get(f"hours-{day}-opens", ""),
                          "closes": formdata.get(f"hours-{day}-closes", "")} for day in DAYS]
        data["prices"] = [{"service": s, "min_usd": formdata.get(f"prices-{s}-min", ""),
                           "max_usd": formdata.get(f"prices-{s}-max", "")} for s in vocab.SERVICES.slugs]
        data["insurance"] = []
        i = 0
        while f"insurance-{i}-carrier" in formdata and i < 200:
            data["insurance"].append({
                "carrier": formdata.get(f"insurance-{i}-carrier", ""),
                "service": formdata.get(f"insurance-{i}-service", ""),
                "network": formdata.get(f"insurance-{i}-network", ""),
                "plan_types": formdata.getlist(f"insurance-{i}-plan_types")})
            i += 1
        return data

    def add_service_error(self, err: KapfinderError) -> None:
        """Put a core error next to the field (or the section) it names."""
        message = listing_error_message(err)
        name = err.field or ""
        if name.startswith("prices-"):
            target = self._fields.get(f"{name}-min")
        elif name in ("hours", "insurance", "prices"):
            self.section_errors.setdefault(name, []).append(message)
            return
        else:
            target = self._fields.get(name)
        if target is None:
            self.section_errors.setdefault("general", []).append(message)
            return
        target.errors = [*target.errors, message]


def count_insurance_rows(formdata) -> int:
    i = 0
    while f"insurance-{i}-carrier" in formdata and i < 200:
        i += 1
    return max(i - INSURANCE_ROWS_BLANK, 0)


def listing_error_message(err: KapfinderError) -> str:
    """Messages for the reasons the listing services raise; the rest come from ``messages``."""
    p = err.params
    messages = {
        "invalid_npi": _("Enter the 10-digit NPI (it starts with 1 or 2); this number fails the NPI check."),
        "invalid_phone": _("Enter a US phone number, e.g. (512) 555-0100."),
        "invalid_website": _("Enter a web address starting with http:// or https://."),
        "invalid_email": _("Enter an email address like name@example.com."),
        "invalid_zip": _("Enter a 5-digit ZIP code."),
        "unknown_zip": _("We don't know the ZIP code %(zip)s.", zip=p.get("zip", "")),
        "zip_not_in_state": _("ZIP code %(zip)s is not in %(state)s.", zip=p.get("zip", ""), state=p.get("state", "")),
        "price_min_above_max": _("The lowest price must not be more than the highest."),
        "rems_required": _("Spravato (esketamine) can only be listed by a REMS-certified clinic."),
        "at_home_needs_states": _("Tick the states your at-home programme serves."),
        "invalid_hours": _("Give opening and closing times as HH:MM, closing after opening."),
        "invalid_insurance": _("Each insurance row needs a carrier, a service and a network."),
        "lat_and_lon": _("Give both latitude and longitude, or neither."),
        "out_of_range": _("Enter a number from %(min)s to %(max)s.", min=p.get("min"), max=p.get("max")),
        "not_a_number": _("Enter a number."),
        "claim_email_domain": _("Use an address at %(domain)s, the clinic's website.", domain=p.get("domain", "")),
        "claim_needs_moderator": _("The listing has no website to check an address against: ask a moderator instead."),
        "already_claimed": _("This listing already has an owner."),
        "already_decided": _("Someone already decided this."),
        "not_published": _("Only a published listing can be re-confirmed."),
        "invalid_link": _("This link is not valid any more."),
    }
    return messages.get(err.reason) or error_message(err)


class VersionForm(FlaskForm):
    """One-click actions on a listing (re-confirm): the version the owner saw."""

    version = HiddenField()


class DecisionForm(FlaskForm):
    """Approve or reject; a rejection needs a reason, which is mailed to the owner."""

    reason = TextAreaField(_l("Reason (mailed to the owner; required to reject)"),
                           render_kw={"maxlength": 2000, "rows": 3})


class ClaimForm(FlaskForm):
    method = LooseRadioField(_l("How can we check it is your clinic?"), choices=_c([
        ("email", _l("Send a link to my address at the clinic's website domain")),
        ("moderator", _l("Ask a moderator to check"))]), default="email")
    email = EmailField(_l("Your email address at the clinic"), render_kw={"maxlength": 254})
    note = TextAreaField(_l("For the moderator: how can we confirm you run this clinic?"),
                         render_kw={"maxlength": 2000, "rows": 3},
                         description=_l("E.g. your role and a phone number listed on the clinic's website."))


class ConfirmClaimForm(FlaskForm):
    token = HiddenField()


class ReportForm(FlaskForm):
    reason = LooseRadioField(_l("What is wrong?"), choices=_c(REPORT_REASONS.choices()))
    note = TextAreaField(_l("Anything else? (optional)"), render_kw={"maxlength": 2000, "rows": 3},
                         description=_l("Please don't include health information about yourself."))
