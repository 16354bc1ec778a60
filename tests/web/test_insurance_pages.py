"""The insurance lookup (/insurance) and the carrier pages (/insurance/<carrier>), issue 3."""
from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest
from babel.dates import format_date

from kapfinder import vocab
from kapfinder.carrier_notes import notes_for

AUSTIN = "78701"
FAR_AWAY = {"city": "Seattle", "state": "WA", "zip": "98101", "lat": 47.6114, "lon": -122.3305,
            "timezone": "America/Los_Angeles"}


def text_of(body: bytes | str) -> str:
    """The page as a reader sees it: tags removed, entities decoded, whitespace collapsed."""
    if isinstance(body, bytes):
        body = body.decode()
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def field_error(body: bytes, field: str) -> str:
    """The message shown next to a form field (its error container), as text."""
    match = re.search(rf'id="{field}-error"[^>]*>(.*?)</div>', body.decode(), flags=re.S)
    assert match, f"no error container next to the {field} field"
    return text_of(match.group(1))


def card_text(body: bytes, clinic_name: str) -> str:
    """The text of the result card for one clinic."""
    for card in re.findall(r'<li class="result-card.*?</li>\s*(?=<li class="result-card|</ol>)', body.decode(), flags=re.S):
        if clinic_name in card:
            return text_of(card)
    raise AssertionError(f"{clinic_name} is not in the results")


@pytest.fixture
def mixed_clinic(make_clinic):
    """Spravato in network with Aetna PPO; IV/IM ketamine self-pay $450–$600 with a superbill."""
    return make_clinic(
        name="Riverside Mind Care", methods=["iv", "im", "esketamine-nasal"], rems_certified=True,
        superbill=True, therapy="prep-integration",
        insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network", "plan_types": ["ppo"]},
                   {"carrier": "cigna", "service": "psychotherapy", "network": "in-network", "plan_types": []}],
        prices=[{"service": "ketamine", "min_usd": 450, "max_usd": 600},
                {"service": "esketamine", "min_usd": 800, "max_usd": 800}])


# --- carrier pages ----------------------------------------------------------------------------

@pytest.mark.parametrize("carrier", vocab.CARRIERS.slugs)
def test_every_carrier_page_explains_coverage_with_date_and_sources(client, carrier):
    response = client.get(f"/insurance/{carrier}")
    assert response.status_code == 200
    page = text_of(response.data)
    notes = notes_for(carrier)
    assert vocab.CARRIERS.label(carrier) in page
    assert f'datetime="{notes.as_of.isoformat()}"' in response.data.decode()
    assert "Last checked against the sources below on" in page
    for item in notes.services:
        assert item.note.text.split(".")[0] in page
    assert "Sources" in page
    for source in notes.sources:
        assert f'href="{html.escape(source.url)}"' in response.data.decode()
        assert source.title in page
    assert "Before your first visit, ask" in page


def test_tricare_page_says_spravato_is_covered_but_not_other_ketamine(client):
    page = text_of(client.get("/insurance/tricare").data)
    assert "TRICARE covers Spravato but not other forms of ketamine" in page
    assert "TRICARE does not cover racemic ketamine for depression" in page


def test_unknown_carrier_page_is_404(client):
    assert client.get("/insurance/acme-health").status_code == 404


