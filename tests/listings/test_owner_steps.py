"""The owner's listing form, step by step, through the real app (no JavaScript): each step saves a
draft that survives signing out, shows its own errors next to the fields and links them from the
summary, adds and removes insurance rows and opening times, places the clinic from its ZIP code (the
owner may correct it), and keeps the listing rules (pending new listings, moderated fields, the
version check) for drafts started from an older version."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from fixtures.accounts import csrf_token
from kapfinder import geo, listings
from kapfinder.models import Clinic, ListingDraft, ListingRevision
from tests.listings.conftest import (STEPS, form_data, hidden_values, post_step, valid_listing,
                                     walk_steps)

NEW = "/owner/listings/new"


def count(db_session, model=Clinic) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model))


def text(response) -> str:
    return response.get_data(as_text=True)


def summary_links(page: str) -> dict[str, str]:
    """The error summary's links: href -> text."""
    block = re.search(r'id="error-summary".*?</ul>', page, re.S)
    return dict(re.findall(r'<a href="([^"]*)">([^<]*)</a>', block.group(0))) if block else {}


def field_block(page: str, field_id: str) -> str:
    """The field's box: from its id to the next field's (its label, hint, errors and control)."""
    start = page.find(f'id="field-{field_id}"')
    assert start >= 0, f"no field {field_id}"
    end = page.find('id="field-', start + 1)
    return page[start:end if end > 0 else None]


def publish(db_session, owner, moderator, **overrides) -> Clinic:
    clinic = listings.create_listing(db_session, owner.id, valid_listing(**overrides))
    return listings.approve_listing(db_session, clinic.id, moderator.id)


# --- steps, progress and buttons ------------------------------------------------------------------

def test_each_step_is_a_page_with_progress_and_a_primary_button(owner, signed_in):
    client = signed_in(owner)
    assert client.get(NEW).headers["Location"].endswith(f"{NEW}/basics")
    titles = ["Basics and address", "Methods and care", "Insurance and prices", "Safety and hours",
              "Review and submit"]
    for n, (step, title) in enumerate(zip(STEPS, titles), start=1):
        page = text(client.get(f"{NEW}/{step}"))
        assert f"Step {n} of 5:</span> {title}" in page
        steps = re.search(r'<ol class="steps".*?</ol>', page, re.S).group(0)
        assert steps.count("<li") == 5
        current = re.findall(r'<li[^>]*aria-current="step"[^>]*>(.*?)</li>', steps, re.S)
        assert len(current) == 1 and title in current[0]
        primary = "Submit for review" if step == "review" else "Save and continue"
        assert re.search(rf'class="button button-primary">{primary}</button>', page)
        assert ('value="back"' in page) == (n > 1)
    # Coordinates are never asked before the review, and only there inside "Correct the map position".
    for step in STEPS[:-1]:
        assert 'name="lat"' not in text(client.get(f"{NEW}/{step}"))
    review = text(client.get(f"{NEW}/review"))
    assert re.search(r'<details[^>]*>\s*<summary>Correct the map position</summary>.*name="lat"', review, re.S)
    assert "map pin" not in review


def test_a_step_saves_the_draft_and_moves_on(db_session, owner, signed_in):
    client = signed_in(owner)
    response = post_step(client, NEW, "basics", form_data(valid_listing(name="Step One Clinic")))
    assert response.status_code == 303 and response.headers["Location"].endswith(f"{NEW}/care")
    draft = db_session.scalars(select(ListingDraft)).one()
    assert (draft.owner_id, draft.clinic_id, draft.step, draft.data["name"]) == (owner.id, None, "care",
                                                                               "Step One Clinic")
    assert count(db_session) == 0  # a draft is not a listing
    assert 'value="Step One Clinic"' in text(client.get(f"{NEW}/basics"))
    # Back saves too, and goes to the step before.
    response = post_step(client, NEW, "care", {"methods": ["oral"]}, action="back")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"{NEW}/basics")
    db_session.expire_all()
    assert db_session.scalars(select(ListingDraft)).one().data["methods"] == ["oral"]


