"""Sessions: renewed at sign-in, a server-side nonce checked on every request, 60 idle minutes and
24 hours in all, "remember me" for 14 days at most, private pages never cached."""
import time

import pytest

from fixtures.accounts import DEFAULT_PASSWORD, post_form, sign_in
from kapfinder.auth import moderator_required, safe_next
from flask_login import login_required


def _cookie(client, name):
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


def _signed_in(client) -> bool:
    return client.get("/account/").status_code == 200


def test_a_copied_session_cookie_stops_working_after_sign_out(app, client, make_user, login):
    make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    stolen = _cookie(client, "session")
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert _signed_in(thief)

    response = post_form(client, "/account/sign-out", form_path="/account/")
    assert response.status_code == 302
    assert not _signed_in(client)
    assert not _signed_in(thief)


def test_sign_out_ends_every_session_of_the_account(app, client, make_user, login):
    make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    laptop = app.test_client()
    login(laptop, "owner@clinic.example")
    post_form(client, "/account/sign-out", form_path="/account/")
    assert not _signed_in(laptop)


def test_sign_out_is_a_post_with_a_csrf_token(client, make_user, login):
    make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    assert client.get("/account/sign-out").status_code == 405
    assert client.post("/account/sign-out").status_code == 400
    assert _signed_in(client)


def test_a_copied_remember_cookie_dies_with_sign_out(app, client, make_user):
    make_user(email="owner@clinic.example")
    assert sign_in(client, "owner@clinic.example", remember=True).status_code == 302
    remember = _cookie(client, "remember_token")
    assert remember
    thief = app.test_client()
    thief.set_cookie("remember_token", remember)
    assert _signed_in(thief)  # the remember cookie alone starts a session

    post_form(client, "/account/sign-out", form_path="/account/")
    other = app.test_client()
    other.set_cookie("remember_token", remember)
    assert not _signed_in(other)
    assert not _signed_in(thief)


def test_remember_me_lasts_at_most_14_days(client, make_user):
    make_user(email="owner@clinic.example")
    response = sign_in(client, "owner@clinic.example", remember=True)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    max_age = int(header.split("Max-Age=")[1].split(";")[0]) if "Max-Age=" in header else None
    from email.utils import parsedate_to_datetime
    expires = parsedate_to_datetime(header.split("Expires=")[1].split(";")[0])
    assert (expires.timestamp() - time.time()) <= 14 * 86400 + 60
    assert max_age is None or max_age <= 14 * 86400


def test_without_remember_me_no_remember_cookie_is_set(client, make_user):
    make_user(email="owner@clinic.example")
    response = sign_in(client, "owner@clinic.example")
    assert not any(h.startswith("remember_token=") for h in response.headers.getlist("Set-Cookie"))


def test_sign_in_starts_a_new_session(client, make_user):
    make_user(email="owner@clinic.example")
    client.get("/account/sign-in")
    with client.session_transaction() as sess:
        sess["planted"] = "by someone before sign-in"
        before = dict(sess)
    sign_in(client, "owner@clinic.example")
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess.get("csrf_token") != before.get("csrf_token")


def _age_session(client, idle_seconds=0, total_seconds=0):
    with client.session_transaction() as sess:
        now = int(time.time())
        sess["_seen_at"] = now - idle_seconds
        sess["_auth_at"] = now - total_seconds


def test_a_session_ends_after_60_idle_minutes(client, make_user, login):
    make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    _age_session(client, idle_seconds=59 * 60, total_seconds=3 * 3600)
    assert _signed_in(client)
    _age_session(client, idle_seconds=61 * 60, total_seconds=3 * 3600)
    assert not _signed_in(client)


def test_a_session_ends_after_24_hours_even_when_active(client, make_user, login):
    make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    _age_session(client, idle_seconds=10, total_seconds=23 * 3600)
    assert _signed_in(client)
    _age_session(client, idle_seconds=10, total_seconds=24 * 3600 + 60)
    assert not _signed_in(client)


def test_a_remember_cookie_starts_a_new_session_when_the_old_one_timed_out(client, make_user):
    make_user(email="owner@clinic.example")
    sign_in(client, "owner@clinic.example", remember=True)
    _age_session(client, idle_seconds=2 * 3600, total_seconds=2 * 3600)
    assert _signed_in(client)
    with client.session_transaction() as sess:
        assert time.time() - sess["_auth_at"] < 3600