def test_carrier_page_lists_clinics_in_its_network_near_a_location(client, make_clinic, mixed_clinic):
    make_clinic(name="Cash Only Clinic", methods=["iv"], prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 400}])
    make_clinic(name="Far Aetna Clinic", methods=["esketamine-nasal"], rems_certified=True,
                insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network"}], **FAR_AWAY)
    response = client.get("/insurance/aetna", query_string={"location": AUSTIN, "radius": "25"})
    assert response.status_code == 200
    page = text_of(response.data)
    assert "Riverside Mind Care" in page
    assert "Cash Only Clinic" not in page
    assert "Far Aetna Clinic" not in page
    assert "Spravato: in network with Aetna (PPO plans)" in card_text(response.data, "Riverside Mind Care")


def test_carrier_page_without_location_shows_no_clinics(client, mixed_clinic):
    response = client.get("/insurance/aetna")
    assert response.status_code == 200
    assert "Riverside Mind Care" not in text_of(response.data)


def test_carrier_page_unknown_location_is_a_field_error(client):
    response = client.get("/insurance/aetna", query_string={"location": "Nowhereville, ZZ"})
    assert response.status_code == 400
    assert "couldn't find" in field_error(response.data, "location")
    assert "Sources" in text_of(response.data)  # the notes stay on the page


# --- the lookup form --------------------------------------------------------------------------

def test_lookup_without_carrier_shows_form_and_every_carrier(client):
    response = client.get("/insurance")
    assert response.status_code == 200
    body = response.data.decode()
    assert '<form class="search-form" method="get" action="/insurance"' in body
    for name in ("insurance", "plan_type", "service", "location", "radius"):
        assert f'name="{name}"' in body
    for carrier in vocab.CARRIERS.slugs:
        assert f'href="/insurance/{carrier}"' in body


@pytest.mark.parametrize("query, field, message", [
    ({"insurance": "acme-health", "location": AUSTIN}, "insurance", "‘acme-health’ is not one of the choices."),
    ({"plan_type": "ppo", "location": AUSTIN}, "plan_type", "Choose an insurance carrier first."),
    ({"service": "esketamine"}, "service", "Choose an insurance carrier first."),
    ({"insurance": "aetna", "service": "massage"}, "service", "‘massage’ is not one of the choices."),
    ({"insurance": "aetna", "plan_type": "gold"}, "plan_type", "‘gold’ is not one of the choices."),
    ({"insurance": "aetna", "location": "Nowhereville, ZZ"}, "location", "We couldn't find ‘Nowhereville, ZZ’."),
    ({"insurance": "aetna", "location": AUSTIN, "radius": "9000"}, "radius", "Enter a whole number from 1 to 500."),
    ({"location": AUSTIN}, "insurance", "This field is required."),
])
def test_lookup_bad_input_is_400_with_the_message_next_to_the_field(client, query, field, message):
    response = client.get("/insurance", query_string=query)
    assert response.status_code == 400
    assert message in field_error(response.data, field)
    assert 'class="error-summary"' in response.data.decode()


@pytest.mark.parametrize("query, expected", [
    ({"insurance": "aetna", "plan_type": "gold", "location": AUSTIN, "radius": "9000"},
     {"plan_type": "‘gold’ is not one of the choices.", "radius": "Enter a whole number from 1 to 500."}),
    ({"insurance": "acme-health", "location": "Nowhereville, ZZ"},
     {"insurance": "‘acme-health’ is not one of the choices.", "location": "We couldn't find ‘Nowhereville, ZZ’."}),
    ({"service": "massage", "location": AUSTIN},
     {"insurance": "This field is required.", "service": "‘massage’ is not one of the choices."}),
])
def test_lookup_reports_every_bad_field_at_once_next_to_each(client, query, expected):
    response = client.get("/insurance", query_string=query)
    assert response.status_code == 400
    summary = text_of(re.search(rb'<div class="error-summary".*?</div>', response.data, flags=re.S).group(0))
    for field, message in expected.items():
        assert message in field_error(response.data, field)
        assert message in summary


def test_carrier_page_reports_every_bad_field_at_once_next_to_each(client):
    response = client.get("/insurance/aetna", query_string={"location": "Nowhereville, ZZ", "plan_type": "gold",
                                                            "radius": "abc"})
    assert response.status_code == 400
    assert "couldn't find" in field_error(response.data, "location")
    assert "‘gold’ is not one of the choices." in field_error(response.data, "plan_type")
    assert "Enter a whole number" in field_error(response.data, "radius")
    assert "Sources" in text_of(response.data)  # the notes stay on the page


def test_lookup_ambiguous_city_offers_the_choices(client):
    response = client.get("/insurance", query_string={"insurance": "aetna", "location": "Springfield"})
    assert response.status_code == 400
    body = response.data.decode()
    assert "Which state do you mean?" in field_error(response.data, "location")
    assert re.search(r'href="/insurance\?location=Springfield%2C\+IL[^"]*insurance=aetna', body)


def suggestion_links(body: bytes) -> list[tuple[str, str]]:
    """(label, href) of each "Did you mean …?" link under the location field."""
    match = re.search(r'<p class="location-suggestions">(.*?)</p>', body.decode(), flags=re.S)
    assert match, "no suggestions under the location field"
    return [(label, html.unescape(href)) for href, label in re.findall(r'<a href="([^"]+)">(.*?)</a>', match.group(1))]


def test_lookup_misspelt_city_suggests_places_that_keep_the_plan(client, make_clinic, mixed_clinic):
    response = client.get("/insurance", query_string={"insurance": "aetna", "plan_type": "ppo", "location": "Austn, TX"})
    assert response.status_code == 400
    assert "Did you mean Austin, TX" in field_error(response.data, "location")
    label, href = suggestion_links(response.data)[0]
    assert label == "Austin, TX" and href.startswith("/insurance?location=Austin%2C+TX")
    followed = client.get(href)
    assert followed.status_code == 200
    assert "Spravato: in network with Aetna PPO" in card_text(followed.data, "Riverside Mind Care")


def test_lookup_with_a_carrier_but_no_place_asks_where(client, mixed_clinic):
    response = client.get("/insurance", query_string={"insurance": "aetna"})
    assert response.status_code == 200
    assert "Riverside Mind Care" not in text_of(response.data)
    assert "Where should we look?" in text_of(re.search(rb'id="location-hint">(.*?)</p>', response.data).group(1))
    sent_empty = client.get("/insurance", query_string={"insurance": "aetna", "location": "", "radius": "25"})
    assert sent_empty.status_code == 400
    assert "Where should we look?" in field_error(sent_empty.data, "location")
    assert "Riverside Mind Care" not in text_of(sent_empty.data)


def test_carrier_page_misspelt_city_suggests_places_on_the_same_page(client, mixed_clinic):
    response = client.get("/insurance/aetna", query_string={"location": "Austn, TX", "plan_type": "ppo"})
    assert response.status_code == 400
    label, href = suggestion_links(response.data)[0]
    assert label == "Austin, TX"
    assert href == "/insurance/aetna?location=Austin%2C+TX&plan_type=ppo"
    assert "Riverside Mind Care" in text_of(client.get(href).data)


def test_carrier_page_plan_type_without_place_asks_where(client):
    response = client.get("/insurance/aetna", query_string={"plan_type": "ppo"})
    assert response.status_code == 400
    assert "Where should we look?" in field_error(response.data, "location")


# --- coverage answers on results --------------------------------------------------------------

def test_lookup_shows_the_coverage_answer_in_words(client, make_clinic, mixed_clinic):
    make_clinic(name="Cash Only Clinic", methods=["iv"], superbill=True,
                prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 400}])
    response = client.get("/insurance", query_string={"insurance": "aetna", "plan_type": "ppo", "location": AUSTIN})
    assert response.status_code == 200
    card = card_text(response.data, "Riverside Mind Care")
    # Without a method or service, the card leads with what Aetna covers, then the rest.
    assert "Spravato: in network with Aetna PPO, as of" in card
    assert "Also: IV/IM ketamine: self-pay $450–$600, superbill provided" in card
    assert card.index("Spravato: in network") < card.index("Also:")
    assert "Psychotherapy: self-pay, price not listed, superbill provided" in card
    assert "Evaluation" not in card  # not offered: left out of the sentence
    page = text_of(response.data)
    assert "confirm coverage with the clinic and your insurer" in page  # once, above the list
    # The listing names no Aetna row at all: never shown as taking Aetna.
    assert "Cash Only Clinic" not in page
    assert "1 clinic near Austin, TX takes Aetna PPO" in page