def test_a_step_shows_its_own_errors_next_to_the_fields_and_links_them_from_the_summary(db_session, owner,
                                                                                      signed_in):
    client = signed_in(owner)
    response = post_step(client, NEW, "basics", form_data(valid_listing(name="", phone="12", methods=[])))
    assert response.status_code == 400
    page = text(response)
    assert "This field is required." in field_block(page, "name")
    assert "US phone number" in field_block(page, "phone")
    assert 'aria-invalid="true"' in field_block(page, "phone")
    links = summary_links(page)
    assert links.get("#name") == "Clinic name: This field is required."
    assert links.get("#phone", "").startswith("Phone: Enter a US phone number")
    assert len(links) == 2  # methods belong to the next step: not this page's problem
    # What was typed is kept in the draft and shown again.
    assert 'value="12"' in page
    assert db_session.scalars(select(ListingDraft)).one().data["phone"] == "12"


def test_an_error_caused_by_one_step_is_shown_on_the_step_of_its_field(owner, signed_in):
    client = signed_in(owner)
    data = form_data(valid_listing(methods=["esketamine-nasal"], rems_certified=False,
                                   prices=[{"service": "esketamine", "min_usd": 700, "max_usd": 900}]))
    for step in ("basics", "care", "prices"):
        assert post_step(client, NEW, step, data).status_code == 303
    response = post_step(client, NEW, "safety", data)
    assert response.status_code == 400
    assert "REMS-certified" in field_block(text(response), "rems_certified")
    assert "#field-rems_certified" not in summary_links(text(response))  # a single checkbox: its own id
    assert any(href == "#rems_certified" for href in summary_links(text(response)))


def test_the_review_lists_every_remaining_problem_with_links_to_its_step(owner, signed_in):
    client = signed_in(owner)
    post_step(client, NEW, "basics", form_data(valid_listing(zip="10001")), action="later")
    response = post_step(client, NEW, "review", {})
    assert response.status_code == 400
    links = summary_links(text(response))
    assert links[f"{NEW}/basics#zip"] == "ZIP code: ZIP code 10001 is not in TX."
    assert links[f"{NEW}/care#field-methods"].startswith("Administration methods:")
    assert "Something here needs your attention." in text(response)


def test_the_summary_of_other_forms_links_each_error_too(client):
    token = csrf_token(client, "/account/sign-up")
    response = client.post("/account/sign-up", data={"csrf_token": token, "email": "not-an-address",
                                                      "password": "x", "confirm": "y"})
    assert response.status_code == 400
    links = summary_links(text(response))
    assert any(href == "#email" for href in links), links
    assert any(href == "#confirm" for href in links), links


def test_radio_buttons_are_a_fieldset_with_a_legend_not_a_bulleted_list(owner, signed_in):
    client = signed_in(owner)
    page = text(client.get(f"{NEW}/care"))
    for name in ("therapy", "accepting_new_patients"):
        block = field_block(page, name)
        assert block.startswith(f'id="field-{name}"') and "<legend" in block
        assert '<ul class="choices">' in block and 'type="radio"' in block


# --- drafts -------------------------------------------------------------------------------------

def test_a_draft_survives_signing_out_and_shows_on_the_dashboard(app, db_session, owner, signed_in):
    client = signed_in(owner)
    post_step(client, NEW, "basics", form_data(valid_listing(name="Half Done Clinic")))
    post_step(client, NEW, "care", form_data(valid_listing()), action="later")
    client.post("/account/sign-out", data={"csrf_token": csrf_token(client, "/account/")})
    assert client.get("/owner/").status_code == 302  # signed out

    again = signed_in(owner)
    dashboard = text(again.get("/owner/"))
    assert "Half Done Clinic" in dashboard and "Continue your draft" in dashboard
    assert "Add a new listing" not in dashboard
    assert f'href="{NEW}/care"' in dashboard  # where the owner left off
    assert again.get(NEW).headers["Location"].endswith(f"{NEW}/care")
    assert 'value="Half Done Clinic"' in text(again.get(f"{NEW}/basics"))
    # Finishing it makes the listing (pending) and ends the draft.
    assert walk_steps(again, valid_listing(name="Half Done Clinic"), steps=("safety", "review")).status_code == 302
    clinic = db_session.scalars(select(Clinic)).one()
    assert (clinic.name, clinic.status, clinic.owner_id) == ("Half Done Clinic", "pending", owner.id)
    assert clinic.methods == ["iv", "im"]  # saved by the care step before signing out
    assert count(db_session, ListingDraft) == 0
    assert "Continue your draft" not in text(again.get("/owner/"))