def test_a_deactivated_account_loses_its_sessions(app, client, make_user, login, db_session):
    from kapfinder import accounts

    user = make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    accounts.deactivate(db_session(), user.id)
    assert not _signed_in(client)


def test_signed_in_pages_are_not_cached(client, make_user, login):
    make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    for path in ("/account/", "/account/password", "/"):
        response = client.get(path)
        assert response.headers["Cache-Control"] == "no-store", path
        assert "Cookie" in response.headers["Vary"], path


def test_account_forms_are_not_cached_either(client):
    response = client.get("/account/sign-in")
    assert response.headers["Cache-Control"] == "no-store"


def test_login_required_sends_visitors_to_sign_in_and_back(app, client, make_user):
    @app.get("/_test/private")
    @login_required
    def private():
        return "private page"

    make_user(email="owner@clinic.example")
    response = client.get("/_test/private")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/sign-in?next=/_test/private"
    back = sign_in(client, "owner@clinic.example", next="/_test/private")
    assert back.headers["Location"] == "/_test/private"
    assert client.get("/_test/private").get_data(as_text=True) == "private page"


def test_moderator_required(app, client, make_user, login):
    @app.get("/_test/moderation")
    @moderator_required
    def moderation():
        return "moderation page"

    make_user(email="owner@clinic.example")
    make_user(email="mod@kapfinder.example", role="moderator")
    assert client.get("/_test/moderation").status_code == 302
    login(client, "owner@clinic.example")
    assert client.get("/_test/moderation").status_code == 403
    other = app.test_client()
    login(other, "mod@kapfinder.example")
    assert other.get("/_test/moderation").get_data(as_text=True) == "moderation page"


@pytest.mark.parametrize("target", [
    "https://evil.example", "//evil.example", "////evil.example", "/\\evil.example", "javascript:alert(1)",
    "http:/evil.example", " //evil.example", "/\t/evil.example", "\\\\evil.example", "evil.example",
])
def test_next_never_leaves_the_site(client, make_user, target):
    make_user(email="owner@clinic.example")
    assert safe_next(target) is None
    page = client.get("/account/sign-in", query_string={"next": target}).get_data(as_text=True)
    assert "evil.example" not in page
    response = sign_in(client, "owner@clinic.example", next=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location


@pytest.mark.parametrize("target", ["/owner/", "/account/password", "/clinics/a-clinic?tab=hours"])
def test_next_keeps_paths_on_this_site(target):
    assert safe_next(target) == target


def test_production_cookies_are_secure_host_only_and_prefixed(app_config, make_user, other_app):
    from kapfinder.config import ProductionConfig

    production = ProductionConfig()
    for key in ("SESSION_COOKIE_NAME", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE",
                "REMEMBER_COOKIE_NAME", "REMEMBER_COOKIE_SECURE", "REMEMBER_COOKIE_HTTPONLY",
                "REMEMBER_COOKIE_SAMESITE", "PREFERRED_URL_SCHEME"):
        setattr(app_config, key, getattr(production, key))
    app = other_app(app_config)
    make_user(email="owner@clinic.example")
    client = app.test_client()
    base = "https://kapfinder.test"
    page = client.get("/account/sign-in", base_url=base).get_data(as_text=True)
    import re
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/account/sign-in", base_url=base, headers={"Referer": base + "/account/sign-in"},
                           data={"email": "owner@clinic.example", "password": DEFAULT_PASSWORD,
                                 "remember": "y", "csrf_token": token})
    assert response.status_code == 302
    cookies = {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}
    assert set(cookies) == {"__Host-session", "__Host-remember"}
    for header in cookies.values():
        attributes = [a.strip().lower() for a in header.split(";")[1:]]
        assert "secure" in attributes and "httponly" in attributes and "samesite=lax" in attributes
        assert "path=/" in attributes
        assert not any(a.startswith("domain=") for a in attributes)
    assert client.get("/account/", base_url=base).status_code == 200


