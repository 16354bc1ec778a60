"""The patient's search form (a GET form: no CSRF, bookmarkable).

The form only renders and re-fills fields; ``kapfinder.search.parse_criteria`` is the one place
that validates, so the page and the API refuse exactly the same values. The view attaches the
core's error to the field it names.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms import Form, SelectField, SelectMultipleField, StringField
from wtforms.widgets import CheckboxInput, ListWidget

from .. import vocab, vocab_words
from ..search.criteria import DEFAULT_RADIUS, RADIUS_RANGE

#: Radii the form offers, in miles; the parameter itself takes any whole number from 1 to 500.
RADIUS_CHOICES = (5, 10, 25, 50, 100, 250)
MAX_RADIUS = RADIUS_RANGE[1]


class MultiCheckboxField(SelectMultipleField):
    """A group of checkboxes; ``render_field`` wraps it in a fieldset with a legend."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AcceptingField(SelectMultipleField):
    """One checkbox, ``accepting=1``; kept as a list so a repeated or odd value reaches the parser."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _any(label) -> list[tuple[str, str]]:
    return [("", label)]


class SearchForm(Form):
    location = StringField(
        _l("ZIP code, city or address"),
        description=_l("For example 78701, ‘Austin, TX’, a street address with its ZIP, or a state."),
        render_kw={"autocomplete": "postal-code", "inputmode": "text", "spellcheck": "false",
                   "maxlength": "200"})
    radius = SelectField(_l("Distance"), default=str(DEFAULT_RADIUS))
    method = MultiCheckboxField(_l("How the medicine is given"),
                                description=_l("Tick any you would consider. None ticked: any method."))
    insurance = SelectField(_l("Insurance carrier"))
    plan_type = SelectField(_l("Plan type"), description=_l("Only with an insurance carrier."))
    service = SelectField(_l("Service to be covered"), description=_l("Only with an insurance carrier."))
    condition = MultiCheckboxField(_l("Conditions treated"),
                                   description=_l("Tick any that apply. None ticked: any condition."))
    language = MultiCheckboxField(_l("Languages spoken"),
                                  description=_l("By the staff, or through the clinic's interpreter services. "
                                                 "None ticked: any language."))
    setting = SelectField(_l("Setting"))
    accepting = AcceptingField(_l("Options"))
    sort = SelectField(_l("Sort by"), default="distance")

    def __init__(self, formdata: MultiDict | None = None, **kwargs):
        super().__init__(formdata=formdata, **kwargs)
        radius = self.radius.data if self.radius.data else str(DEFAULT_RADIUS)
        radii = list(RADIUS_CHOICES)
        # Keep a valid radius typed into the address bar (e.g. 30) selected rather than silently changed.
        if radius.isdigit() and 1 <= int(radius) <= MAX_RADIUS and int(radius) not in radii:
            radii = sorted(radii + [int(radius)])
        self.radius.choices = [(str(r), _l("within %(miles)s miles", miles=r)) for r in radii]
        self.method.choices = vocab_words.lazy_choices(vocab.METHODS)
        self.insurance.choices = _any(_l("Any, or paying myself")) + vocab_words.lazy_choices(vocab.CARRIERS)
        self.plan_type.choices = _any(_l("Any plan type")) + vocab_words.lazy_choices(vocab.PLAN_TYPES)
        self.service.choices = _any(_l("Any service")) + vocab_words.lazy_choices(vocab.SERVICES)
        self.condition.choices = vocab_words.lazy_choices(vocab.CONDITIONS)
        self.language.choices = vocab_words.lazy_choices(vocab.LANGUAGES)
        # The parser reads language codes in any case (``ES`` is ``es``): the box shows ticked too.
        self.language.data = [v.strip().lower() for v in self.language.data or [] if isinstance(v, str)]
        self.setting.choices = _any(_l("In the clinic or at home")) + vocab_words.lazy_choices(vocab.SETTINGS)
        self.accepting.choices = [("1", _l("Only clinics accepting new patients"))]
        self.sort.choices = vocab_words.lazy_choices(vocab.SORTS)

    #: Fields shown on the home page, in order; the results page adds ``sort``.
    HOME_FIELDS = ("location", "radius", "method", "insurance", "plan_type", "service", "condition",
                   "language", "setting", "accepting")

    #: The filters behind "More filters".
    FILTER_FIELDS = ("method", "insurance", "plan_type", "service", "condition", "language", "setting", "accepting",
                     "sort")

    def chosen_filters(self) -> int:
        """How many filters the patient chose (each ticked box counts), for "More filters (2 chosen)"."""
        count = 0
        for name in ("method", "insurance", "plan_type", "service", "condition", "language", "setting", "accepting"):
            data = self[name].data
            count += len([v for v in data if v]) if isinstance(data, list) else bool(data)
        return count

    def filter_errors(self) -> bool:
        return any(self[name].errors for name in self.FILTER_FIELDS)

    def field_named(self, name: str | None):
        """The form field a core error names, or None (e.g. ``page``): shown above the form instead."""
        if name and name in self._fields:
            return self._fields[name]
        if name in ("lat", "lon"):
            return self.location
        return None