def test_a_draft_can_be_discarded(db_session, owner, moderator, signed_in):
    clinic = publish(db_session, owner, moderator)
    client = signed_in(owner)
    post_step(client, NEW, "basics", form_data(valid_listing(name="Never Mind")))
    path = f"/owner/listings/{clinic.id}/edit"
    post_step(client, path, "basics", form_data(valid_listing(description="Maybe later")))
    assert count(db_session, ListingDraft) == 2
    dashboard = text(client.get("/owner/"))
    assert "Continue your draft of changes" in dashboard
    token = csrf_token(client, "/owner/")
    assert client.post(f"{path}/discard", data={"csrf_token": token}).status_code == 302
    assert client.post(f"{NEW}/discard", data={"csrf_token": token}).status_code == 302
    assert count(db_session, ListingDraft) == 0
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).description == valid_listing()["description"]
    dashboard = text(client.get("/owner/"))
    assert "Never Mind" not in dashboard and "Add a new listing" in dashboard


def test_another_owners_draft_and_listing_answer_404(db_session, owner, other_owner, moderator, signed_in):
    clinic = publish(db_session, owner, moderator)
    mine = signed_in(owner)
    path = f"/owner/listings/{clinic.id}/edit"
    post_step(mine, path, "basics", form_data(valid_listing(description="Owner's secret draft")))
    post_step(mine, NEW, "basics", form_data(valid_listing(name="Owner's new clinic")))
    draft_before = {d.id: dict(d.data) for d in db_session.scalars(select(ListingDraft))}

    other = signed_in(other_owner)
    token = csrf_token(other, f"{NEW}/basics")
    for step in STEPS:
        assert other.get(f"{path}/{step}").status_code == 404
        assert other.post(f"{path}/{step}", data={**form_data(valid_listing(description="Hijack")),
                                                  "csrf_token": token, "action": "next"}).status_code == 404
    for action in ("discard", "update"):
        assert other.post(f"{path}/{action}", data={"csrf_token": token}).status_code == 404
    # Their own new listing starts blank: drafts belong to one owner.
    for step in STEPS:
        page = text(other.get(f"{NEW}/{step}"))
        assert "Owner&#39;s new clinic" not in page and "secret draft" not in page
    assert other.post(f"{NEW}/discard", data={"csrf_token": token}).status_code == 302
    db_session.expire_all()
    assert {d.id: dict(d.data) for d in db_session.scalars(select(ListingDraft))} == draft_before
    assert "Owner" not in text(other.get("/owner/"))


# --- insurance rows and opening times without JavaScript ----------------------------------------------

def with_spravato(**overrides) -> dict:
    """A listing offering Spravato too, so that the rows below cover services it offers."""
    return valid_listing(methods=["iv", "esketamine-nasal"], rems_certified=True, **overrides)


def insurance_rows(n: int) -> list[dict]:
    carriers = ["aetna", "cigna", "humana", "uhc", "kaiser", "oscar"]
    return [{"carrier": carriers[i], "service": "esketamine" if i % 2 else "evaluation",
             "network": "in-network", "plan_types": ["ppo"] if i == 0 else []} for i in range(n)]