def _later(monkeypatch, days: float) -> None:
    """Move the clock the server reads forward by ``days``."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + days * 86400)


@pytest.mark.parametrize("days", [15, 60, 365])
def test_a_copied_remember_cookie_stops_signing_in_after_the_remember_period(app, client, make_user, monkeypatch,
                                                                             days):
    make_user(email="owner@clinic.example")
    sign_in(client, "owner@clinic.example", remember=True)
    remember = _cookie(client, "remember_token")
    _later(monkeypatch, days)
    thief = app.test_client()
    thief.set_cookie("remember_token", remember)
    assert not _signed_in(thief)


def test_a_remember_cookie_still_signs_in_within_its_period(app, client, make_user, monkeypatch):
    make_user(email="owner@clinic.example")
    sign_in(client, "owner@clinic.example", remember=True)
    remember = _cookie(client, "remember_token")
    _later(monkeypatch, 13)
    laptop = app.test_client()
    laptop.set_cookie("remember_token", remember)
    assert _signed_in(laptop)


def test_the_remember_period_is_configurable_up_to_30_days(app_config, make_user, other_app, monkeypatch):
    from datetime import timedelta

    app_config.REMEMBER_COOKIE_DURATION = timedelta(days=3)
    short = other_app(app_config)
    make_user(email="owner@clinic.example")
    client = short.test_client()
    sign_in(client, "owner@clinic.example", remember=True)
    remember = _cookie(client, "remember_token")
    _later(monkeypatch, 4)
    thief = short.test_client()
    thief.set_cookie("remember_token", remember)
    assert not _signed_in(thief)

    monkeypatch.undo()
    app_config.REMEMBER_COOKIE_DURATION = timedelta(days=365)
    long = other_app(app_config)
    client = long.test_client()
    response = sign_in(client, "owner@clinic.example", remember=True)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    from email.utils import parsedate_to_datetime
    expires = parsedate_to_datetime(header.split("Expires=")[1].split(";")[0])
    assert expires.timestamp() - time.time() <= 30 * 86400 + 60
    remember = _cookie(client, "remember_token")
    _later(monkeypatch, 31)
    thief = long.test_client()
    thief.set_cookie("remember_token", remember)
    assert not _signed_in(thief)


def test_production_refuses_a_remember_period_over_30_days(monkeypatch):
    from kapfinder.config import ConfigError, ProductionConfig

    monkeypatch.setenv("KAPFINDER_REMEMBER_DAYS", "60")
    config = ProductionConfig()
    config.SECRET_KEY = "x" * 64
    with pytest.raises(ConfigError):
        config.check()


def test_sign_out_deletes_the_remember_cookie_with_the_attributes_it_was_set_with(app_config, make_user,
                                                                                   other_app):
    import re

    from kapfinder.config import ProductionConfig

    production = ProductionConfig()
    for key in ("SESSION_COOKIE_NAME", "SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_NAME", "REMEMBER_COOKIE_SECURE",
                "PREFERRED_URL_SCHEME"):
        setattr(app_config, key, getattr(production, key))
    app = other_app(app_config)
    make_user(email="owner@clinic.example")
    client = app.test_client()
    base = "https://kapfinder.test"
    headers = {"Referer": base + "/account/"}
    sign_in_headers = {"Referer": base + "/account/sign-in"}
    page = client.get("/account/sign-in", base_url=base).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/account/sign-in", base_url=base, headers=sign_in_headers,
                data={"email": "owner@clinic.example", "password": DEFAULT_PASSWORD, "remember": "y",
                      "csrf_token": token})
    response = post_form(client, "/account/sign-out", form_path="/account/", base_url=base, headers=headers)
    assert response.status_code == 302
    deletion = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("__Host-remember="))
    attributes = [a.strip().lower() for a in deletion.split(";")[1:]]
    assert "max-age=0" in attributes
    assert "secure" in attributes and "path=/" in attributes
    assert not any(a.startswith("domain=") for a in attributes)
    assert client.get("/account/", base_url=base).status_code != 200


def test_the_sign_in_page_names_the_configured_remember_period(app_config, other_app):
    from datetime import timedelta

    app_config.REMEMBER_COOKIE_DURATION = timedelta(days=7)
    page = other_app(app_config).test_client().get("/account/sign-in").get_data(as_text=True)
    assert "Keep me signed in on this device for 7 days" in page


@pytest.mark.parametrize("how", ["password_change", "deactivation"])
def test_a_copied_remember_cookie_dies_with_a_password_change_or_deactivation(app, client, make_user, db_session,
                                                                              how):
    from kapfinder import accounts

    user = make_user(email="owner@clinic.example")
    sign_in(client, "owner@clinic.example", remember=True)
    remember = _cookie(client, "remember_token")
    if how == "password_change":
        accounts.change_password(db_session(), user.id, DEFAULT_PASSWORD, "an entirely new passphrase")
    else:
        accounts.deactivate(db_session(), user.id)
    thief = app.test_client()
    thief.set_cookie("remember_token", remember)
    assert not _signed_in(thief)
