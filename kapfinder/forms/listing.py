"""The listing form an owner fills in step by step (new and edit), and the small moderation and
community forms.

The form renders and re-fills; ``kapfinder.listings.clean_listing`` is the one place that validates
(``kapfinder.drafts`` runs it per step), and the view puts each of its errors next to the field it
names (``add_service_error``). A step's POST is read with ``parse_step``: only that step's fields,
so status, owner, slug, verified_at and the rest can never be set by posting them.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import (BooleanField, EmailField, Field, HiddenField, IntegerField, RadioField, SelectField,
                     SelectMultipleField, StringField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from .. import vocab, vocab_words
from ..listings import drafts
from ..errors import KapfinderError
from ..listings import DAYS, REPORT_REASONS
from ..messages import error_message

DAY_LABELS = {"mo": _l("Monday"), "tu": _l("Tuesday"), "we": _l("Wednesday"), "th": _l("Thursday"),
              "fr": _l("Friday"), "sa": _l("Saturday"), "su": _l("Sunday")}
STEP_TITLES = {"basics": _l("Basics and address"), "care": _l("Methods and care"),
               "prices": _l("Insurance and prices"), "safety": _l("Safety and hours"),
               "review": _l("Review and submit")}
#: Fields shown as a group of checkboxes or radio buttons: their errors link to the fieldset.
GROUP_FIELDS = set(drafts.LIST_FIELDS) | {"therapy", "accepting_new_patients"}
SECTION_LABELS = {"hours": _l("Opening hours"), "insurance": _l("Insurance"), "prices": _l("Self-pay prices")}


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


TEXT_FIELDS = drafts.TEXT_FIELDS
ACCEPTING = {True: "yes", False: "no", None: "unknown"}


class ListingForm(FlaskForm):
    """Every field of a listing, shown a step at a time, filled from form values (``kapfinder.drafts``)."""

    # Basics and address
    name = StringField(_l("Clinic name"), render_kw={"maxlength": 200, "autocomplete": "organization"})
    description = TextAreaField(_l("About the clinic"), render_kw={"maxlength": 5000, "rows": 5},
                                description=_l("What a patient should know: your approach, who you treat, what a first visit is like."))
    street = StringField(_l("Street address"), render_kw={"maxlength": 200, "autocomplete": "address-line1"})
    city = StringField(_l("City"), render_kw={"maxlength": 100, "autocomplete": "address-level2"})
    state = LooseSelectField(_l("State"), choices=_c([("", "—"), *vocab_words.lazy_choices(vocab.STATES)]))
    zip = StringField(_l("ZIP code"), render_kw={"inputmode": "numeric", "maxlength": 10,
                                                 "autocomplete": "postal-code"})
    phone = StringField(_l("Phone"), render_kw={"type": "tel", "autocomplete": "tel", "maxlength": 30})
    website = StringField(_l("Website"), render_kw={"type": "url", "inputmode": "url", "maxlength": 300},
                          description=_l("An http:// or https:// address."))
    email = EmailField(_l("Email for patients"), render_kw={"maxlength": 254})
    # Methods and care
    methods = MultiCheckboxField(_l("Administration methods"), choices=_c(vocab_words.lazy_choices(vocab.METHODS)))
    settings = MultiCheckboxField(_l("Settings"), choices=_c(vocab_words.lazy_choices(vocab.SETTINGS)))
    at_home_states = MultiCheckboxField(_l("States your at-home programme serves"), choices=_c(vocab_words.lazy_choices(vocab.STATES)),
                                        description=_l("Only for an at-home programme."))
    conditions = MultiCheckboxField(_l("Conditions treated"), choices=_c(vocab_words.lazy_choices(vocab.CONDITIONS)))
    therapy = LooseRadioField(_l("Care model"), choices=_c(vocab_words.lazy_choices(vocab.THERAPY)))
    therapy_extras = MultiCheckboxField(_l("Extras"), choices=_c(vocab_words.lazy_choices(vocab.THERAPY_EXTRAS)))
    offers_evaluation = BooleanField(_l("We offer psychiatric evaluation and screening"))
    accepting_new_patients = LooseRadioField(
        _l("Accepting new patients?"),
        choices=_c([("yes", _l("Yes")), ("no", _l("No")), ("unknown", _l("Not saying"))]), default="unknown")
    languages = MultiCheckboxField(
        _l("Languages your staff offer care in"), choices=_c(vocab_words.lazy_choices(vocab.LANGUAGES)),
        description=_l("Only languages a patient can be seen in without an interpreter. Tick English too if you "
                       "offer it: nothing is assumed."))
    interpreter_services = BooleanField(_l("We offer interpreter services (e.g. phone interpreters, ASL)"))
    interpreter_languages = MultiCheckboxField(_l("Languages our interpreter services cover"),
                                               choices=_c(vocab_words.lazy_choices(vocab.LANGUAGES)))
    # Insurance and prices
    sliding_scale = BooleanField(_l("Sliding scale"))
    financing = BooleanField(_l("Financing or payment plans"))
    superbill = BooleanField(_l("Superbill for out-of-network reimbursement"))
    hsa_fsa = BooleanField(_l("HSA/FSA cards"))
    # Safety and hours
    npi = StringField(_l("NPI number"), render_kw={"inputmode": "numeric", "maxlength": 10},
                      description=_l("The clinic's or prescriber's 10-digit National Provider Identifier."))
    prescriber_types = MultiCheckboxField(_l("Prescribers"), choices=_c(vocab_words.lazy_choices(vocab.PRESCRIBER_TYPES)))
    therapist_licenses = MultiCheckboxField(_l("Therapist licences"), choices=_c(vocab_words.lazy_choices(vocab.THERAPIST_LICENSES)))
    rems_certified = BooleanField(_l("REMS-certified for Spravato (esketamine)"))
    vital_signs_monitoring = BooleanField(_l("Vital signs are monitored during treatment"))
    medical_screening = BooleanField(_l("Medical screening before treatment"))
    hours_note = TextAreaField(_l("Notes on hours"), render_kw={"maxlength": 500, "rows": 2},
                               description=_l("E.g. “Evenings by appointment”."))
    # Review: an optional correction of the position placed from the address
    lat = StringField(_l("Latitude"), render_kw={"inputmode": "decimal", "maxlength": 20},
                      description=_l("Decimal degrees, e.g. 30.26715."))
    lon = StringField(_l("Longitude"), render_kw={"inputmode": "decimal", "maxlength": 20},
                      description=_l("Decimal degrees, e.g. -97.74306."))

    version = HiddenField()

    def __init__(self, values: Mapping[str, Any] | None = None, *, version: int | None = None, **kwargs):
        values = drafts.normalise(values)
        formdata = formdata_for(values)
        if version is not None:
            formdata["version"] = str(version)
        super().__init__(formdata=formdata, **kwargs)
        self._submitted = formdata
        self.hours_fields = []
        for day in DAYS:
            self.hours_fields.append((day, DAY_LABELS[day], self._extra(f"hours-{day}-opens", StringField(
                _l("Opens"), render_kw={"type": "time", "maxlength": 5})), self._extra(
                f"hours-{day}-closes", StringField(_l("Closes"), render_kw={"type": "time", "maxlength": 5}))))
        self.extra_hours_fields = []
        for i in range(len(values["hours"]) - len(DAYS)):
            self.extra_hours_fields.append({
                "index": i,
                "day": self._extra(f"hours-x{i}-day", LooseSelectField(
                    _l("Day"), choices=_c(_blank("—") + [(d, DAY_LABELS[d]) for d in DAYS]))),
                "opens": self._extra(f"hours-x{i}-opens", StringField(
                    _l("Opens"), render_kw={"type": "time", "maxlength": 5})),
                "closes": self._extra(f"hours-x{i}-closes", StringField(
                    _l("Closes"), render_kw={"type": "time", "maxlength": 5})),
            })
        self.price_fields = []
        for service in vocab.SERVICES.slugs:
            self.price_fields.append((service, vocab_words.label(vocab.SERVICES, service), self._extra(
                f"prices-{service}-min", IntegerField(_l("From $"), render_kw={"inputmode": "numeric", "min": 0})),
                self._extra(f"prices-{service}-max", IntegerField(_l("To $"), render_kw={"inputmode": "numeric",
                                                                                         "min": 0}))))
        self.insurance_fields = []
        for i, row in enumerate(values["insurance"]):
            self.insurance_fields.append({
                "index": i,
                "plan_types_chosen": bool(row["plan_types"]),
                "carrier": self._extra(f"insurance-{i}-carrier", LooseSelectField(
                    _l("Carrier"), choices=_c(_blank("—") + vocab_words.lazy_choices(vocab.CARRIERS)))),
                "service": self._extra(f"insurance-{i}-service", LooseSelectField(
                    _l("Service"), choices=_c(_blank("—") + vocab_words.lazy_choices(vocab.SERVICES)))),
                "network": self._extra(f"insurance-{i}-network", LooseSelectField(
                    _l("Network"), choices=_c(_blank("—") + vocab_words.lazy_choices(vocab.NETWORKS)))),
                "plan_types": self._extra(f"insurance-{i}-plan_types", MultiCheckboxField(
                    _l("Plan types"), choices=_c(vocab_words.lazy_choices(vocab.PLAN_TYPES)))),
            })
        self.section_errors: dict[str, list[str]] = {}

    def _extra(self, name: str, unbound: Field) -> Field:
        field = unbound.bind(form=self, name=name, prefix=self._prefix)
        self._fields[name] = field
        field.process(self._submitted)
        return field

    def add_service_error(self, err: KapfinderError) -> None:
        """Put a core error next to the field (or the section) it names."""
        message = listing_error_message(err)
        name = err.field or ""
        if name == "hours" and err.params.get("day") in DAY_LABELS:
            message = f"{DAY_LABELS[err.params['day']]}: {message}"
        if name.startswith("prices-"):
            target = self._fields.get(f"{name}-min")
        elif name in SECTION_LABELS:
            self.section_errors.setdefault(name, []).append(message)
            return
        else:
            target = self._fields.get(name)
        if target is None:
            self.section_errors.setdefault("general", []).append(message)
            return
        target.errors = [*target.errors, message]

    def error_label(self, name: str | None) -> str:
        """How the error summary names the field an error is about."""
        name = name or ""
        if name.startswith("prices-"):
            service = name.removeprefix("prices-")
            return _("Price for %(service)s", service=vocab_words.label(vocab.SERVICES, service)) if service in vocab.SERVICES \
                else str(SECTION_LABELS["prices"])
        if name in SECTION_LABELS:
            return str(SECTION_LABELS[name])
        field = self._fields.get(name)
        return str(field.label.text) if field is not None else ""

    def error_items(self, errors, href=lambda err: "") -> list[tuple[str, str]]:
        """(link, text) for each error, for the error summary; ``href(err)`` is the page the field is on."""
        items = []
        for err in errors:
            message = listing_error_message(err)
            if err.field == "hours" and err.params.get("day") in DAY_LABELS:
                message = f"{DAY_LABELS[err.params['day']]}: {message}"
            label = self.error_label(err.field)
            anchor = error_anchor(err.field)
            items.append((f"{href(err)}#{anchor}" if anchor else "", f"{label}: {message}" if label else message))
        return items


def error_anchor(name: str | None) -> str:
    """The id on the step page an error about ``name`` links to (a group's fieldset, else the control)."""
    if not name:
        return ""
    if name.startswith("prices-"):
        return f"{name}-min"
    if name in SECTION_LABELS or name in GROUP_FIELDS:
        return f"field-{name}"
    if name in drafts.TEXT_FIELDS or name in drafts.BOOL_FIELDS:
        return name
    return ""


# --- form values <-> what the browser posts -------------------------------------------------------

def formdata_for(values: Mapping[str, Any]) -> MultiDict:
    """Form values (``kapfinder.drafts``) as the browser would post them, to fill the form."""
    pairs: list[tuple[str, str]] = []
    for key in TEXT_FIELDS:
        pairs.append((key, values[key]))
    for key in drafts.LIST_FIELDS:
        pairs.extend((key, v) for v in values[key])
    for key in drafts.BOOL_FIELDS:
        if values[key]:
            pairs.append((key, "y"))
    pairs.append(("accepting_new_patients", ACCEPTING[values["accepting_new_patients"]]))
    week, extra = values["hours"][:len(DAYS)], values["hours"][len(DAYS):]
    for row in week:
        pairs += [(f"hours-{row['day']}-opens", row["opens"]), (f"hours-{row['day']}-closes", row["closes"])]
    for i, row in enumerate(extra):
        pairs += [(f"hours-x{i}-day", row["day"]), (f"hours-x{i}-opens", row["opens"]),
                  (f"hours-x{i}-closes", row["closes"])]
    for row in values["prices"]:
        pairs += [(f"prices-{row['service']}-min", row["min_usd"]), (f"prices-{row['service']}-max", row["max_usd"])]
    for i, row in enumerate(values["insurance"]):
        pairs += [(f"insurance-{i}-{k}", row[k]) for k in ("carrier", "service", "network")]
        pairs += [(f"insurance-{i}-plan_types", p) for p in row["plan_types"]]
    return MultiDict(pairs)


def _text(formdata, key: str) -> str:
    return formdata.get(key, "").replace("\r\n", "\n")


def parse_step(step: str, formdata) -> dict[str, Any]:
    """This step's fields from a POST, as form values (nothing else is read)."""
    out: dict[str, Any] = {}
    for key in drafts.STEP_FIELDS[step]:
        if key in TEXT_FIELDS:
            out[key] = _text(formdata, key)
        elif key in drafts.LIST_FIELDS:
            out[key] = formdata.getlist(key)
        elif key in drafts.BOOL_FIELDS:
            out[key] = bool(formdata.get(key))
        elif key == "accepting_new_patients":
            out[key] = {"yes": True, "no": False}.get(formdata.get(key))
        elif key == "hours":
            rows = [{"day": d, "opens": _text(formdata, f"hours-{d}-opens"), "closes": _text(formdata, f"hours-{d}-closes")}
                    for d in DAYS]
            i = 0
            while f"hours-x{i}-day" in formdata and i < drafts.MAX_EXTRA_HOURS:
                rows.append({"day": formdata.get(f"hours-x{i}-day", ""), "opens": _text(formdata, f"hours-x{i}-opens"),
                             "closes": _text(formdata, f"hours-x{i}-closes")})
                i += 1
            out[key] = rows
        elif key == "prices":
            out[key] = [{"service": s, "min_usd": _text(formdata, f"prices-{s}-min"),
                         "max_usd": _text(formdata, f"prices-{s}-max")} for s in vocab.SERVICES.slugs]
        elif key == "insurance":
            rows = []
            i = 0
            while f"insurance-{i}-carrier" in formdata and i < drafts.MAX_INSURANCE_ROWS:
                rows.append({"carrier": formdata.get(f"insurance-{i}-carrier", ""),
                             "service": formdata.get(f"insurance-{i}-service", ""),
                             "network": formdata.get(f"insurance-{i}-network", ""),
                             "plan_types": formdata.getlist(f"insurance-{i}-plan_types")})
                i += 1
            out[key] = rows
    return out


def apply_row_action(submitted: dict[str, Any], action: str) -> str | None:
    """Add or remove an insurance row or an extra opening time in ``submitted`` (in place).

    ``action`` is ``add-insurance``, ``remove-insurance-<i>``, ``add-hours`` or ``remove-hours-<i>``
    (``i`` counts the extra opening times). Returns the id to show after the page reloads, or None
    when ``action`` is not a row action.
    """
    kind, _sep, rest = action.partition("-")
    section, _sep, index = rest.partition("-")
    if section not in ("insurance", "hours") or section not in submitted or kind not in ("add", "remove"):
        return None
    rows = submitted[section]
    first = len(DAYS) if section == "hours" else 0  # the week's own rows are never removed
    limit = first + (drafts.MAX_EXTRA_HOURS if section == "hours" else drafts.MAX_INSURANCE_ROWS)
    if kind == "add":
        if len(rows) < limit:
            rows.append(drafts.blank_insurance_row() if section == "insurance" else {"day": "", "opens": "", "closes": ""})
        return f"{section}-row-{len(rows) - 1 - first}" if len(rows) > first else f"field-{section}"
    if index.isdigit() and first + int(index) < len(rows):
        del rows[first + int(index)]
    return f"field-{section}"


# --- the review step --------------------------------------------------------------------------------

def _labels(vocabulary, slugs) -> str:
    return ", ".join(vocab_words.label(vocabulary, s) if s in vocabulary else s for s in slugs)


def _price(row: Mapping[str, Any]) -> str:
    low, high = row["min_usd"] or row["max_usd"], row["max_usd"] or row["min_usd"]
    return _("$%(amount)s", amount=low) if low == high else _("$%(low)s–$%(high)s", low=low, high=high)


def review_sections(form: ListingForm, values: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each step's answers as short (label, text) pairs, for the review page."""
    values = drafts.normalise(values)

    def label(key):
        return str(form[key].label.text)

    def slugs(key):
        return _labels(listing_vocab(key), values[key]) or "—"

    def ticked(keys, none):
        return ", ".join(label(k) for k in keys if values[k]) or none

    address = ", ".join(p for p in (values["street"], values["city"],
                                    " ".join(p for p in (values["state"], values["zip"]) if p)) if p)
    hours = [f"{DAY_LABELS[r['day']] if r['day'] in DAY_LABELS else r['day']} {r['opens']}–{r['closes']}"
             for r in values["hours"] if r["opens"] or r["closes"]]
    prices = [f"{vocab_words.label(vocab.SERVICES, r['service'])}: {_price(r)}" for r in values["prices"]
              if r["min_usd"] or r["max_usd"]]
    insurance = [insurance_line(r) for r in values["insurance"] if r["carrier"] or r["network"]]
    care = [
        (_("Methods"), slugs("methods")),
        (label("settings"), slugs("settings")),
        *([(_("At-home states"), slugs("at_home_states"))] if "at-home" in values["settings"] else []),
        (_("Conditions"), slugs("conditions")),
        (label("therapy"), vocab_words.label(vocab.THERAPY, values["therapy"]) if values["therapy"] in vocab.THERAPY
         else values["therapy"] or "—"),
        (label("therapy_extras"), slugs("therapy_extras")),
        (_("Evaluation"), _("Offered") if values["offers_evaluation"] else _("Not offered")),
        (_("New patients"), {True: _("Yes"), False: _("No"), None: _("Not saying")}[
            values["accepting_new_patients"]]),
        (_("Languages"), slugs("languages")),
        (_("Interpreter services"), (slugs("interpreter_languages") if values["interpreter_languages"]
                                     else _("Offered")) if values["interpreter_services"] else _("Not offered")),
    ]
    return [
        ("basics", [(label("name"), values["name"] or "—"), (label("description"), values["description"] or "—"),
                    (_("Address"), address or "—"), (label("phone"), values["phone"] or "—"),
                    (label("website"), values["website"] or "—"), (_("Email"), values["email"] or "—")]),
        ("care", care),
        ("prices", [(_("Prices"), "; ".join(prices) or _("None given")),
                    (_("Payment"), ticked(("sliding_scale", "financing", "superbill", "hsa_fsa"), _("None"))),
                    (_("Insurance"), "; ".join(insurance) or _("None: self-pay only"))]),
        ("safety", [(_("NPI"), values["npi"] or "—"), (label("prescriber_types"), slugs("prescriber_types")),
                    (_("Licences"), slugs("therapist_licenses")),
                    (_("Safety"), ticked(("rems_certified", "vital_signs_monitoring", "medical_screening"),
                                         _("None of these"))),
                    (_("Hours"), "; ".join(hours) or _("None given")),
                    (_("Notes on hours"), values["hours_note"] or "—")]),
    ]


def listing_vocab(key: str) -> vocab.Vocabulary:
    from ..listings import LIST_FIELDS

    return LIST_FIELDS[key]


def insurance_line(row: Mapping[str, Any]) -> str:
    def one(vocabulary, slug):
        return vocab_words.label(vocabulary, slug) if slug in vocabulary else (slug or "—")

    line = " · ".join((one(vocab.CARRIERS, row["carrier"]), one(vocab.SERVICES, row["service"]),
                       one(vocab.NETWORKS, row["network"])))
    if row["plan_types"]:
        line += f" ({_labels(vocab.PLAN_TYPES, row['plan_types'])})"
    return line


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
        "withdrawn": _("The owner withdrew these changes."),
        "changed_since_seen": _("This change was edited since you opened it. Check the changes below, then decide."),
        "not_published": _("Only a published listing can be re-confirmed."),
        "invalid_link": _("This link is not valid any more."),
    }
    return messages.get(err.reason) or error_message(err)


class VersionForm(FlaskForm):
    """One-click actions on a listing (re-confirm): the version the owner saw."""

    version = HiddenField()


class DecisionForm(FlaskForm):
    """Approve or reject; a rejection needs a reason, which is mailed to the owner. A listing's or
    revision's decision carries the version the moderator's page showed."""

    reason = TextAreaField(_l("Reason (mailed to the owner; required to reject)"),
                           render_kw={"maxlength": 2000, "rows": 3})
    version = HiddenField()


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
    reason = LooseRadioField(_l("What is wrong?"), choices=_c(vocab_words.lazy_choices(REPORT_REASONS)))
    note = TextAreaField(_l("Anything else? (optional)"), render_kw={"maxlength": 2000, "rows": 3},
                         description=_l("Please don't include health information about yourself."))