def test_insurance_rows_are_added_and_removed_as_needed(db_session, owner, signed_in):
    client = signed_in(owner)
    values = with_spravato(insurance=insurance_rows(1))
    for step in ("basics", "care"):
        post_step(client, NEW, step, form_data(values))
    assert text(client.get(f"{NEW}/prices")).count('class="insurance-row"') == 1  # not three blank ones
    # "Add another insurance row" saves what is there and shows one more empty row, five times over.
    for n in range(1, 6):
        response = post_step(client, NEW, "prices", form_data(with_spravato(insurance=insurance_rows(n))),
                             action="add-insurance")
        assert response.status_code == 303 and response.headers["Location"].endswith(f"/prices#insurance-row-{n}")
        page = text(client.get(f"{NEW}/prices"))
        assert page.count('class="insurance-row"') == n + 1
        assert f'name="insurance-{n}-carrier"' in page
    post_step(client, NEW, "prices", form_data(with_spravato(insurance=insurance_rows(6))))
    # Remove the second row: the others stay, in order.
    response = post_step(client, NEW, "prices", form_data(with_spravato(insurance=insurance_rows(6))),
                         action="remove-insurance-1")
    assert response.status_code == 303
    page = text(client.get(f"{NEW}/prices"))
    assert page.count('class="insurance-row"') == 5 and "Remove insurance row 5" in page
    for step in ("safety", "review"):
        response = post_step(client, NEW, step, form_data(values))
    assert response.status_code == 302
    clinic = db_session.scalars(select(Clinic)).one()
    kept = insurance_rows(6)
    del kept[1]
    assert sorted((r.carrier, r.service) for r in clinic.insurance) == sorted((r["carrier"], r["service"]) for r in kept)


def test_removing_every_insurance_row_means_self_pay(db_session, owner, signed_in):
    client = signed_in(owner)
    data = form_data(valid_listing())
    post_step(client, NEW, "prices", data, action="remove-insurance-0")
    page = text(client.get(f"{NEW}/prices"))
    assert 'class="insurance-row"' not in page and "every service is self-pay" in page
    assert "Add another insurance row" in page
    assert walk_steps(client, valid_listing(insurance=[]), steps=("basics", "care", "safety", "review")
                      ).status_code == 302
    assert db_session.scalars(select(Clinic)).one().insurance == []


def test_an_incomplete_insurance_row_is_explained_on_its_step(owner, signed_in):
    client = signed_in(owner)
    bad = [{"carrier": "aetna", "service": "", "network": "in-network", "plan_types": []}]
    response = post_step(client, NEW, "prices", form_data(valid_listing(insurance=bad)))
    assert response.status_code == 400
    page = text(response)
    assert "needs a carrier, a service and a network" in field_block(page, "insurance")
    assert summary_links(page).get("#field-insurance", "").startswith("Insurance: Each insurance row")


def test_a_second_opening_time_on_one_day_is_added_without_javascript(db_session, owner, moderator, signed_in):
    client = signed_in(owner)
    data = form_data(valid_listing())
    response = post_step(client, NEW, "safety", data, action="add-hours")
    assert response.status_code == 303 and response.headers["Location"].endswith("/safety#hours-row-0")
    page = text(client.get(f"{NEW}/safety"))
    assert 'name="hours-x0-day"' in page
    data.update({"hours-mo-opens": "09:00", "hours-mo-closes": "12:00", "hours-x0-day": "mo",
                 "hours-x0-opens": "13:00", "hours-x0-closes": "17:00"})
    for step in STEPS:
        response = post_step(client, NEW, step, data)
    assert response.status_code == 302
    clinic = db_session.scalars(select(Clinic)).one()
    assert clinic.hours == [{"day": "mo", "opens": "09:00", "closes": "12:00"},
                            {"day": "mo", "opens": "13:00", "closes": "17:00"}]
    # Editing it later shows both, so saving the form never drops one.
    listings.approve_listing(db_session, clinic.id, moderator.id)
    page = text(client.get(f"/owner/listings/{clinic.id}/edit/safety"))
    assert 'name="hours-x0-opens"' in page and 'value="13:00"' in page
    post_step(client, f"/owner/listings/{clinic.id}/edit", "safety", {"action": "x"}, action="remove-hours-0")
    page = text(client.get(f"/owner/listings/{clinic.id}/edit/safety"))
    assert 'name="hours-x0-day"' not in page


# --- coordinates ------------------------------------------------------------------------------------

def test_the_clinic_is_placed_at_its_zip_code_and_the_review_says_where(db_session, owner, signed_in):
    client = signed_in(owner)
    walk_steps(client, valid_listing(), steps=STEPS[:-1])
    page = text(client.get(f"{NEW}/review"))
    assert "Shown at the centre of ZIP 78701, Austin, TX." in page
    assert post_step(client, NEW, "review", {"lat": "", "lon": ""}).status_code == 302
    clinic = db_session.scalars(select(Clinic)).one()
    centre = geo.lookup_zip(db_session, "78701")
    assert (clinic.lat, clinic.lon) == (round(centre.lat, 6), round(centre.lon, 6))


