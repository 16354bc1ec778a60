"""Rate limits on sign-in, sign-up and reset, and the structured auth log."""
import json
import logging
import re

import pytest
from sqlalchemy import select

import kapfinder.throttle
from fixtures.accounts import DEFAULT_PASSWORD, mail_links, outbox_messages, post_form, sign_in
from kapfinder.extensions import limiter
from kapfinder.models import RateLimitWindow


class Clock:
    """The limiter's clock, moved by the test instead of by waiting. It starts a second into a
    clock hour, as windows are aligned to the clock: a test's hour never straddles two windows."""

    def __init__(self):
        import time
        self.now = time.time() // 3600 * 3600 + 1

    def time(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(kapfinder.throttle, "time", clock)
    return clock


def _from(address):
    return {"environ_base": {"REMOTE_ADDR": address}}


def _attempt(client, email, address, password="wrong password here"):
    return post_form(client, "/account/sign-in", {"email": email, "password": password}, **_from(address))


def test_sign_in_is_limited_to_5_a_minute_per_account(app, client, make_user, clock):
    make_user(email="owner@clinic.example")
    for i in range(5):
        assert _attempt(client, "owner@clinic.example", f"10.0.0.{i}").status_code == 400
    # A sixth try from yet another address, even with the right password (and the address spelt
    # differently), is refused.
    refused = _attempt(client, " Owner@Clinic.example", "10.0.0.99", DEFAULT_PASSWORD)
    assert refused.status_code == 429
    assert "Too many sign-in attempts" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get("/account/").status_code == 302
    # Another account is not affected.
    make_user(email="other@clinic.example")
    assert _attempt(client, "other@clinic.example", "10.0.0.99", DEFAULT_PASSWORD).status_code == 302
    # A minute later it works again.
    clock.advance(61)
    assert _attempt(app.test_client(), "owner@clinic.example", "10.0.0.100", DEFAULT_PASSWORD).status_code == 302


def test_sign_in_is_limited_to_20_an_hour_per_account(app, make_user, clock):
    make_user(email="owner@clinic.example")
    client = app.test_client()
    for i in range(20):
        if i and i % 5 == 0:
            clock.advance(61)
        assert _attempt(client, "owner@clinic.example", f"10.0.1.{i}").status_code == 400, i
    clock.advance(61)
    assert _attempt(client, "owner@clinic.example", "10.0.1.200", DEFAULT_PASSWORD).status_code == 429
    clock.advance(3600)
    assert _attempt(client, "owner@clinic.example", "10.0.1.201", DEFAULT_PASSWORD).status_code == 302


def test_sign_in_is_limited_to_20_a_minute_per_address(client, make_user, clock):
    make_user(email="owner@clinic.example")
    for i in range(20):
        assert _attempt(client, f"guess{i}@clinic.example", "192.0.2.7").status_code == 400
    assert _attempt(client, "owner@clinic.example", "192.0.2.7", DEFAULT_PASSWORD).status_code == 429
    assert _attempt(client, "owner@clinic.example", "192.0.2.8", DEFAULT_PASSWORD).status_code == 302


def test_showing_the_sign_in_form_is_not_limited(client, clock):
    for _ in range(30):
        assert client.get("/account/sign-in").status_code == 200


@pytest.mark.parametrize("path, data", [
    ("/account/sign-up", {"password": "a fine new passphrase", "confirm": "a fine new passphrase"}),
    ("/account/reset", {}),
])
def test_sign_up_and_reset_are_limited_to_5_an_hour_per_address(app, client, path, data, clock):
    for i in range(5):
        response = post_form(client, path, {**data, "email": f"person{i}@clinic.example"}, **_from("198.51.100.4"))
        assert response.status_code == 200
    refused = post_form(client, path, {**data, "email": "person9@clinic.example"}, **_from("198.51.100.4"))
    assert refused.status_code == 429
    assert "Please try again in an hour" in refused.get_data(as_text=True)
    assert refused.headers["Retry-After"]
    other = post_form(client, path, {**data, "email": "person9@clinic.example"}, **_from("198.51.100.5"))
    assert other.status_code == 200
    clock.advance(3601)
    assert post_form(client, path, {**data, "email": "person10@clinic.example"},
                     **_from("198.51.100.4")).status_code == 200


def test_limiter_keys_hold_no_query_string_and_no_address(client, db_session, make_user, clock):
    make_user(email="owner@clinic.example")
    post_form(client, "/account/sign-in?location=78701&secret=yes",
              {"email": "owner@clinic.example", "password": "wrong password"}, form_path="/account/sign-in")
    post_form(client, "/account/reset?location=78701", {"email": "owner@clinic.example"},
              form_path="/account/reset")
    keys = [row.key for row in db_session.scalars(select(RateLimitWindow))]
    assert keys
    for key in keys:
        assert "78701" not in key and "secret" not in key and "?" not in key
        assert "owner@clinic.example" not in key and "127.0.0.1" not in key


@pytest.fixture
def auth_lines(caplog):
    caplog.set_level(logging.INFO, logger="kapfinder.auth")

    def lines():
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == "kapfinder.auth"]

    return lines


