"""The insurance lookup forms (GET forms: no CSRF, bookmarkable).

Like the search form they only render and re-fill; ``kapfinder.search.parse_criteria`` validates,
so /insurance refuses exactly what /search and the API refuse, under the same parameter names.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms import Form, SelectField, StringField

from .. import vocab, vocab_words
from .search import DEFAULT_RADIUS, MAX_RADIUS, RADIUS_CHOICES, MultiCheckboxField

#: The parameters /insurance reads; anything else in the query is ignored.
LOOKUP_PARAMETERS = ("insurance", "plan_type", "service", "method", "language", "location", "radius", "page")
#: The parameters /insurance/<carrier> reads; the carrier comes from the path.
CARRIER_PARAMETERS = ("plan_type", "language", "location", "radius", "page")


def _radius_choices(current: str | None) -> list[tuple[str, object]]:
    radii = list(RADIUS_CHOICES)
    # Keep a valid radius from the address bar (e.g. 30) selected rather than silently changed.
    if current and current.isdigit() and 1 <= int(current) <= MAX_RADIUS and int(current) not in radii:
        radii = sorted(radii + [int(current)])
    return [(str(r), _l("within %(miles)s miles", miles=r)) for r in radii]


class _LocationForm(Form):
    location = StringField(
        _l("ZIP code, city or address"),
        description=_l("For example 78701, ‘Austin, TX’, a street address with its ZIP, or a state."),
        render_kw={"autocomplete": "postal-code", "spellcheck": "false", "maxlength": "200"})
    radius = SelectField(_l("Distance"), default=str(DEFAULT_RADIUS))
    plan_type = SelectField(_l("Plan type"), description=_l("Optional: the type printed on your insurance card."))
    language = MultiCheckboxField(_l("Languages spoken"),
                                  description=_l("Optional: by the staff, or through the clinic's interpreter services."))

    def __init__(self, formdata: MultiDict | None = None, **kwargs):
        super().__init__(formdata=formdata, **kwargs)
        self.radius.choices = _radius_choices(self.radius.data)
        self.plan_type.choices = [("", _l("Any plan type"))] + vocab_words.lazy_choices(vocab.PLAN_TYPES)
        self.language.choices = vocab_words.lazy_choices(vocab.LANGUAGES)

    def field_named(self, name: str | None):
        """The field a core error names (lat/lon count as the location), or None."""
        if name in ("lat", "lon"):
            name = "location"
        return self._fields.get(name) if name else None


class InsuranceLookupForm(_LocationForm):
    """/insurance: carrier (required for a lookup), plan type, service, location, radius."""

    insurance = SelectField(_l("Insurance carrier"), description=_l("Required: the company named on your insurance card."))
    service = SelectField(_l("Service to be covered"),
                          description=_l("Optional: show only clinics whose listing says this service is covered."))
    method = MultiCheckboxField(_l("How the medicine is given"),
                                description=_l("Optional: the plan must cover the treatment for a method you tick."))

    FIELD_ORDER = ("insurance", "plan_type", "service", "method", "language", "location", "radius")

    def __init__(self, formdata: MultiDict | None = None, **kwargs):
        super().__init__(formdata=formdata, **kwargs)
        self.insurance.choices = [("", _l("Choose your carrier"))] + vocab_words.lazy_choices(vocab.CARRIERS)
        self.service.choices = [("", _l("Any service"))] + vocab_words.lazy_choices(vocab.SERVICES)
        self.method.choices = vocab_words.lazy_choices(vocab.METHODS)


class CarrierClinicsForm(_LocationForm):
    """/insurance/<carrier>: clinics in that carrier's network near a location."""

    FIELD_ORDER = ("location", "radius", "plan_type", "language")