def test_the_owner_may_correct_the_position_and_a_new_address_drops_the_correction(db_session, owner, signed_in):
    client = signed_in(owner)
    walk_steps(client, valid_listing(), steps=STEPS[:-1])
    response = post_step(client, NEW, "review", {"lat": "30.2649", "lon": "-97.7470"}, action="back")
    assert response.status_code == 303
    page = text(client.get(f"{NEW}/review"))
    assert "Shown where you put it: 30.26490, -97.74700." in page
    assert re.search(r'<details class="form-details correction" open>', page)
    assert 'value="30.2649"' in page
    # A bad correction is explained next to the field, inside the opened disclosure.
    response = post_step(client, NEW, "review", {"lat": "300", "lon": "-97.7470"})
    assert response.status_code == 400
    assert "from -90 to 90" in field_block(text(response), "lat")
    assert summary_links(text(response)).get("#lat", "").startswith("Latitude:")
    # Moving the clinic to another ZIP code drops a correction made for the old address.
    post_step(client, NEW, "review", {"lat": "30.2649", "lon": "-97.7470"}, action="back")
    post_step(client, NEW, "basics", form_data(valid_listing(street="500 Main St", zip="78702")))
    assert "Shown at the centre of ZIP 78702, Austin, TX." in text(client.get(f"{NEW}/review"))
    # Correct it again and submit: the listing is where the owner put it.
    assert post_step(client, NEW, "review", {"lat": "30.2627", "lon": "-97.7147"}).status_code == 302
    clinic = db_session.scalars(select(Clinic)).one()
    assert (clinic.lat, clinic.lon, clinic.zip) == (30.2627, -97.7147, "78702")


def test_an_unchanged_edit_changes_nothing_even_with_precise_coordinates(db_session, owner, moderator, signed_in):
    clinic = publish(db_session, owner, moderator, lat=30.27130456789, lon=-97.74260123456)
    version = clinic.version
    client = signed_in(owner)
    path = f"/owner/listings/{clinic.id}/edit"
    assert "Shown where it is now (30.27130, -97.74260)" in text(client.get(f"{path}/review"))
    # Post every step back exactly as the browser shows it.
    for step in STEPS:
        page = text(client.get(f"{path}/{step}"))
        data = _browser_post(page)
        data.update(hidden_values(page))
        data["action"] = "next"
        response = client.post(f"{path}/{step}", data=data)
        assert response.status_code in (302, 303), (step, response.status_code)
    db_session.expire_all()
    assert count(db_session, ListingRevision) == 0
    again = db_session.get(Clinic, clinic.id)
    assert (again.lat, again.lon) == (30.27130456789, -97.74260123456)
    assert listings.snapshot(again) == listings.snapshot(clinic) and again.version == version + 1