def test_every_auth_event_writes_one_structured_line(app, client, make_user, login, auth_lines, clock):
    from flask_login import login_required

    @app.get("/_test/private")
    @login_required
    def private():
        return "private"

    user = make_user(email="owner@clinic.example")
    secret_password = "a very secret passphrase"
    sign_in(client, "owner@clinic.example", "wrong but secret guess")
    login(client, "owner@clinic.example")
    post_form(client, "/account/password", {"current_password": DEFAULT_PASSWORD, "new_password": secret_password,
                                            "confirm": secret_password})
    post_form(client, "/account/sign-out", form_path="/account/")
    client.get("/_test/private?location=78701")
    client.post("/account/sign-up", data={"email": "x@clinic.example"})
    post_form(client, "/account/reset", {"email": "owner@clinic.example"})
    link = mail_links(outbox_messages(app)[-1])[0].replace("http://kapfinder.test", "")
    token = link.split("token=")[1]
    post_form(client, "/account/reset/password", {"token": token, "password": "yet another passphrase",
                                                  "confirm": "yet another passphrase"}, form_path=link)
    for i in range(6):
        _attempt(client, "owner@clinic.example", f"10.9.0.{i}")

    lines = auth_lines()
    events = [(line["event"], line["account"], line["outcome"]) for line in lines]
    assert ("sign_in", user.id, "failure") in events
    assert ("sign_in", user.id, "success") in events
    assert ("password_change", user.id, "success") in events
    assert ("sign_out", user.id, "success") in events
    assert ("access_denied", None, "signed_out") in events
    assert ("csrf_failure", None, "refused") in events
    assert ("password_reset", user.id, "success") in events
    assert ("rate_limited", None, "refused") in events
    for line in lines:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["time"])
        assert {"time", "event", "account", "outcome"} <= set(line)
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in (secret_password, DEFAULT_PASSWORD, "wrong but secret guess", token, "78701",
                   "owner@clinic.example", "?"):
        assert secret not in text


def test_an_owner_on_a_moderator_page_is_logged(app, client, make_user, login, auth_lines):
    from kapfinder.auth import moderator_required

    @app.get("/_test/moderation")
    @moderator_required
    def moderation():
        return "moderation"

    user = make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    client.get("/_test/moderation")
    assert {"event": "access_denied", "account": user.id, "outcome": "not_moderator",
            "path": "/_test/moderation"} == {k: v for k, v in auth_lines()[-1].items() if k != "time"}


def test_a_csrf_failure_names_the_signed_in_account(client, make_user, login, auth_lines):
    user = make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    # A forged sign-out (no token, a query string that must not be logged) is refused and logged.
    response = client.post("/account/sign-out?token=abc123", data={"password": DEFAULT_PASSWORD})
    assert response.status_code == 400
    line = auth_lines()[-1]
    assert {k: v for k, v in line.items() if k != "time"} == {
        "event": "csrf_failure", "account": user.id, "outcome": "refused", "path": "/account/sign-out"}


def test_a_429_names_the_signed_in_account(app, client, make_user, login, auth_lines, clock):
    @app.get("/_test/limited")
    @limiter.limit("1 per minute")
    def limited():
        return "ok"

    user = make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    assert client.get("/_test/limited").status_code == 200
    assert client.get("/_test/limited?location=78701").status_code == 429
    line = auth_lines()[-1]
    assert {k: v for k, v in line.items() if k != "time"} == {
        "event": "rate_limited", "account": user.id, "outcome": "refused", "path": "/_test/limited"}


def test_a_sign_in_refused_by_the_limit_names_the_account_tried(client, make_user, auth_lines, clock):
    user = make_user(email="owner@clinic.example")
    for i in range(6):
        _attempt(client, "owner@clinic.example", f"10.8.0.{i}", password="a secret guess")
    line = auth_lines()[-1]
    assert {k: v for k, v in line.items() if k != "time"} == {
        "event": "rate_limited", "account": None, "outcome": "refused", "path": "/account/sign-in",
        "attempted_account": user.id}
    assert "a secret guess" not in json.dumps(auth_lines()) and "owner@clinic.example" not in json.dumps(auth_lines())
