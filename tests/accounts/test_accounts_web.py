"""Sign-up, confirmation, sign-in, reset and password change through the real pages."""
import re

import pytest

from sqlalchemy import select, update

from fixtures.accounts import DEFAULT_PASSWORD, csrf_token, mail_links, outbox_messages, post_form, sign_in
from kapfinder.models import AccountToken, User, utcnow

NEW_PASSWORD = "a brand new passphrase"


def _strip_tokens(html: str) -> str:
    return re.sub(r'value="[^"]*"', 'value=""', html)


def _users(db_session):
    return db_session.execute(select(User)).scalars().all()


def test_sign_up_confirm_and_sign_in(app, client, db_session):
    response = post_form(app.test_client(), "/account/sign-up", {
        "email": "New.Owner@Clinic.Example", "password": "a fine new passphrase", "confirm": "a fine new passphrase"},
        base_url="http://evil.example")
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    user = db_session.execute(select(User)).scalar_one()
    assert (user.email, user.role, user.is_confirmed) == ("new.owner@clinic.example", "owner", False)

    (message,) = outbox_messages(app)
    assert message["To"] == "new.owner@clinic.example"
    (link,) = mail_links(message)
    # Built from BASE_URL, never from the Host the request came with.
    assert link.startswith("http://kapfinder.test/account/confirm?token=")

    # Not confirmed yet: the right password gets a new link, not a session.
    assert sign_in(client, "new.owner@clinic.example", "a fine new passphrase").status_code == 200
    assert client.get("/account/").status_code == 302
    assert len(outbox_messages(app)) == 2
    link = mail_links(outbox_messages(app)[-1])[0]

    path = link.replace("http://kapfinder.test", "")
    landing = client.get(path)
    assert landing.status_code == 200
    assert landing.headers["Referrer-Policy"] == "no-referrer"
    token = path.split("token=")[1]
    done = client.post("/account/confirm", data={"token": token, "csrf_token": csrf_token(client, path)})
    assert done.status_code == 200
    assert done.headers["Referrer-Policy"] == "no-referrer"
    assert "confirmed" in done.get_data(as_text=True)
    again = client.get(path)
    assert again.status_code == 400
    assert again.headers["Referrer-Policy"] == "no-referrer"
    assert "no longer works" in again.get_data(as_text=True)

    assert sign_in(client, "new.owner@clinic.example", "a fine new passphrase").status_code == 302
    assert client.get("/account/").status_code == 200


def test_web_sign_up_makes_owners_only(client, db_session):
    post_form(client, "/account/sign-up", {"email": "x@clinic.example", "password": "a fine new passphrase",
                                          "confirm": "a fine new passphrase", "role": "moderator"})
    assert db_session.execute(select(User.role)).scalar_one() == "owner"