def _browser_post(page: str):
    """What a browser posts for the form on ``page`` untouched: text inputs, ticked boxes, chosen options."""
    from html import unescape
    from werkzeug.datastructures import MultiDict

    form = re.search(r'<form[^>]*id="step-form".*?</form>', page, re.S).group(0)
    data = MultiDict()
    for tag in re.findall(r"<input[^>]*>", form):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', tag))
        if "name" not in attrs or attrs.get("type") in ("hidden", "submit"):
            continue
        if attrs.get("type") in ("checkbox", "radio") and "checked" not in tag:
            continue
        data.add(attrs["name"], unescape(attrs.get("value", "y" if attrs.get("type") == "checkbox" else "")))
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"|<option[^>]*value="([^"]*)"[^>]*selected', body)
        data.add(name, unescape((chosen.group(1) or chosen.group(2)) if chosen else ""))
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        data.add(name, unescape(body.removeprefix("\r\n").removeprefix("\n")))
    return data


# --- the listing rules still hold --------------------------------------------------------------------

def test_editing_a_published_listing_leaves_one_pending_revision(db_session, owner, moderator, signed_in):
    clinic = publish(db_session, owner, moderator)
    client = signed_in(owner)
    path = f"/owner/listings/{clinic.id}/edit"
    values = valid_listing(description="New description", phone="(512) 555-0177", accepting_new_patients=False)
    for step in STEPS[:-1]:
        post_step(client, path, step, form_data(values))
    response = post_step(client, path, "review", {"lat": "30.2649", "lon": "-97.7470"})
    assert response.status_code == 302
    db_session.expire_all()
    live = db_session.get(Clinic, clinic.id)
    assert live.description == "New description" and live.accepting_new_patients is False  # published at once
    assert live.phone == "+15125550100" and live.lat != 30.2649  # moderated: waiting
    revision = db_session.scalars(select(ListingRevision)).one()
    assert set(revision.changes) == {"phone", "lat", "lon"}
    assert revision.changes["lat"]["new"] == 30.2649
    assert count(db_session, ListingDraft) == 0


def test_a_draft_started_before_the_listing_changed_is_refused_then_brought_up_to_date(db_session, owner,
                                                                                      moderator, signed_in):
    clinic = publish(db_session, owner, moderator, hours_note="Closed on holidays")
    client = signed_in(owner)
    path = f"/owner/listings/{clinic.id}/edit"
    post_step(client, path, "basics", form_data(valid_listing(description="From the draft")))
    # Meanwhile the listing changes (another tab, or a moderator's decision).
    current = db_session.get(Clinic, clinic.id)
    listings.edit_listing(db_session, clinic.id, owner.id, current.version,
                          valid_listing(hours_note="Evenings too", description="From elsewhere"))
    db_session.expire_all()
    version_after = db_session.get(Clinic, clinic.id).version

    page = text(client.get(f"{path}/care"))
    assert "This listing changed since you started this draft." in page
    assert "Changed meanwhile: description, notes on hours." in page
    response = post_step(client, path, "review", {})
    assert response.status_code == 409
    assert "This listing changed since you opened it." in text(response)
    db_session.expire_all()
    kept = db_session.get(Clinic, clinic.id)
    assert (kept.description, kept.hours_note, kept.version) == ("From elsewhere", "Evenings too", version_after)

    # Bring the draft up to date: the owner's own change wins, the rest is the listing as it is now.
    token = hidden_values(text(client.get(f"{path}/review")))["csrf_token"]
    response = client.post(f"{path}/update", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{path}/review")
    assert "Your changes to description replace newer ones" in text(client.get(response.headers["Location"]))
    assert post_step(client, path, "review", {}).status_code == 302
    db_session.expire_all()
    done = db_session.get(Clinic, clinic.id)
    assert (done.description, done.hours_note) == ("From the draft", "Evenings too")


def test_a_step_page_from_before_a_change_is_refused_and_stores_nothing(db_session, owner, moderator, signed_in):
    clinic = publish(db_session, owner, moderator)
    client = signed_in(owner)
    path = f"/owner/listings/{clinic.id}/edit"
    hidden = hidden_values(text(client.get(f"{path}/basics")))
    listings.reconfirm(db_session, clinic.id, owner.id)  # bumps the version
    response = client.post(f"{path}/basics", data={**form_data(valid_listing(name="Renamed")), **hidden,
                                                   "action": "next"})
    assert response.status_code == 409
    assert count(db_session, ListingDraft) == 0
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).name == "Calm Harbor Ketamine"


def test_a_new_listing_from_the_steps_waits_for_a_moderator_and_is_not_public(client, db_session, owner,
                                                                             signed_in):
    owner_client = signed_in(owner)
    response = walk_steps(owner_client, valid_listing(name="Stepwise Clinic"))
    assert response.status_code == 302
    assert "waiting for a moderator" in text(owner_client.get(response.headers["Location"]))
    clinic = db_session.scalars(select(Clinic)).one()
    assert clinic.status == "pending" and clinic.verified_at is None
    assert client.get("/api/v1/clinics", query_string={"location": "78701"}).get_json()["total"] == 0


def test_sign_in_is_still_needed_for_every_step(client, owner):
    for step in STEPS:
        assert "/account/sign-in" in client.get(f"{NEW}/{step}").headers["Location"]
