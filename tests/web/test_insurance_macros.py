"""The coverage macros (templates/_macros/coverage.html) as a patient reads them."""
from __future__ import annotations

import html
import re
from datetime import date, timedelta

from babel.dates import format_date
from flask import render_template_string

from kapfinder.coverage import coverage_for
from kapfinder.search import SearchHit

IMPORT = '{% from "_macros/coverage.html" import coverage_summary, insurance_table, prices_table %}'


def text_of(markup: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup))).strip()


def rows_of(markup: str) -> list[str]:
    return [text_of(r) for r in re.findall(r"<tr>(.*?)</tr>", markup, flags=re.S)]


def render(source: str, **context) -> str:
    return render_template_string(IMPORT + source, **context)


def test_coverage_summary_in_words(app, make_clinic):
    clinic = make_clinic(methods=["im", "esketamine-nasal", "ketamine-nasal"], rems_certified=True, superbill=False,
                         offers_evaluation=True,
                         insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network"},
                                    {"carrier": "aetna", "service": "evaluation", "network": "out-of-network"}],
                         prices=[{"service": "ketamine", "min_usd": 250, "max_usd": 250}])
    hit = SearchHit(clinic=clinic, distance_mi=1.0, match="distance", coverage=coverage_for(clinic, "aetna"))
    out = text_of(render("{{ coverage_summary(hit, 'aetna') }}", hit=hit))
    assert out.startswith("Spravato: in network with Aetna · IM/nasal ketamine: self-pay $250 · "
                          "Psychotherapy: self-pay, price not listed · Evaluation: out of network with Aetna, superbill provided")
    assert "superbill provided · " not in out.split("Evaluation")[0]  # no clinic-wide superbill here


def test_coverage_summary_leads_with_what_the_patient_asked(app, make_clinic):
    """A patient who ticked IM and chose Aetna reads the IM answer first, emphasised and dated."""
    as_of = date.today() - timedelta(days=3)
    clinic = make_clinic(methods=["iv", "im", "esketamine-nasal"], rems_certified=True, superbill=True,
                         insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network"},
                                    {"carrier": "aetna", "service": "ketamine", "network": "out-of-network",
                                     "plan_types": ["ppo"], "as_of": as_of}])
    entries = coverage_for(clinic, "aetna", "ppo")
    hit = SearchHit(clinic=clinic, distance_mi=1.0, match="distance", coverage=entries, leading=("ketamine",))
    markup = render("{{ coverage_summary(hit, 'aetna', 'ppo', ['im']) }}", hit=hit)
    lead = re.search(r'<p class="coverage-lead[^"]*"><strong>(.*?)</strong></p>', markup, flags=re.S)
    assert lead, "no emphasised lead line"
    assert text_of(lead.group(1)) == f"IM ketamine: out of network with Aetna PPO, superbill provided, as of {format_date(as_of, 'medium', locale='en')}"
    out = text_of(markup)
    assert out.index("IM ketamine") < out.index("Also: Spravato: in network with Aetna PPO")


def test_coverage_summary_renders_nothing_without_a_carrier(app, make_clinic):
    clinic = make_clinic()
    hit = SearchHit(clinic=clinic, distance_mi=None, match=None, coverage=None)
    assert render("{{ coverage_summary(hit) }}", hit=hit).strip() == ""


def test_insurance_table_by_service_with_dates_and_stale_rows(app, make_clinic):
    old = date.today() - timedelta(days=91)
    recent = date.today() - timedelta(days=10)
    clinic = make_clinic(methods=["iv", "esketamine-nasal"], rems_certified=True, insurance=[
        {"carrier": "cigna", "service": "psychotherapy", "network": "out-of-network", "as_of": old},
        {"carrier": "aetna", "service": "esketamine", "network": "in-network", "plan_types": ["ppo", "pos"],
         "as_of": recent},
        {"carrier": "medicare", "service": "esketamine", "network": "in-network", "as_of": recent},
    ])
    rows = rows_of(render("{{ insurance_table(clinic) }}", clinic=clinic))
    assert rows[0] == "Service Carrier Plan types Network As of"
    assert rows[1:] == [
        f"Spravato Aetna PPO, POS in network {format_date(recent, 'medium', locale='en')}",
        f"Spravato Medicare all plan types in network {format_date(recent, 'medium', locale='en')}",
        f"Psychotherapy Cigna all plan types out of network (superbill) {format_date(old, 'medium', locale='en')} not confirmed recently",
    ]


def test_insurance_table_without_rows_says_so(app, make_clinic):
    out = text_of(render("{{ insurance_table(clinic) }}", clinic=make_clinic()))
    assert "does not name any insurance" in out
    assert "Confirm with the clinic and your insurer" in out


def test_prices_table_and_payment_options_in_words(app, make_clinic):
    clinic = make_clinic(methods=["iv", "oral", "esketamine-nasal"], rems_certified=True, offers_evaluation=True,
                         sliding_scale=True, hsa_fsa=True, financing=False, superbill=False,
                         prices=[{"service": "ketamine", "min_usd": 450, "max_usd": 600},
                                 {"service": "evaluation", "min_usd": 300, "max_usd": 300},
                                 {"service": "esketamine", "min_usd": None, "max_usd": None}])
    out = render("{{ prices_table(clinic) }}", clinic=clinic)
    rows = rows_of(out)
    today = format_date(date.today(), 'medium', locale='en')
    assert rows[1:] == [
        f"Spravato price not listed {today}",
        f"IV/oral ketamine $450–$600 {today}",
        "Psychotherapy price not listed date unknown",
        f"Evaluation $300 {today}",
    ]
    words = text_of(out)
    assert "Sliding-scale fees: yes" in words
    assert "Payment plans or financing: not offered" in words
    assert "Superbill for out-of-network reimbursement: not offered" in words
    assert "HSA/FSA cards accepted: yes" in words


def test_stale_price_is_labelled(app, make_clinic):
    clinic = make_clinic(prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 500,
                                  "as_of": date.today() - timedelta(days=200)}])
    rows = rows_of(render("{{ prices_table(clinic) }}", clinic=clinic))
    assert rows[1].endswith("not confirmed recently")
