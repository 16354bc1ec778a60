"""The listing services: submit, edit (immediate vs moderated), moderation, slugs, re-confirmation,
claims, problem reports, reminders and the audit log."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from kapfinder import listings
from kapfinder.errors import Conflict, InvalidParameter, NotFound
from kapfinder.models import AuditLog, Clinic, ListingRevision, ReminderSent
from tests.listings.conftest import valid_listing


def submit(db_session, owner, **overrides) -> Clinic:
    return listings.create_listing(db_session, owner.id, valid_listing(**overrides))


def published(db_session, owner, moderator, **overrides) -> Clinic:
    clinic = submit(db_session, owner, **overrides)
    return listings.approve_listing(db_session, clinic.id, moderator.id)


def reload(db_session, clinic_id) -> Clinic:
    db_session.expire_all()
    return db_session.get(Clinic, clinic_id)


def test_a_new_listing_is_pending_owned_and_placed_at_its_zip(db_session, owner):
    clinic = submit(db_session, owner)
    clinic = reload(db_session, clinic.id)
    assert clinic.status == "pending"
    assert clinic.owner_id == owner.id
    assert clinic.slug is None and clinic.verified_at is None
    assert (clinic.lat, clinic.lon) == pytest.approx((30.27, -97.74), abs=0.05)
    assert clinic.timezone == "America/Chicago"
    assert clinic.accepting_as_of == date.today()
    assert [(p.service, p.min_usd, p.max_usd, p.as_of) for p in clinic.prices] == [
        ("ketamine", 450, 600, date.today())]


def test_the_owner_can_correct_the_coordinates(db_session, owner):
    clinic = submit(db_session, owner, lat="30.2672", lon="-97.7431")
    assert (reload(db_session, clinic.id).lat, reload(db_session, clinic.id).lon) == (30.2672, -97.7431)


def test_approval_publishes_and_sets_verified_and_confirmed(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    clinic = reload(db_session, clinic.id)
    assert clinic.status == "published"
    assert clinic.verified_at is not None and clinic.confirmed_at == clinic.verified_at
    assert clinic.slug == "calm-harbor-ketamine-austin"


def test_slugs_are_ascii_folded_and_numbered_on_collision(db_session, owner, moderator):
    first = published(db_session, owner, moderator, name="Café Ñandú")
    second = published(db_session, owner, moderator, name="Cafe Nandu")
    third = published(db_session, owner, moderator, name="CAFÉ  nandú!")
    assert [first.slug, second.slug, third.slug] == ["cafe-nandu-austin", "cafe-nandu-austin-2", "cafe-nandu-austin-3"]


def test_the_slug_is_kept_on_rename(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    result = listings.edit_listing(db_session, clinic.id, owner.id, clinic.version,
                                   valid_listing(name="Calm Harbor Wellness"))
    listings.approve_revision(db_session, result.revision.id, moderator.id)
    clinic = reload(db_session, clinic.id)
    assert clinic.name == "Calm Harbor Wellness"
    assert clinic.slug == "calm-harbor-ketamine-austin"


def test_rejection_needs_a_reason_and_keeps_the_listing_private(db_session, owner, moderator):
    clinic = submit(db_session, owner)
    with pytest.raises(InvalidParameter):
        listings.reject_listing(db_session, clinic.id, moderator.id, "  ")
    listings.reject_listing(db_session, clinic.id, moderator.id, "NPI does not match the clinic")
    clinic = reload(db_session, clinic.id)
    assert clinic.status == "rejected" and clinic.slug is None
    reasons = [a.new for a in listings.audit_trail(db_session, clinic.id) if a.field == "reason"]
    assert reasons == ["NPI does not match the clinic"]


def test_a_decision_cannot_be_taken_twice(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    with pytest.raises(Conflict):
        listings.approve_listing(db_session, clinic.id, moderator.id)


def test_a_mixed_edit_publishes_immediate_fields_and_leaves_one_pending_revision(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    version = clinic.version
    result = listings.edit_listing(db_session, clinic.id, owner.id, version, valid_listing(
        description="Now with evening hours.", accepting_new_patients=False,
        prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 550}],
        phone="(512) 555-0199", npi="1000000020", methods=["iv"]))
    assert set(result.published) == {"description", "accepting_new_patients", "prices"}
    assert set(result.pending) == {"phone", "npi", "methods"}
    clinic = reload(db_session, clinic.id)
    assert clinic.version == version + 1
    assert clinic.description == "Now with evening hours."
    assert clinic.accepting_new_patients is False
    assert clinic.phone == "+15125550100" and clinic.npi == "1234567893" and clinic.methods == ["iv", "im"]
    revisions = db_session.scalars(select(ListingRevision).where(ListingRevision.clinic_id == clinic.id)).all()
    assert len(revisions) == 1 and revisions[0].status == "pending"
    assert revisions[0].changes["phone"] == {"old": "+15125550100", "new": "+15125550199"}

    # A second edit replaces the pending changes: still one pending revision.
    listings.edit_listing(db_session, clinic.id, owner.id, version + 1, valid_listing(
        description="Now with evening hours.", accepting_new_patients=False,
        prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 550}], phone="(512) 555-0142"))
    pending = db_session.scalars(select(ListingRevision).where(ListingRevision.status == "pending")).all()
    assert len(pending) == 1 and set(pending[0].changes) == {"phone"}

    listings.approve_revision(db_session, pending[0].id, moderator.id)
    clinic = reload(db_session, clinic.id)
    assert clinic.phone == "+15125550142"
    assert clinic.version == version + 3  # edit, edit, approval: each step bumps it
    assert clinic.confirmed_at == clinic.verified_at


@pytest.mark.parametrize("field,value", [
    ("name", "Another Name"), ("street", "200 Congress Ave"), ("zip", "78702"), ("lat", "30.3"),
    ("website", "https://other.example"), ("email", "new@calmharbor.example"), ("settings", ["in-clinic", "at-home"]),
    ("prescriber_types", ["np"]), ("therapist_licenses", ["lmft"]), ("vital_signs_monitoring", False),
    ("medical_screening", False),
])
def test_moderated_fields_wait_for_a_moderator(db_session, owner, moderator, field, value):
    clinic = published(db_session, owner, moderator)
    before = listings.snapshot(reload(db_session, clinic.id))
    extra = {"at_home_states": ["TX"]} if field == "settings" else {}
    if field == "lat":
        extra["lon"] = "-97.74"
    result = listings.edit_listing(db_session, clinic.id, owner.id, clinic.version,
                                   valid_listing(**{field: value}, **extra))
    assert field in result.pending and not result.published
    assert listings.snapshot(reload(db_session, clinic.id)) == before


@pytest.mark.parametrize("field,value", [
    ("description", "Changed"), ("hours_note", "Closed on holidays"), ("conditions", ["anxiety"]),
    ("therapy", "integrated"), ("therapy_extras", ["somatic"]), ("offers_evaluation", False),
    ("sliding_scale", True), ("hsa_fsa", True), ("accepting_new_patients", False),
    ("hours", [{"day": "tu", "opens": "10:00", "closes": "18:00"}]),
    ("insurance", [{"carrier": "cigna", "service": "ketamine", "network": "out-of-network", "plan_types": []}]),
])
def test_immediate_fields_publish_at_once(db_session, owner, moderator, field, value):
    clinic = published(db_session, owner, moderator)
    # Without the evaluation service, its insurance row has to go too (a row for a service not offered is refused).
    extra = {"insurance": []} if field == "offers_evaluation" else {}
    data = valid_listing(**{field: value}, **extra)
    result = listings.edit_listing(db_session, clinic.id, owner.id, clinic.version, data)
    assert set(result.published) == {field, *extra} and not result.pending and result.revision is None
    after = listings.snapshot(reload(db_session, clinic.id))
    assert after[field] == listings.clean_listing(db_session, data)[field]


def test_a_stale_form_is_refused_and_nothing_is_overwritten(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    opened = clinic.version
    listings.edit_listing(db_session, clinic.id, owner.id, opened, valid_listing(description="First editor"))
    with pytest.raises(Conflict) as err:
        listings.edit_listing(db_session, clinic.id, owner.id, opened, valid_listing(description="Second editor"))
    assert err.value.reason == "conflict"
    clinic = reload(db_session, clinic.id)
    assert clinic.description == "First editor" and clinic.version == opened + 1


def test_an_approved_revision_makes_open_forms_stale(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    result = listings.edit_listing(db_session, clinic.id, owner.id, clinic.version, valid_listing(name="New Name"))
    opened = reload(db_session, clinic.id).version
    listings.approve_revision(db_session, result.revision.id, moderator.id)
    with pytest.raises(Conflict):
        listings.edit_listing(db_session, clinic.id, owner.id, opened, valid_listing(description="late"))


def test_another_owners_listing_is_not_found_and_unchanged(db_session, owner, other_owner, moderator):
    clinic = published(db_session, owner, moderator)
    before = listings.snapshot(reload(db_session, clinic.id))
    with pytest.raises(NotFound):
        listings.edit_listing(db_session, clinic.id, other_owner.id, clinic.version, valid_listing(name="Mine now"))
    with pytest.raises(NotFound):
        listings.reconfirm(db_session, clinic.id, other_owner.id)
    assert listings.snapshot(reload(db_session, clinic.id)) == before


def test_a_rejected_listing_goes_back_to_review_when_edited(db_session, owner, moderator):
    clinic = submit(db_session, owner)
    listings.reject_listing(db_session, clinic.id, moderator.id, "Missing NPI proof")
    clinic = reload(db_session, clinic.id)
    listings.edit_listing(db_session, clinic.id, owner.id, clinic.version, valid_listing(name="Calm Harbor KAP"))
    clinic = reload(db_session, clinic.id)
    assert clinic.status == "pending" and clinic.name == "Calm Harbor KAP"


def test_moving_the_address_re_places_the_point_unless_the_owner_moved_it(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    form = listings.form_values(db_session, reload(db_session, clinic.id))
    form.update(zip="10001", city="New York", state="NY")
    result = listings.edit_listing(db_session, clinic.id, owner.id, clinic.version, form)
    assert result.pending["lat"]["new"] == pytest.approx(40.75, abs=0.05)
    assert result.pending["zip"]["new"] == "10001"


def test_reconfirm_refreshes_every_as_of_date(db_session, owner, moderator, make_clinic, days_ago):
    clinic = make_clinic(owner_id=owner.id, confirmed_at=days_ago(120), accepting_as_of=date.today() - timedelta(120),
                         insurance=[{"carrier": "aetna", "service": "ketamine", "network": "in-network",
                                     "as_of": date.today() - timedelta(120)}],
                         prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 400,
                                  "as_of": date.today() - timedelta(120)}])
    assert clinic.is_stale()
    listings.reconfirm(db_session, clinic.id, owner.id, clinic.version)
    clinic = reload(db_session, clinic.id)
    assert not clinic.is_stale()
    assert clinic.accepting_as_of == date.today()
    assert [r.as_of for r in clinic.insurance] == [date.today()]
    assert [r.as_of for r in clinic.prices] == [date.today()]
    assert [a.field for a in listings.audit_trail(db_session, clinic.id)] == ["confirmed_at"]


def test_every_change_is_in_the_audit_log(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    result = listings.edit_listing(db_session, clinic.id, owner.id, clinic.version,
                                   valid_listing(description="New words", phone="(512) 555-0177"))
    listings.approve_revision(db_session, result.revision.id, moderator.id)
    trail = listings.audit_trail(db_session, clinic.id)
    rows = {(a.action, a.field, a.user_id) for a in trail}
    assert ("created", "status", owner.id) in rows
    assert ("approved", "status", moderator.id) in rows
    assert ("edited", "description", owner.id) in rows
    assert ("proposed", "phone", owner.id) in rows
    assert ("approved", "phone", moderator.id) in rows
    desc = next(a for a in trail if a.field == "description")
    assert (desc.old, desc.new) == ("Ketamine-assisted psychotherapy in Austin.", "New words")
    assert all(a.created_at is not None for a in trail)


def test_the_queue_lists_everything_oldest_first(db_session, owner, other_owner, moderator, make_clinic, days_ago):
    old_listing = listings.create_listing(db_session, owner.id, valid_listing(), now=days_ago(3))
    live = published(db_session, owner, moderator, name="Live Clinic")
    listings.edit_listing(db_session, live.id, owner.id, live.version, valid_listing(name="Live Clinic 2"),
                          now=days_ago(2))
    unowned = make_clinic(slug="unowned-austin", website="https://unowned.example")
    listings.start_claim(db_session, "unowned-austin", other_owner.id, note="I run it", now=days_ago(1))
    listings.report_problem(db_session, "unowned-austin", "closed", "Shut last month")
    kinds = [(q.kind, q.clinic.id) for q in listings.moderation_queue(db_session)]
    assert kinds == [("listing", old_listing.id), ("revision", live.id), ("claim", unowned.id),
                     ("report", unowned.id)]


def test_claim_by_email_at_the_website_domain(db_session, owner, make_clinic):
    clinic = make_clinic(slug="sample-austin", website="https://www.sample-clinic.example", sample=True, owner_id=None)
    with pytest.raises(InvalidParameter) as err:
        listings.start_claim(db_session, "sample-austin", owner.id, email="me@gmail.com")
    assert err.value.reason == "claim_email_domain"
    claim, token = listings.start_claim(db_session, "sample-austin", owner.id, email="me@sample-clinic.example")
    assert token and claim.status == "pending"
    listings.confirm_claim(db_session, "sample-austin", token, owner.id)
    clinic = reload(db_session, clinic.id)
    assert clinic.owner_id == owner.id and clinic.sample is True
    from kapfinder.accounts import InvalidToken
    with pytest.raises((InvalidToken, Conflict)):
        listings.confirm_claim(db_session, "sample-austin", token, owner.id)


def test_a_claim_link_works_only_for_the_account_that_asked(db_session, owner, other_owner, make_clinic):
    from kapfinder.accounts import InvalidToken

    clinic = make_clinic(slug="x-austin", website="https://clinic.example", owner_id=None)
    _, token = listings.start_claim(db_session, "x-austin", owner.id, email="dr@clinic.example")
    with pytest.raises(InvalidToken):
        listings.confirm_claim(db_session, "x-austin", token, other_owner.id)
    listings.confirm_claim(db_session, "x-austin", token, owner.id)  # not burnt by the other account
    assert reload(db_session, clinic.id).owner_id == owner.id


def test_the_email_domain_may_be_a_parent_of_the_website_host(db_session, owner, make_clinic):
    make_clinic(slug="branch-austin", website="https://austin.bigclinic.example", owner_id=None)
    listings.start_claim(db_session, "branch-austin", owner.id, email="it@bigclinic.example")
    with pytest.raises(InvalidParameter):
        listings.start_claim(db_session, "branch-austin", owner.id, email="it@notbigclinic.example")


def test_claim_by_moderator_approval(db_session, owner, other_owner, moderator, make_clinic):
    clinic = make_clinic(slug="imported-austin", owner_id=None)
    claim, token = listings.start_claim(db_session, "imported-austin", owner.id, note="Licence #123, call me")
    assert token is None
    listings.approve_claim(db_session, claim.id, moderator.id)
    assert reload(db_session, clinic.id).owner_id == owner.id
    with pytest.raises(Conflict):  # owned listings cannot be claimed again
        listings.start_claim(db_session, "imported-austin", other_owner.id, note="No, mine")


def test_problem_reports_take_a_known_reason(db_session, make_clinic, moderator):
    make_clinic(slug="reported-austin")
    with pytest.raises(InvalidParameter):
        listings.report_problem(db_session, "reported-austin", "bad-vibes")
    report = listings.report_problem(db_session, "reported-austin", "phone-disconnected", "Rang twice")
    assert report.status == "open"
    listings.resolve_report(db_session, report.id, moderator.id, resolution="Phone fixed")
    assert report.status == "resolved"


def test_reports_on_private_listings_are_not_found(db_session, owner):
    clinic = submit(db_session, owner)
    with pytest.raises(NotFound):
        listings.report_problem(db_session, clinic.id, "closed")


def test_the_published_clinic_is_found_by_slug_or_id_and_nothing_else_is(db_session, owner, make_clinic):
    shown = make_clinic(slug="shown-austin")
    private = submit(db_session, owner)
    assert listings.published_clinic(db_session, "shown-austin").id == shown.id
    assert listings.published_clinic(db_session, clinic_id=shown.id).id == shown.id
    assert listings.published_clinic(db_session, "shown-austin", details=True).id == shown.id
    assert listings.published_clinic(db_session, clinic_id=private.id) is None
    assert listings.published_clinic(db_session, "no-such-austin") is None


def test_remind_mails_once_per_cycle_between_75_and_90_days(db_session, owner, other_owner, make_clinic, days_ago):
    due = make_clinic(owner_id=owner.id, confirmed_at=days_ago(80))
    make_clinic(owner_id=owner.id, confirmed_at=days_ago(70))  # too early
    make_clinic(owner_id=owner.id, confirmed_at=days_ago(95))  # already stale
    make_clinic(owner_id=None, confirmed_at=days_ago(80))  # nobody to mail
    sent = []
    assert listings.remind(db_session, lambda clinic, user: sent.append((clinic.id, user.email))) == 1
    assert sent == [(due.id, owner.email)]
    assert listings.remind(db_session, lambda c, u: sent.append(c.id)) == 0
    assert len(db_session.scalars(select(ReminderSent)).all()) == 1
    # A re-confirmation starts a new cycle: 80 days later it is reminded again.
    listings.reconfirm(db_session, due.id, owner.id, now=days_ago(160))
    assert listings.remind(db_session, lambda c, u: sent.append(c.id)) == 0  # 160 days: stale, no reminder
    listings.reconfirm(db_session, due.id, owner.id, now=days_ago(78))
    assert listings.remind(db_session, lambda c, u: sent.append(c.id)) == 1


def test_a_failed_mail_is_not_recorded_and_is_retried(db_session, owner, make_clinic, days_ago):
    make_clinic(owner_id=owner.id, confirmed_at=days_ago(80))

    def broken(clinic, user):
        raise RuntimeError("smtp down")

    with pytest.raises(RuntimeError):
        listings.remind(db_session, broken)
    assert db_session.scalars(select(ReminderSent)).all() == []
    assert listings.remind(db_session, lambda c, u: None) == 1


def test_owner_dashboard_rows(db_session, owner, other_owner, moderator):
    clinic = published(db_session, owner, moderator)
    submit(db_session, other_owner, name="Not Mine")
    listings.report_problem(db_session, clinic.slug, "price-wrong")
    rows = listings.owner_listings(db_session, owner.id)
    assert [(r.clinic.name, r.open_reports, r.stale) for r in rows] == [("Calm Harbor Ketamine", 1, False)]


def test_audit_values_are_json(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    rows = db_session.scalars(select(AuditLog).where(AuditLog.field == "verified_at")).all()
    assert isinstance(rows[0].new, str) and rows[0].new.startswith(str(date.today().year))
    assert clinic.verified_at is not None


def test_each_step_bumps_the_version_exactly_once(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    v = reload(db_session, clinic.id).version
    listings.reconfirm(db_session, clinic.id, owner.id, v)
    assert reload(db_session, clinic.id).version == v + 1
    form = listings.form_values(db_session, reload(db_session, clinic.id))
    form.update(zip="78702", description="moved", lat=None, lon=None)
    result = listings.edit_listing(db_session, clinic.id, owner.id, v + 1, form)
    assert reload(db_session, clinic.id).version == v + 2
    listings.approve_revision(db_session, result.revision.id, moderator.id)
    clinic = reload(db_session, clinic.id)
    assert clinic.version == v + 3 and clinic.zip == "78702"


def test_a_listing_without_a_website_is_claimed_through_a_moderator(db_session, owner, make_clinic):
    make_clinic(slug="no-site-austin", website=None, owner_id=None)
    with pytest.raises(InvalidParameter) as err:
        listings.start_claim(db_session, "no-site-austin", owner.id, email="me@anything.example")
    assert err.value.reason == "claim_needs_moderator"
    claim, token = listings.start_claim(db_session, "no-site-austin", owner.id, note="Call me at the clinic")
    assert claim.method == "moderator" and token is None


def test_a_revision_edited_after_the_moderator_saw_it_is_not_approved(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    first = listings.edit_listing(db_session, clinic.id, owner.id, clinic.version, valid_listing(phone="(512) 555-0101"))
    seen = first.revision.version  # what the moderator's page shows
    listings.edit_listing(db_session, clinic.id, owner.id, reload(db_session, clinic.id).version,
                          valid_listing(phone="(512) 555-0199"))
    with pytest.raises(Conflict) as err:
        listings.approve_revision(db_session, first.revision.id, moderator.id, expected_version=seen)
    assert err.value.reason == "changed_since_seen"
    with pytest.raises(Conflict):
        listings.reject_revision(db_session, first.revision.id, moderator.id, "no", expected_version=seen)
    assert reload(db_session, clinic.id).phone == "+15125550100"
    revision = db_session.get(ListingRevision, first.revision.id)
    assert revision.status == "pending" and revision.changes["phone"]["new"] == "+15125550199"
    listings.approve_revision(db_session, revision.id, moderator.id, expected_version=revision.version)
    assert reload(db_session, clinic.id).phone == "+15125550199"


def test_an_edit_that_leaves_the_waiting_changes_as_they_were_keeps_the_revision_version(db_session, owner, moderator):
    clinic = published(db_session, owner, moderator)
    first = listings.edit_listing(db_session, clinic.id, owner.id, clinic.version, valid_listing(phone="(512) 555-0101"))
    seen = first.revision.version
    listings.edit_listing(db_session, clinic.id, owner.id, reload(db_session, clinic.id).version,
                          valid_listing(phone="(512) 555-0101", description="Only the description moved."))
    listings.approve_revision(db_session, first.revision.id, moderator.id, expected_version=seen)
    assert reload(db_session, clinic.id).phone == "+15125550101"


def test_a_new_listing_edited_after_the_moderator_saw_it_is_not_published(db_session, owner, moderator):
    clinic = submit(db_session, owner)
    seen = clinic.version
    listings.edit_listing(db_session, clinic.id, owner.id, seen, valid_listing(phone="(512) 555-0199"))
    with pytest.raises(Conflict):
        listings.approve_listing(db_session, clinic.id, moderator.id, expected_version=seen)
    assert reload(db_session, clinic.id).status == "pending"
