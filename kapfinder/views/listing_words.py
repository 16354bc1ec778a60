"""How a listing's fields and stored values read on the owner's and the moderators' pages: field
names, snapshot and audit values, problem-report reasons. Plain functions (translated through
Flask-Babel), named for templates by ``kapfinder.templating``."""
from __future__ import annotations

from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import listings, vocab, vocab_words

FIELD_LABELS = {
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
    "languages": _l("languages"), "interpreter_services": _l("interpreter services"),
    "interpreter_languages": _l("interpreter languages"),
    "insurance": _l("insurance"), "prices": _l("prices"), "status": _l("status"), "slug": _l("address of the page"),
    "verified_at": _l("verified"), "confirmed_at": _l("re-confirmed"), "owner_id": _l("owner"),
    "reason": _l("reason"), "revision": _l("proposed changes"), "report": _l("problem report"),
}


def field_label(key: str) -> str:
    return str(FIELD_LABELS.get(key, key))


def report_reason(slug: str) -> str:
    return vocab_words.label(listings.REPORT_REASONS, slug) if slug in listings.REPORT_REASONS else slug


def listing_value(value, field: str = "") -> str:
    """A snapshot or audit value as a person reads it (Jinja escapes the result)."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if field in listings.LIST_FIELDS and isinstance(value, list):
        vocabulary = listings.LIST_FIELDS[field]
        return ", ".join(vocab_words.label(vocabulary, v) if v in vocabulary else str(v) for v in value)
    if field == "therapy" and value in vocab.THERAPY:
        return vocab_words.label(vocab.THERAPY, value)
    if field == "insurance" and isinstance(value, list):
        return "; ".join(
            f"{vocab_words.label(vocab.CARRIERS, r['carrier'])} · {vocab_words.label(vocab.SERVICES, r['service'])} · "
            f"{vocab_words.label(vocab.NETWORKS, r['network'])}"
            + (f" ({', '.join(vocab_words.label(vocab.PLAN_TYPES, p) for p in r['plan_types'])})" if r.get("plan_types") else "")
            for r in value)
    if field == "prices" and isinstance(value, list):
        return "; ".join(f"{vocab_words.label(vocab.SERVICES, r['service'])}: ${r['min_usd']}–${r['max_usd']}" for r in value)
    if field == "hours" and isinstance(value, list):
        return "; ".join(f"{r['day']} {r['opens']}–{r['closes']}" for r in value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return str(value)