def test_out_of_network_answer_mentions_the_superbill(client, make_clinic):
    make_clinic(name="Integration House", methods=["oral"], superbill=True,
                insurance=[{"carrier": "bcbs", "service": "psychotherapy", "network": "out-of-network"}],
                prices=[{"service": "ketamine", "min_usd": 300, "max_usd": 350}])
    response = client.get("/insurance", query_string={"insurance": "bcbs", "location": AUSTIN})
    card = card_text(response.data, "Integration House")
    assert "oral ketamine: self-pay $300–$350, superbill provided" in card
    assert "Psychotherapy: out of network with Blue Cross Blue Shield, superbill provided" in card


def test_plan_type_that_the_listing_does_not_name_is_not_in_network(client, make_clinic):
    make_clinic(name="HMO Only Clinic", methods=["esketamine-nasal"], rems_certified=True,
                insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network", "plan_types": ["hmo"]}])
    response = client.get("/insurance", query_string={"insurance": "aetna", "plan_type": "ppo", "location": AUSTIN})
    assert response.status_code == 200
    assert "HMO Only Clinic" not in text_of(response.data)
    response = client.get("/insurance", query_string={"insurance": "aetna", "plan_type": "hmo", "location": AUSTIN})
    assert "Spravato: in network with Aetna HMO" in card_text(response.data, "HMO Only Clinic")


def test_service_filter_keeps_only_clinics_covering_that_service(client, make_clinic, mixed_clinic):
    make_clinic(name="Therapy Covered Clinic", methods=["iv"],
                insurance=[{"carrier": "aetna", "service": "psychotherapy", "network": "in-network"}])
    response = client.get("/insurance", query_string={"insurance": "aetna", "service": "psychotherapy", "location": AUSTIN})
    page = text_of(response.data)
    assert "Therapy Covered Clinic" in page
    assert "Riverside Mind Care" not in page  # Aetna covers only its Spravato
    response = client.get("/insurance", query_string={"insurance": "aetna", "service": "esketamine", "location": AUSTIN})
    page = text_of(response.data)
    assert "Riverside Mind Care" in page and "Therapy Covered Clinic" not in page


def test_lookup_results_match_the_search_page(client, make_clinic, mixed_clinic):
    query = {"insurance": "aetna", "location": AUSTIN, "radius": "10"}
    ours = text_of(client.get("/insurance", query_string=query).data)
    theirs = text_of(client.get("/search", query_string=query).data)
    assert "1 clinic near Austin, TX takes Aetna" in ours and "1 clinic near Austin, TX takes Aetna" in theirs


def test_stale_insurance_fact_is_flagged_on_the_result(client, make_clinic):
    make_clinic(name="Old Facts Clinic", methods=["esketamine-nasal"], rems_certified=True,
                insurance=[{"carrier": "uhc", "service": "esketamine", "network": "in-network",
                            "as_of": date.today() - timedelta(days=120)}])
    card = card_text(client.get("/insurance", query_string={"insurance": "uhc", "location": AUSTIN}).data,
                     "Old Facts Clinic")
    as_of = format_date(date.today() - timedelta(days=120), 'medium', locale='en')
    assert f"Spravato: in network with UnitedHealthcare, as of {as_of} (not confirmed recently)" in card


# --- the explainer ------------------------------------------------------------------------------

def test_learn_insurance_explains_payment_with_codes_checklist_and_sources(client):
    response = client.get("/learn/insurance")
    assert response.status_code == 200
    body = response.data.decode()
    page = text_of(body)
    for code in ("90791", "90792", "90832", "90834", "90837", "90833", "90836", "90838", "G2082", "G2083"):
        assert code in page
    for topic in ("prior authorisation", "REMS", "superbill", "HSA", "sliding scale", "financing"):
        assert topic.lower() in page.lower()
    assert "Checklist: what to ask before your first visit" in page
    assert "Ask the clinic" in page and "Ask your insurer" in page
    for url in ("https://www.cms.gov/", "https://www.fda.gov/", "https://www.spravatorems.com/",
                "https://www.ama-assn.org/", "https://healthnetfederalservices.org/"):
        assert f'href="{url}' in body
    # Every citation mark points at a source listed on the page.
    for anchor in set(re.findall(r'href="#(src-[a-z0-9-]+)"', body)):
        assert f'id="{anchor}"' in body
    assert "Confirm with the clinic and your insurer" in page


# --- the clinic page ----------------------------------------------------------------------------

def test_clinic_page_shows_insurance_by_service_prices_and_stale_facts(client, make_clinic):
    old = date.today() - timedelta(days=120)
    clinic = make_clinic(
        name="Table Clinic", methods=["iv", "esketamine-nasal"], rems_certified=True, hsa_fsa=True, superbill=True,
        insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network", "plan_types": ["ppo"]},
                   {"carrier": "cigna", "service": "psychotherapy", "network": "out-of-network", "as_of": old}],
        prices=[{"service": "ketamine", "min_usd": 450, "max_usd": 600}])
    response = client.get(f"/clinics/{clinic.slug}")
    assert response.status_code == 200
    rows = [text_of(r) for r in re.findall(r"<tr>(.*?)</tr>", response.data.decode(), flags=re.S)]
    assert f"Spravato Aetna PPO in network {format_date(date.today(), 'medium', locale='en')}" in rows
    assert f"Psychotherapy Cigna all plan types out of network (superbill) {format_date(old, 'medium', locale='en')} not confirmed recently" in rows
    assert f"IV ketamine $450–$600 {format_date(date.today(), 'medium', locale='en')}" in rows
    page = text_of(response.data)
    assert "HSA/FSA cards accepted: yes" in page and "Sliding-scale fees: not offered" in page
    assert "Confirm with the clinic and your insurer" in page
