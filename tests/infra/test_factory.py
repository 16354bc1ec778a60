"""The factory is the table of contents: every feature is a blueprint the app may be built without
(``create_app(config, blueprints=...)``), and no other feature's pages break when one is missing.

Templates link to another feature's page through ``link_to``, which leaves the link out when that
feature is not registered; ``url_for`` in a template names only the endpoints of the feature the
template belongs to.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from fixtures.pages import assert_page_basics, hrefs
from kapfinder import BLUEPRINTS, accounts, create_app, listings
from kapfinder.extensions import db
from tests.listings.conftest import valid_listing

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"

#: The main pages of each feature: (who asks, path, status). ``{slug}`` and ``{clinic}`` are a
#: published clinic with an owner, a pending change and a problem report; ``{other}`` one without.
PAGES: dict[str, list[tuple[str, str, int]]] = {
    "directory": [("visitor", "/", 200), ("visitor", "/search?location=78701", 200),
                  ("visitor", "/search?location=Springfield", 400), ("visitor", "/clinics/{slug}", 200),
                  ("visitor", "/learn/methods", 200), ("visitor", "/learn/insurance", 200), ("visitor", "/about", 200)],
    "insurance": [("visitor", "/insurance", 200), ("visitor", "/insurance?insurance=aetna&location=78701", 200),
                  ("visitor", "/insurance?insurance=tricare&location=99501", 200),
                  ("visitor", "/insurance/aetna?location=78701", 200)],
    "community": [("visitor", "/clinics/{slug}/report", 200), ("visitor", "/clinics/{other}/claim/confirm?token=x", 200),
                  ("owner", "/clinics/{other}/claim", 200)],
    "account": [("visitor", "/account/sign-in", 200), ("visitor", "/account/sign-up", 200),
                ("visitor", "/account/confirm?token=x", 400), ("owner", "/account/", 200),
                ("moderator", "/account/", 200)],
    "owner": [("owner", "/owner/", 200), ("owner", "/owner/listings/{clinic}", 200),
              ("owner", "/owner/listings/{clinic}/edit/review", 200)],
    "moderate": [("moderator", "/moderate/", 200), ("moderator", "/moderate/listings/{clinic}", 200),
                 ("owner", "/moderate/", 403)],
    "api": [("visitor", "/api/v1/clinics?location=78701", 200), ("visitor", "/api/v1/clinics/{slug}", 200),
            ("visitor", "/api/v1/taxonomy", 200)],
    "hsds": [("visitor", "/hsds/", 200), ("visitor", "/hsds/services", 200)],
    "opendata": [("visitor", "/open-data/", 200)],
}
#: Pages every app has, whatever it was built with.
EVERY_APP = [("visitor", "/no-such-page", 404), ("owner", "/no-such-page", 404), ("visitor", "/healthz", 200)]


def test_the_table_names_every_blueprint_and_every_blueprint_is_in_the_table():
    modules = {p.stem for p in (ROOT / "kapfinder" / "views").glob("*.py")
               if re.search(r"^bp = Blueprint\(", p.read_text(encoding="utf-8"), re.M)}
    assert set(BLUEPRINTS) == modules == set(PAGES)


@pytest.fixture
def site(app, db_session, make_clinic):
    """A published clinic with an owner, a pending change and a problem report; another without an
    owner; an owner and a moderator."""
    owner = accounts.create_user(db_session, "owner@factory.example", PASSWORD, role="owner", confirmed=True)
    moderator = accounts.create_user(db_session, "moderator@factory.example", PASSWORD, role="moderator",
                                     confirmed=True)
    clinic = listings.approve_listing(db_session, listings.create_listing(db_session, owner.id, valid_listing()).id,
                                      moderator.id)
    listings.edit_listing(db_session, clinic.id, owner.id, clinic.version, valid_listing(npi="1000000020"))
    listings.report_problem(db_session, clinic.slug, "closed", "Shut last month")
    other = make_clinic(name="Unclaimed Ketamine")
    return {"slug": clinic.slug, "clinic": clinic.id, "other": other.slug,
            "owner": owner.email, "moderator": moderator.email}


@pytest.fixture
def sessions(app, site, login):
    """The session cookie of each role, signed in through the whole app (same secret key, same database)."""
    cookies = {"visitor": None}
    name = app.config["SESSION_COOKIE_NAME"]
    for role in ("owner", "moderator"):
        client = app.test_client()
        login(client, site[role])
        cookies[role] = client.get_cookie(name).value
    return cookies


@pytest.fixture
def app_without(app_config, sessions):
    """``app_without(*names)``: an app built without those blueprints, and a client per role."""
    built = []

    def make(*names: str):
        partial = create_app(app_config, blueprints=tuple(b for b in BLUEPRINTS if b not in names))
        built.append(partial)
        clients = {}
        for role, cookie in sessions.items():
            clients[role] = partial.test_client()
            if cookie is not None:
                clients[role].set_cookie(partial.config["SESSION_COOKIE_NAME"], cookie)
        return partial, clients

    yield make
    for partial in built:
        with partial.app_context():
            db.session.remove()
            db.engine.dispose()


def _check(clients, site, who: str, path: str, status: int) -> None:
    url = path.format(**site)
    response = clients[who].get(url)
    assert response.status_code == status, (who, url, response.status_code)
    if response.mimetype == "text/html":
        html = response.get_data(as_text=True)
        assert_page_basics(html)
        assert all(href for href in hrefs(html)), (url, "a link without a target")


@pytest.mark.parametrize("missing", BLUEPRINTS)
def test_every_other_feature_works_without_one(app_without, site, missing):
    partial, clients = app_without(missing)
    assert not any(rule.endpoint.startswith(missing + ".") for rule in partial.url_map.iter_rules())
    for feature, pages in PAGES.items():
        if feature != missing:
            for who, path, status in pages:
                _check(clients, site, who, path, status)
    for who, path, status in EVERY_APP:
        _check(clients, site, who, path, status)


def test_an_app_without_any_feature_still_answers_its_error_pages(app_without, site):
    partial, clients = app_without(*BLUEPRINTS)
    assert {rule.endpoint for rule in partial.url_map.iter_rules()} == {"static", "healthz"}
    for who, path, status in EVERY_APP:
        _check(clients, site, who, path, status)


def test_a_missing_feature_leaves_its_links_out(app_without, site):
    _partial, clients = app_without("insurance", "owner")
    html = clients["visitor"].get("/").get_data(as_text=True)
    assert "/insurance" not in hrefs(html) and "/owner/" not in hrefs(html)
    assert "/about" in hrefs(html)
    # Signing in leads to the owner's listings, or to the account page when there are none to show.
    assert clients["owner"].get("/account/sign-in").headers["Location"] == "/account/"


def test_without_the_account_pages_a_signed_out_visitor_is_refused_not_redirected(app_without, site):
    _partial, clients = app_without("account")
    assert clients["visitor"].get("/owner/").status_code == 401


#: The feature a template folder belongs to, where the folder is not named after it.
TEMPLATE_FEATURE = {"learn": "directory"}


def test_templates_name_only_their_own_features_endpoints_with_url_for():
    """Any other link goes through ``link_to``: shared templates (base, errors, macros) use it for every link."""
    found = []
    for path in sorted((ROOT / "templates").rglob("*")):
        if not path.is_file():
            continue
        folder = path.relative_to(ROOT / "templates").parts[0]
        feature = TEMPLATE_FEATURE.get(folder, folder)
        for endpoint in re.findall(r"url_for\(\s*['\"]([\w.]+)['\"]", path.read_text(encoding="utf-8")):
            if endpoint != "static" and endpoint.split(".")[0] != feature:
                found.append(f"{path.relative_to(ROOT)}: {endpoint}")
    assert not found


def test_without_the_owner_pages_reports_and_decisions_still_mail_the_owner(app_without, site, db_session):
    """Mail links to a missing feature are left out: the owner is still told, never sent "None"."""
    from fixtures.accounts import outbox_messages, post_form
    from tests.listings.conftest import post_decision

    from kapfinder.models import ListingRevision

    partial, clients = app_without("owner")
    sent = post_form(clients["visitor"], f"/clinics/{site['slug']}/report", {"reason": "other", "note": "Moved"})
    assert sent.status_code == 200 and "Thank you" in sent.get_data(as_text=True)
    revision = db_session.query(ListingRevision).filter_by(clinic_id=site["clinic"]).one()
    page = f"/moderate/listings/{site['clinic']}"
    decided = post_decision(clients["moderator"], f"/moderate/revisions/{revision.id}/approve", page=page)
    assert decided.status_code == 302
    mails = [m for m in outbox_messages(partial) if m["To"] == site["owner"]]
    assert len(mails) == 2 and "Moved" in mails[0].get_content()
    for message in mails:
        body = message.get_content()
        assert "None" not in body and "/owner/" not in body
