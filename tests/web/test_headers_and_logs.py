"""Issue 16, "Host, headers, logs", in the app: an untrusted Host gets a plain 400 page with every
security header, Permissions-Policy is on every response, log lines cannot be forged with control
characters, and CSV downloads are attachments. (tests/infra/test_host_and_log_lines.py checks the
same through a real gunicorn.)"""
from __future__ import annotations

import logging

import pytest
from flask import request

from kapfinder.logsafe import escape_controls

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
                    "Permissions-Policy")
HTML_ROUTES = ["/", "/search?location=78701", "/learn/methods", "/about", "/account/sign-in", "/owner/",
               "/no-such-page", "/static/css/site.css", "/healthz", "/open-data/"]


def assert_security_headers(response) -> None:
    for name in SECURITY_HEADERS:
        assert response.headers.get(name), f"{name} missing on {response.status_code}"


# ---------------------------------------------------------------- Permissions-Policy

@pytest.mark.parametrize("path", ["/", "/search?location=78701", "/no-such-page", "/api/v1/clinics",
                                  "/static/css/site.css", "/healthz"])
def test_every_response_carries_a_permissions_policy(client, path):
    with client.get(path) as response:
        assert_security_headers(response)
    policy = {}
    for directive in response.headers["Permissions-Policy"].split(","):
        feature, _, allow = directive.strip().partition("=")
        policy[feature] = allow
    # "Use my location" and "copy link" are this site's only; nothing else may be used by the page
    # or any frame.
    assert policy.pop("geolocation") == "(self)"
    assert policy.pop("clipboard-write") == "(self)"
    assert {"camera", "microphone", "payment", "usb", "fullscreen"} <= set(policy)
    assert set(policy.values()) == {"()"}


# ---------------------------------------------------------------- untrusted Host

@pytest.fixture
def app_config(app_config):
    app_config.TRUSTED_HOSTS = ["kapfinder.example", "localhost"]
    return app_config


@pytest.mark.parametrize("path", HTML_ROUTES)
def test_an_untrusted_host_gets_a_plain_400_page_with_every_header(client, caplog, path):
    caplog.set_level(logging.INFO)
    with client.get(path, headers={"Host": "evil.example"}) as response:
        response.get_data()
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert_security_headers(response)
    page = response.get_data(as_text=True)
    assert "<h1>" in page and "does not answer to that address" in page
    assert "evil.example" not in page  # the forged name is not echoed back
    # One line for the whole request: the request log's, without a traceback.
    lines = [r for r in caplog.records if r.name.startswith("kapfinder")]
    assert [r.name for r in lines] == ["kapfinder.request"]
    assert lines[0].getMessage().startswith(f"GET {path.split('?')[0]} 400 ")
    assert not any(r.exc_info for r in caplog.records)


def test_an_untrusted_host_gets_the_api_error_shape_on_json_paths(client):
    response = client.get("/api/v1/clinics", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"
    assert_security_headers(response)


def test_a_post_with_an_untrusted_host_is_turned_away_too(client):
    response = client.post("/account/sign-in", data={"email": "a@b.example", "password": "x"},
                           headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert_security_headers(response)


def test_a_trusted_host_is_served_as_before(client):
    response = client.get("/", headers={"Host": "kapfinder.example"})
    assert response.status_code == 200
    assert "/static/css/site.css" in response.get_data(as_text=True)


# ---------------------------------------------------------------- log lines

FORGED = "/search\n2026-01-01 00:00:00 GET /account/ 200 1.0ms\r\x1b[2J\u2028x"


def test_escape_controls_keeps_one_line_and_real_text():
    assert escape_controls(FORGED) == "/search\\n2026-01-01 00:00:00 GET /account/ 200 1.0ms\\r\\x1b[2J\\u2028x"
    assert escape_controls("/clinic/café-東京 ok") == "/clinic/café-東京 ok"
    assert escape_controls("\u202egnp.exe\t\x00\x85") == "\\u202egnp.exe\\t\\x00\\x85"


def test_the_request_log_escapes_control_characters_in_the_path(client, caplog):
    caplog.set_level(logging.INFO, logger="kapfinder.request")
    client.get("/search%0a2026-01-01%2000:00:00%20GET%20/account/%20200%201.0ms%0d%1b[2J?location=78701")
    [line] = [r.getMessage() for r in caplog.records if r.name == "kapfinder.request"]
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.startswith("GET /search\\n2026-01-01 00:00:00 GET /account/ 200 1.0ms\\r\\x1b[2J 404 ")
    assert "78701" not in line


def test_an_unexpected_error_is_logged_with_the_path_escaped(app, client, caplog):
    @app.before_request
    def boom():
        if request.path.startswith("/_test/boom"):
            raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    caplog.set_level(logging.INFO)
    assert client.get("/_test/boom/x%0aFORGED%20line").status_code == 500
    [record] = [r for r in caplog.records if r.name == "kapfinder" and r.levelno >= logging.ERROR]
    assert record.getMessage() == "unhandled error on GET /_test/boom/x\\nFORGED line"


def test_auth_log_lines_stay_one_line(client, caplog):
    caplog.set_level(logging.INFO, logger="kapfinder.auth")
    client.get("/owner/listings/x%0a{\"event\":\"sign_in\"}%1b")
    [line] = [r.getMessage() for r in caplog.records if r.name == "kapfinder.auth"]
    assert "access_denied" in line
    assert "\n" not in line and "\x1b" not in line


# ---------------------------------------------------------------- CSV downloads

@pytest.mark.parametrize("name, attachment", [("kapfinder.csv", True), ("hsds-csv/organizations.csv", True),
                                              ("LICENSE.txt", False), ("hsds-csv/datapackage.json", False)])
def test_csv_downloads_are_attachments(client, instance_path, name, attachment):
    path = instance_path / "exports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,name\n1,=HYPERLINK(\"x\")\n")
    with client.get(f"/open-data/{name}") as response:
        assert response.status_code == 200
        disposition = response.headers.get("Content-Disposition", "")
        if attachment:
            assert disposition == f"attachment; filename={name.rsplit('/', 1)[-1]}"
            assert response.mimetype == "text/csv"
        else:
            assert not disposition.startswith("attachment")