def test_sign_up_refuses_a_common_password_next_to_the_field(client, db_session):
    response = post_form(client, "/account/sign-up", {
        "email": "new@clinic.example", "password": "iloveyou1", "confirm": "iloveyou1"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert re.search(r'id="password-error"[^>]*>\s*<p>That password is one of the most common', html)
    assert _users(db_session) == []


def test_sign_up_refuses_a_short_password(client, db_session):
    response = post_form(client, "/account/sign-up", {"email": "new@clinic.example", "password": "s3cr3t",
                                                     "confirm": "s3cr3t"})
    assert response.status_code == 400
    assert "Use at least 8 characters." in response.get_data(as_text=True)
    assert _users(db_session) == []


def test_sign_up_answers_the_same_for_a_taken_address(app, client, make_user, db_session):
    make_user(email="owner@clinic.example")
    data = {"password": "a fine new passphrase", "confirm": "a fine new passphrase"}
    known = post_form(client, "/account/sign-up", {**data, "email": "owner@clinic.example"})
    unknown = post_form(app.test_client(), "/account/sign-up", {**data, "email": "someone@clinic.example"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    mails = {m["To"]: m for m in outbox_messages(app)}
    assert "already has one" in mails["owner@clinic.example"].get_body().get_content()
    # The existing account is untouched: its password still works, the attacker's does not.
    assert sign_in(client, "owner@clinic.example", "a fine new passphrase").status_code == 400
    assert sign_in(client, "owner@clinic.example", DEFAULT_PASSWORD).status_code == 302


def test_sign_in_answers_the_same_for_unknown_and_known_accounts(app, make_user):
    make_user(email="owner@clinic.example")
    known = sign_in(app.test_client(), "owner@clinic.example", "not the password")
    unknown = sign_in(app.test_client(), "nobody@clinic.example", "not the password")
    assert known.status_code == unknown.status_code == 400
    assert _strip_tokens(known.get_data(as_text=True)).replace("owner@", "X@") == \
        _strip_tokens(unknown.get_data(as_text=True)).replace("nobody@", "X@")
    assert "do not match an account" in known.get_data(as_text=True)


def test_a_deactivated_account_cannot_sign_in(client, make_user):
    make_user(email="closed@clinic.example", active=False)
    response = sign_in(client, "closed@clinic.example")
    assert response.status_code == 400
    assert "do not match an account" in response.get_data(as_text=True)


def test_password_reset_by_email(app, client, make_user, login):
    make_user(email="owner@clinic.example")
    other_device = app.test_client()
    login(other_device, "owner@clinic.example")

    response = post_form(app.test_client(), "/account/reset", {"email": "owner@clinic.example"},
                         base_url="http://evil.example")
    assert response.status_code == 200
    (link,) = mail_links(outbox_messages(app)[0])
    assert link.startswith("http://kapfinder.test/account/reset/password?token=")
    path = link.replace("http://kapfinder.test", "")

    landing = client.get(path)
    assert landing.status_code == 200
    assert landing.headers["Referrer-Policy"] == "no-referrer"
    token = path.split("token=")[1]
    form = {"token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
            "csrf_token": csrf_token(client, path)}
    done = client.post("/account/reset/password", data=form)
    assert done.status_code == 200
    assert done.headers["Referrer-Policy"] == "no-referrer"
    assert "has been changed" in done.get_data(as_text=True)

    # The reset signed out every device; the old password is gone, the new one works.
    assert other_device.get("/account/").status_code == 302
    assert sign_in(client, "owner@clinic.example", DEFAULT_PASSWORD).status_code == 400
    assert sign_in(client, "owner@clinic.example", NEW_PASSWORD).status_code == 302

    # The link worked once.
    reused = app.test_client()
    form["csrf_token"] = csrf_token(reused, "/account/reset")
    again = reused.post("/account/reset/password", data=form)
    assert again.status_code == 400
    assert "no longer works" in again.get_data(as_text=True)
    assert reused.get(path).status_code == 400


def test_reset_refuses_a_common_password_and_keeps_the_link(app, client, make_user):
    make_user(email="owner@clinic.example")
    post_form(client, "/account/reset", {"email": "owner@clinic.example"})
    path = mail_links(outbox_messages(app)[0])[0].replace("http://kapfinder.test", "")
    token = path.split("token=")[1]
    bad = client.post("/account/reset/password", data={
        "token": token, "password": "password123", "confirm": "password123", "csrf_token": csrf_token(client, path)})
    assert bad.status_code == 400
    assert "most common" in bad.get_data(as_text=True)
    assert client.get(path).status_code == 200


def test_an_expired_reset_link_is_refused(app, client, make_user, db_session):
    make_user(email="owner@clinic.example")
    post_form(client, "/account/reset", {"email": "owner@clinic.example"})
    path = mail_links(outbox_messages(app)[0])[0].replace("http://kapfinder.test", "")
    db_session.execute(update(AccountToken).values(expires_at=utcnow()))
    db_session.commit()
    response = client.get(path)
    assert response.status_code == 400
    assert "no longer works" in response.get_data(as_text=True)


def test_a_newer_reset_link_voids_the_older_one(app, client, make_user):
    make_user(email="owner@clinic.example")
    post_form(client, "/account/reset", {"email": "owner@clinic.example"})
    post_form(client, "/account/reset", {"email": "owner@clinic.example"})
    older, newer = (mail_links(m)[0].replace("http://kapfinder.test", "") for m in outbox_messages(app))
    assert client.get(older).status_code == 400
    assert client.get(newer).status_code == 200


def test_reset_answers_the_same_for_unknown_addresses(app, make_user):
    make_user(email="owner@clinic.example")
    known = post_form(app.test_client(), "/account/reset", {"email": "owner@clinic.example"})
    unknown = post_form(app.test_client(), "/account/reset", {"email": "nobody@clinic.example"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    assert [m["To"] for m in outbox_messages(app)] == ["owner@clinic.example"]


def test_change_password_signs_out_every_other_device(app, client, make_user, login):
    make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    other_device = app.test_client()
    login(other_device, "owner@clinic.example")
    post_form(app.test_client(), "/account/reset", {"email": "owner@clinic.example"})
    reset_path = mail_links(outbox_messages(app)[0])[0].replace("http://kapfinder.test", "")

    wrong = post_form(client, "/account/password", {
        "current_password": "not my password", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert wrong.status_code == 400
    assert "That is not your current password." in wrong.get_data(as_text=True)

    done = post_form(client, "/account/password", {
        "current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 200
    assert client.get("/account/").status_code == 200  # this device stays signed in
    assert other_device.get("/account/").status_code == 302  # every other one is out
    assert client.get(reset_path).status_code == 400  # older reset links are void
    assert sign_in(app.test_client(), "owner@clinic.example", NEW_PASSWORD).status_code == 302
    assert outbox_messages(app)[-1]["Subject"] == "Your kapfinder password was changed"


def test_change_password_needs_a_session(client):
    response = client.get("/account/password")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/sign-in?next=")


def test_a_post_without_csrf_token_is_refused_and_stores_nothing(client, db_session, make_user):
    response = client.post("/account/sign-up", data={
        "email": "new@clinic.example", "password": "a fine new passphrase", "confirm": "a fine new passphrase"})
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    assert _users(db_session) == []

    make_user(email="owner@clinic.example")
    assert client.post("/account/sign-in", data={"email": "owner@clinic.example",
                                                 "password": DEFAULT_PASSWORD}).status_code == 400
    assert client.get("/account/").status_code == 302
    assert client.post("/account/reset", data={"email": "owner@clinic.example"}).status_code == 400
    assert db_session.execute(select(AccountToken)).scalars().all() == []


@pytest.mark.parametrize("path", ["/owner/", "/account/password", "/", "/about"])
def test_every_signed_in_page_carries_sign_out_and_the_account_link(client, make_user, login, path):
    make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    page = client.get(path).get_data(as_text=True)
    form = re.search(r'<form method="post" action="/account/sign-out"[^>]*>(.*?)</form>', page, re.S)
    assert form, f"no sign-out form on {path}"
    assert 'name="csrf_token"' in form.group(1)
    assert 'href="/account/"' in page

    response = client.post("/account/sign-out", data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    assert client.get("/account/").status_code == 302  # signed out: sent to sign in


def test_visitors_see_no_sign_out_control(client):
    page = client.get("/").get_data(as_text=True)
    assert "/account/sign-out" not in page


def test_a_full_width_address_is_the_same_account(app, client, make_user, db_session):
    make_user(email="owner@example.com")
    response = post_form(client, "/account/sign-up", {"email": "ｏｗｎｅｒ@example.com", "password": "a quiet lake at dawn",
                                                      "confirm": "a quiet lake at dawn"})
    assert response.status_code == 200
    assert len(db_session().execute(select(User)).scalars().all()) == 1
    assert sign_in(client, "ＯＷＮＥＲ@EXAMPLE.COM").status_code == 302  # signs in to the one account


@pytest.mark.parametrize("email", ["оwner@example.com",  # a Cyrillic о among Latin letters
                                   "owner\u200b@example.com", "owner\u202e@example.com"])
def test_look_alike_and_invisible_addresses_are_refused_next_to_the_field(client, make_user, db_session, email):
    make_user(email="owner@example.com")
    response = post_form(client, "/account/sign-up", {"email": email, "password": "a quiet lake at dawn",
                                                      "confirm": "a quiet lake at dawn"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Type it again" in page or "Enter an email address" in page
    assert len(db_session().execute(select(User)).scalars().all()) == 1


@pytest.mark.parametrize("email", ["josé@clinic.example", "用户@例子.广告"])
def test_addresses_in_one_real_script_still_sign_up(client, db_session, email):
    response = post_form(client, "/account/sign-up", {"email": email, "password": "a quiet lake at dawn",
                                                      "confirm": "a quiet lake at dawn"})
    assert response.status_code == 200
    assert db_session().execute(select(User)).scalar_one().email == email


def test_opening_the_confirmation_link_confirms_nothing_until_the_button_is_pressed(app, client, db_session):
    post_form(client, "/account/sign-up", {"email": "new@clinic.example", "password": "a fine new passphrase",
                                           "confirm": "a fine new passphrase"})
    (link,) = mail_links(outbox_messages(app)[-1])
    path = link.replace("http://kapfinder.test", "")
    scanner = app.test_client()  # a mail scanner follows the link, twice
    for _ in range(2):
        page = scanner.get(path)
        assert page.status_code == 200
        assert "Confirm my email address" in page.get_data(as_text=True)
    user = db_session().execute(select(User).where(User.email == "new@clinic.example")).scalar_one()
    assert not user.is_confirmed
    assert sign_in(client, "new@clinic.example", "a fine new passphrase").status_code == 200  # not yet

    # The owner's own click still works: the page's button confirms.
    link = mail_links(outbox_messages(app)[-1])[0]  # signing in unconfirmed mailed a fresh link
    path = link.replace("http://kapfinder.test", "")
    token = path.split("token=")[1]
    done = post_form(client, "/account/confirm", {"token": token}, form_path=path)
    assert "Email address confirmed" in done.get_data(as_text=True)
    assert sign_in(client, "new@clinic.example", "a fine new passphrase").status_code == 302


def test_confirming_needs_the_csrf_token(app, client, db_session):
    post_form(client, "/account/sign-up", {"email": "new@clinic.example", "password": "a fine new passphrase",
                                           "confirm": "a fine new passphrase"})
    (link,) = mail_links(outbox_messages(app)[-1])
    token = link.split("token=")[1]
    assert client.post("/account/confirm", data={"token": token}).status_code == 400
    user = db_session().execute(select(User).where(User.email == "new@clinic.example")).scalar_one()
    assert not user.is_confirmed
