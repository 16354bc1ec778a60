"""Owner pages through the real app: submit, dashboard, edit, stale forms, re-confirm, access rules.

The listing form is filled in step by step (``walk_steps``); tests/listings/test_owner_steps.py covers
the steps themselves (drafts, rows, coordinates)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from fixtures.accounts import csrf_token
from kapfinder import listings
from kapfinder.models import Clinic, ListingRevision
from tests.listings.conftest import STEPS, form_data, post_step, valid_listing, walk_steps


def token_of(client, path: str) -> str:
    return csrf_token(client, path)


def submit_via_form(client, values: dict):
    return walk_steps(client, values)


def count(db_session, model=Clinic) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model))


def test_owner_pages_need_a_signed_in_account(client):
    for path in ("/owner/", "/owner/listings/new", "/owner/listings/new/basics", "/owner/listings/new/review"):
        response = client.get(path)
        assert response.status_code == 302 and "/account/sign-in" in response.headers["Location"]


def test_submitting_a_listing_leaves_it_pending_on_the_dashboard(db_session, owner, signed_in):
    client = signed_in(owner)
    response = submit_via_form(client, valid_listing())
    assert response.status_code == 302
    clinic = db_session.scalars(select(Clinic)).one()
    assert (clinic.status, clinic.owner_id, clinic.phone) == ("pending", owner.id, "+15125550100")
    assert [(i.carrier, i.service, i.plan_types) for i in clinic.insurance] == [("aetna", "evaluation", ["ppo"])]
    assert [(p.service, p.min_usd, p.max_usd) for p in clinic.prices] == [("ketamine", 450, 600)]
    assert clinic.hours == [{"day": "mo", "opens": "09:00", "closes": "17:00"}]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Pending review" in page and "waiting for a moderator" in page
    assert "30.2" in page  # where it was placed is shown
    dashboard = client.get("/owner/").get_data(as_text=True)
    assert "Calm Harbor Ketamine" in dashboard and "Pending review" in dashboard


def test_the_steps_together_have_every_field_and_a_version(owner, signed_in, db_session):
    client = signed_in(owner)
    pages = "".join(client.get(f"/owner/listings/new/{step}").get_data(as_text=True) for step in STEPS)
    for name in ("name", "description", "street", "city", "state", "zip", "lat", "lon", "phone", "website", "email",
                 "hours-mo-opens", "hours_note", "methods", "settings", "at_home_states", "conditions", "therapy",
                 "therapy_extras", "offers_evaluation", "npi", "prescriber_types", "therapist_licenses",
                 "rems_certified", "vital_signs_monitoring", "medical_screening", "accepting_new_patients",
                 "prices-esketamine-min", "prices-evaluation-max", "sliding_scale", "financing", "superbill",
                 "hsa_fsa", "insurance-0-carrier", "insurance-0-plan_types", "version", "csrf_token"):
        assert f'name="{name}"' in pages, name
    assert 'name="status"' not in pages and 'name="owner_id"' not in pages


@pytest.mark.parametrize("overrides,field,message", [
    ({"npi": "1234567890"}, "npi", "fails the NPI check"),
    ({"npi": "１２３４５６７８９３"}, "npi", "fails the NPI check"),
    ({"website": "javascript:alert(1)"}, "website", "http:// or https://"),
    ({"phone": "12"}, "phone", "US phone number"),
    ({"email": "nope"}, "email", "name@example.com"),
    ({"zip": "10001"}, "zip", "is not in TX"),
    ({"methods": ["esketamine-nasal"], "prices": []}, "rems_certified", "REMS-certified"),
    ({"settings": ["at-home"]}, "at_home_states", "Tick the states"),
    ({"prices": [{"service": "ketamine", "min_usd": 700, "max_usd": 600}]}, "prices-ketamine-min",
     "must not be more than"),
])
def test_bad_input_is_a_400_with_the_message_next_to_the_field(db_session, owner, signed_in, overrides, field,
                                                                message):
    client = signed_in(owner)
    response = submit_via_form(client, valid_listing(**overrides))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    block = re.search(rf'id="field-{re.escape(field)}".*?</(div|fieldset)>\s*</(div|fieldset)>', page, re.S)
    assert block and message in block.group(0), page[:200]
    # ... and the summary at the top links to it.
    summary = re.search(r'id="error-summary".*?</ul>', page, re.S).group(0)
    assert re.search(rf'<a href="#(field-)?{re.escape(field)}">[^<]*{re.escape(message)}', summary), summary
    assert count(db_session) == 0


def test_a_post_without_csrf_token_is_refused_and_stores_nothing(db_session, owner, signed_in):
    from kapfinder.models import ListingDraft

    client = signed_in(owner)
    for step in STEPS:
        response = client.post(f"/owner/listings/new/{step}", data={**form_data(valid_listing()), "action": "next"})
        assert response.status_code == 400
    assert count(db_session) == 0 and count(db_session, ListingDraft) == 0


def test_fields_the_form_does_not_offer_cannot_be_posted(db_session, owner, signed_in, other_owner):
    client = signed_in(owner)
    data = form_data(valid_listing())
    data.update(status="published", owner_id=str(other_owner.id), verified_at="2020-01-01T00:00:00Z",
                slug="chosen", sample="y", confirmed_at="2030-01-01", version="99")
    for step in STEPS:
        response = post_step(client, "/owner/listings/new", step, data)
    assert response.status_code == 302
    clinic = db_session.scalars(select(Clinic)).one()
    assert (clinic.status, clinic.owner_id, clinic.verified_at, clinic.slug, clinic.sample, clinic.confirmed_at) == (
        "pending", owner.id, None, None, False, None)


def publish(db_session, owner, moderator, **overrides) -> Clinic:
    clinic = listings.create_listing(db_session, owner.id, valid_listing(**overrides))
    return listings.approve_listing(db_session, clinic.id, moderator.id)


def test_another_owners_listing_answers_404_and_is_unchanged(db_session, owner, other_owner, moderator, signed_in):
    clinic = publish(db_session, owner, moderator)
    before = listings.snapshot(clinic)
    version = clinic.version
    client = signed_in(other_owner)
    for path in (f"/owner/listings/{clinic.id}", f"/owner/listings/{clinic.id}/edit",
                 *(f"/owner/listings/{clinic.id}/edit/{step}" for step in STEPS)):
        assert client.get(path).status_code == 404
    data = form_data(valid_listing(name="Hijacked", description="Hijacked"), version=version)
    data["csrf_token"] = token_of(client, "/owner/listings/new/basics")
    for step in STEPS:
        assert client.post(f"/owner/listings/{clinic.id}/edit/{step}", data=data).status_code == 404
    assert client.post(f"/owner/listings/{clinic.id}/reconfirm",
                       data={"csrf_token": data["csrf_token"], "version": version}).status_code == 404
    db_session.expire_all()
    again = db_session.get(Clinic, clinic.id)
    assert listings.snapshot(again) == before and again.version == version
    assert "Calm Harbor" not in client.get("/owner/").get_data(as_text=True)


def test_edit_publishes_immediate_fields_and_queues_the_rest(db_session, owner, moderator, signed_in):
    clinic = publish(db_session, owner, moderator)
    client = signed_in(owner)
    assert client.get(f"/owner/listings/{clinic.id}/edit").headers["Location"].endswith("/edit/basics")
    page = client.get(f"/owner/listings/{clinic.id}/edit/basics").get_data(as_text=True)
    assert f'value="{clinic.version}"' in page and "wait for a moderator" in page
    response = walk_steps(client, valid_listing(description="Evening sessions now.", phone="(512) 555-0188"),
                          path=f"/owner/listings/{clinic.id}/edit")
    assert response.status_code == 302
    db_session.expire_all()
    clinic = db_session.get(Clinic, clinic.id)
    assert clinic.description == "Evening sessions now." and clinic.phone == "+15125550100"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "phone" in page and "wait for a moderator" in page
    assert "+15125550188" in page  # the pending change is shown to the owner
    public = client.get(f"/clinics/{clinic.slug}").get_data(as_text=True)
    assert "Evening sessions now." in public and "555-0188" not in public


def test_a_stale_form_is_refused_shows_the_newer_data_and_overwrites_nothing(db_session, owner, moderator,
                                                                             signed_in):
    clinic = publish(db_session, owner, moderator)
    version = clinic.version
    path = f"/owner/listings/{clinic.id}/edit"
    first, second = signed_in(owner), signed_in(owner)
    token2 = token_of(second, f"{path}/basics")  # the second tab opens the form ...
    ok = walk_steps(first, valid_listing(description="From tab one"), path=path)  # ... the first one saves
    assert ok.status_code == 302
    refused = second.post(f"{path}/basics", data={
        **form_data(valid_listing(description="From tab two"), version=version), "csrf_token": token2,
        "action": "next"})
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "This listing changed since you opened it." in page
    assert "From tab one" in page  # the newer data is shown
    assert f'value="{version + 1}"' in page
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).description == "From tab one"


def test_reconfirm_with_one_click(db_session, owner, signed_in, make_clinic, days_ago):
    clinic = make_clinic(owner_id=owner.id, confirmed_at=days_ago(100))
    client = signed_in(owner)
    dashboard = client.get("/owner/").get_data(as_text=True)
    assert "not confirmed for 90 days" in dashboard
    token = token_of(client, "/owner/")
    response = client.post(f"/owner/listings/{clinic.id}/reconfirm",
                           data={"csrf_token": token, "version": clinic.version, "back": "dashboard"})
    assert response.status_code == 302
    db_session.expire_all()
    assert not db_session.get(Clinic, clinic.id).is_stale()
    assert "not confirmed for 90 days" not in client.get("/owner/").get_data(as_text=True)


HOSTILE = '<script>alert("x")</script>{{ 7*7 }}'


def test_html_and_template_syntax_are_shown_escaped_everywhere(db_session, owner, moderator, signed_in, make_clinic):
    values = valid_listing(name="N" + HOSTILE, description="D" + HOSTILE, street="1 " + HOSTILE,
                           city="Austin" + HOSTILE, hours_note="H" + HOSTILE)
    clinic = listings.create_listing(db_session, owner.id, values)
    listings.approve_listing(db_session, clinic.id, moderator.id)
    listings.report_problem(db_session, clinic.slug, "other", "R" + HOSTILE)
    listings.edit_listing(db_session, clinic.id, owner.id, db_session.get(Clinic, clinic.id).version,
                          dict(values, name="M" + HOSTILE))
    pages = []
    client = signed_in(owner)
    pages += [client.get(p).get_data(as_text=True) for p in
              ("/owner/", f"/owner/listings/{clinic.id}", *(f"/owner/listings/{clinic.id}/edit/{s}" for s in STEPS))]
    mod = signed_in(moderator)
    pages += [mod.get(p).get_data(as_text=True) for p in ("/moderate/", f"/moderate/listings/{clinic.id}")]
    pages += [client.get(p).get_data(as_text=True) for p in
              (f"/clinics/{clinic.slug}", f"/clinics/{clinic.slug}/report")]
    for page in pages:
        assert "<script>alert" not in page
        assert "&lt;script&gt;" in page
    # Shown as typed, never evaluated as a template (that would print 49).
    assert all("{{ 7*7 }}" in page for page in pages)


def test_bad_input_in_an_edit_keeps_the_listing(db_session, owner, moderator, signed_in):
    clinic = publish(db_session, owner, moderator)
    client = signed_in(owner)
    response = walk_steps(client, valid_listing(description="ok", website="javascript:alert(1)"),
                          path=f"/owner/listings/{clinic.id}/edit")
    assert response.status_code == 400 and "http:// or https://" in response.get_data(as_text=True)
    response = post_step(client, f"/owner/listings/{clinic.id}/edit", "review", {})
    assert response.status_code == 400  # submitting the draft is refused too
    db_session.expire_all()
    again = db_session.get(Clinic, clinic.id)
    assert again.description != "ok" and again.website == "https://www.calmharbor.example"
    assert count(db_session, ListingRevision) == 0
