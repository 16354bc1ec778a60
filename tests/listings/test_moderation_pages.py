"""Moderators' pages, claims and problem reports through the real app, and the whole journey."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from fixtures.accounts import DEFAULT_PASSWORD, csrf_token, mail_links, outbox_messages, post_form
from kapfinder import listings
from kapfinder.models import Clinic, ProblemReport, User
from tests.listings.conftest import form_fields, post_decision, valid_listing, walk_steps


def test_only_moderators_reach_moderate(client, owner, signed_in):
    response = client.get("/moderate/")
    assert response.status_code == 302 and "/account/sign-in" in response.headers["Location"]
    owner_client = signed_in(owner)
    assert owner_client.get("/moderate/").status_code == 403
    token = csrf_token(owner_client, "/owner/listings/new/basics")
    assert owner_client.post("/moderate/listings/x/approve", data={"csrf_token": token}).status_code == 403


def test_queue_shows_everything_oldest_first_and_field_by_field_changes(db_session, owner, moderator, signed_in,
                                                                       make_clinic, days_ago):
    first = listings.create_listing(db_session, owner.id, valid_listing(name="Oldest Clinic"), now=days_ago(2))
    live = listings.approve_listing(db_session, listings.create_listing(
        db_session, owner.id, valid_listing(name="Live Clinic")).id, moderator.id)
    listings.edit_listing(db_session, live.id, owner.id, live.version,
                          valid_listing(name="Live Clinic", phone="(512) 555-0166"))
    make_clinic(slug="reported-austin", name="Reported Clinic")
    listings.report_problem(db_session, "reported-austin", "closed")
    mod = signed_in(moderator)
    page = mod.get("/moderate/").get_data(as_text=True)
    assert page.index("Oldest Clinic") < page.index("Live Clinic") < page.index("Reported Clinic")
    detail = mod.get(f"/moderate/listings/{live.id}").get_data(as_text=True)
    row = re.search(r'<th scope="row">phone</th><td class="old">(.*?)</td><td class="new">(.*?)</td>', detail)
    assert row and row.groups() == ("+15125550100", "+15125550166")
    assert "Audit log" in detail and moderator.email in detail and owner.email in detail
    assert first.id in mod.get("/moderate/").get_data(as_text=True)


def test_rejection_needs_a_reason_that_is_mailed_to_the_owner(app, db_session, owner, moderator, signed_in):
    clinic = listings.create_listing(db_session, owner.id, valid_listing())
    mod = signed_in(moderator)
    path = f"/moderate/listings/{clinic.id}"
    response = post_decision(mod, f"{path}/reject", {"reason": ""}, page=path)
    assert response.status_code == 302
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).status == "pending"
    post_decision(mod, f"{path}/reject", {"reason": "The NPI belongs to another clinic."}, page=path)
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).status == "rejected"
    (message,) = [m for m in outbox_messages(app) if m["To"] == owner.email]
    assert "The NPI belongs to another clinic." in message.get_content()


def test_revision_approval_and_rejection_through_the_page(app, db_session, owner, moderator, signed_in):
    clinic = listings.approve_listing(db_session, listings.create_listing(db_session, owner.id, valid_listing()).id,
                                      moderator.id)
    result = listings.edit_listing(db_session, clinic.id, owner.id, clinic.version, valid_listing(npi="1000000020"))
    mod = signed_in(moderator)
    path = f"/moderate/listings/{clinic.id}"
    post_decision(mod, f"/moderate/revisions/{result.revision.id}/approve", page=path)
    db_session.expire_all()
    clinic = db_session.get(Clinic, clinic.id)
    assert clinic.npi == "1000000020"
    assert any("changes" in m["Subject"] for m in outbox_messages(app))


def test_problem_report_is_anonymous_queued_and_mailed_to_the_owner(app, client, db_session, owner, make_clinic):
    clinic = make_clinic(slug="calm-austin", owner_id=owner.id)
    page = client.get("/clinics/calm-austin/report").get_data(as_text=True)
    for reason in listings.REPORT_REASONS.slugs:
        assert f'value="{reason}"' in page
    response = post_form(client, "/clinics/calm-austin/report", {"reason": "phone-disconnected", "note": "No answer"})
    assert response.status_code == 200 and "Thank you" in response.get_data(as_text=True)
    report = db_session.scalars(select(ProblemReport)).one()
    assert (report.clinic_id, report.reason, report.note, report.status) == (
        clinic.id, "phone-disconnected", "No answer", "open")
    assert [q.kind for q in listings.moderation_queue(db_session)] == ["report"]
    (message,) = outbox_messages(app)
    assert message["To"] == owner.email and "No answer" in message.get_content()


def test_problem_reports_need_a_reason_and_are_limited_to_5_an_hour(client, db_session, make_clinic):
    make_clinic(slug="busy-austin")
    assert post_form(client, "/clinics/busy-austin/report", {"reason": ""}).status_code == 400
    statuses = [post_form(client, "/clinics/busy-austin/report", {"reason": "other"}).status_code for _ in range(6)]
    assert statuses == [200] * 4 + [429, 429]  # the refused one above counted too
    assert db_session.scalar(select(func.count()).select_from(ProblemReport)) == 4


def test_private_listings_cannot_be_reported_or_claimed(db_session, owner, signed_in, client):
    clinic = listings.create_listing(db_session, owner.id, valid_listing())
    assert client.get(f"/clinics/{clinic.id}/report").status_code == 404
    assert signed_in(owner).get(f"/clinics/{clinic.id}/claim").status_code == 404


def test_claim_by_email_link(app, db_session, owner, signed_in, make_clinic):
    clinic = make_clinic(slug="sample-austin", website="https://www.sample-kap.example", owner_id=None, sample=True)
    client = signed_in(owner)
    bad = post_form(client, "/clinics/sample-austin/claim", {"method": "email", "email": "me@gmail.example"})
    assert bad.status_code == 400 and "sample-kap.example" in bad.get_data(as_text=True)
    ok = post_form(client, "/clinics/sample-austin/claim", {"method": "email", "email": "me@sample-kap.example"})
    assert ok.status_code == 200
    (message,) = outbox_messages(app)
    assert message["To"] == "me@sample-kap.example"
    (link,) = [link for link in mail_links(message) if "/claim/confirm" in link]
    assert link.startswith("http://kapfinder.test/")
    path = link.removeprefix("http://kapfinder.test")
    landing = client.get(path)
    assert landing.status_code == 200 and landing.headers["Referrer-Policy"] == "no-referrer"
    token = re.search(r'name="token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="token"', landing.get_data(as_text=True))
    token = token.group(1) or token.group(2)
    assert post_form(client, "/clinics/sample-austin/claim/confirm", {"token": token}, form_path=path).status_code == 302
    db_session.expire_all()
    clinic = db_session.get(Clinic, clinic.id)
    assert clinic.owner_id == owner.id and clinic.sample is True
    again = post_form(client, "/clinics/sample-austin/claim/confirm", {"token": token}, form_path=path)
    assert again.status_code in (400, 409)


def test_claim_by_moderator_approval(app, db_session, owner, moderator, signed_in, make_clinic):
    clinic = make_clinic(slug="imported-austin", owner_id=None)
    client = signed_in(owner)
    response = post_form(client, "/clinics/imported-austin/claim",
                         {"method": "moderator", "note": "I am the medical director; call the front desk."})
    assert response.status_code == 200
    mod = signed_in(moderator)
    page = mod.get(f"/moderate/listings/{clinic.id}").get_data(as_text=True)
    assert "I am the medical director" in page
    claim_id = re.search(r"/moderate/claims/(\d+)/approve", page).group(1)
    post_form(mod, f"/moderate/claims/{claim_id}/approve", {}, form_path=f"/moderate/listings/{clinic.id}")
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).owner_id == owner.id
    assert any(m["To"] == owner.email for m in outbox_messages(app))


def test_flask_listings_remind_mails_once(app, runner, db_session, owner, make_clinic, days_ago):
    make_clinic(owner_id=owner.id, confirmed_at=days_ago(80), name="Due Clinic")
    result = runner.invoke(args=["listings", "remind"])
    assert result.exit_code == 0 and "Sent 1 reminder" in result.output
    assert runner.invoke(args=["listings", "remind"]).output.strip() == "Sent 0 reminder(s)."
    (message,) = outbox_messages(app)
    assert message["To"] == owner.email and "Due Clinic" in message.get_content()
    assert any(link.startswith("http://kapfinder.test/owner/listings/") for link in mail_links(message))


def test_the_whole_journey(app, client, db_session, moderator, signed_in):
    # An owner registers and confirms the address.
    response = post_form(client, "/account/sign-up", {
        "email": "dr.rivera@harbor.example", "password": DEFAULT_PASSWORD, "confirm": DEFAULT_PASSWORD})
    assert response.status_code == 200
    (confirm_mail,) = outbox_messages(app)
    (link,) = [link for link in mail_links(confirm_mail) if "confirm" in link]
    confirm_path = link.removeprefix("http://kapfinder.test")
    landing = client.get(confirm_path)
    if landing.status_code == 200 and "csrf_token" in landing.get_data(as_text=True):
        token = re.search(r'name="token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="token"',
                          landing.get_data(as_text=True))
        data = {"token": token.group(1) or token.group(2)} if token else {}
        post_form(client, landing.request.path if hasattr(landing, "request") else confirm_path.split("?")[0],
                  data, form_path=confirm_path)
    db_session.expire_all()
    owner = db_session.scalars(select(User).where(User.email == "dr.rivera@harbor.example")).one()
    assert owner.is_confirmed
    # ... signs in, submits a listing and sees it pending.
    owner_client = signed_in(owner)
    response = walk_steps(owner_client, valid_listing(name="Harbor Rivera KAP"))
    assert response.status_code == 302
    assert "Pending review" in owner_client.get("/owner/").get_data(as_text=True)
    clinic = db_session.scalars(select(Clinic)).one()
    assert client.get("/api/v1/clinics", query_string={"location": "78701"}).get_json()["total"] == 0
    assert client.get(f"/api/v1/clinics/{clinic.id}").status_code == 404
    # A moderator approves it ...
    mod = signed_in(moderator)
    path = f"/moderate/listings/{clinic.id}"
    assert post_decision(mod, f"{path}/approve", page=path).status_code == 302
    # ... and patients find it.
    found = client.get("/api/v1/clinics", query_string={"location": "78701"}).get_json()
    assert [r["name"] for r in found["results"]] == ["Harbor Rivera KAP"]
    assert found["results"][0]["verified_at"]
    assert "Harbor Rivera KAP" in client.get("/search", query_string={"location": "Austin, TX"}).get_data(as_text=True)
    assert client.get("/clinics/harbor-rivera-kap-austin").status_code == 200
    assert any("published" in m["Subject"] for m in outbox_messages(app))


def test_pending_rejected_and_archived_listings_are_never_public(client, db_session, owner, moderator, make_clinic):
    pending = listings.create_listing(db_session, owner.id, valid_listing(name="Pending One"))
    rejected = listings.create_listing(db_session, owner.id, valid_listing(name="Rejected One"))
    listings.reject_listing(db_session, rejected.id, moderator.id, "no")
    archived = make_clinic(name="Archived One", slug="archived-one", status="archived")
    results = client.get("/api/v1/clinics", query_string={"location": "TX"}).get_json()["results"]
    assert results == []
    for clinic in (pending, rejected, archived):
        assert client.get(f"/api/v1/clinics/{clinic.id}").status_code == 404
    assert client.get("/clinics/archived-one").status_code == 404
    page = client.get("/search", query_string={"location": "TX"}).get_data(as_text=True)
    assert "Pending One" not in page and "Rejected One" not in page and "Archived One" not in page


def test_a_change_edited_since_the_moderator_opened_it_is_refused_and_the_new_diff_shown(
        app, db_session, owner, moderator, signed_in):
    clinic = listings.approve_listing(db_session, listings.create_listing(db_session, owner.id, valid_listing()).id,
                                      moderator.id)
    result = listings.edit_listing(db_session, clinic.id, owner.id, clinic.version, valid_listing(phone="(512) 555-0101"))
    mod = signed_in(moderator)
    path = f"/moderate/listings/{clinic.id}"
    approve = f"/moderate/revisions/{result.revision.id}/approve"
    opened = mod.get(path).get_data(as_text=True)
    assert "+15125550101" in opened
    # The owner edits again while the moderator reads: the one pending revision is rewritten.
    db_session.expire_all()
    listings.edit_listing(db_session, clinic.id, owner.id, db_session.get(Clinic, clinic.id).version,
                          valid_listing(phone="(512) 555-0199"))
    response = mod.post(approve, data=form_fields(opened, approve))
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "This change was edited since you opened it" in page
    row = re.search(r'<th scope="row">phone</th><td class="old">(.*?)</td><td class="new">(.*?)</td>', page)
    assert row and row.groups() == ("+15125550100", "+15125550199")
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).phone == "+15125550100"  # nothing unseen was published
    # Rejecting from the stale page is refused too, and the reason typed is kept.
    reject = f"/moderate/revisions/{result.revision.id}/reject"
    response = mod.post(reject, data={**form_fields(opened, reject), "reason": "Call us first."})
    assert response.status_code == 409 and "Call us first.</textarea>" in response.get_data(as_text=True)
    # From the page that shows the new number, approval publishes it.
    assert post_decision(mod, approve, page=path).status_code == 302
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).phone == "+15125550199"


def test_a_decision_without_the_version_seen_is_refused(db_session, owner, moderator, signed_in):
    clinic = listings.create_listing(db_session, owner.id, valid_listing())
    mod = signed_in(moderator)
    path = f"/moderate/listings/{clinic.id}"
    response = post_form(mod, f"{path}/approve", {}, form_path=path)
    assert response.status_code == 409
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).status == "pending"
