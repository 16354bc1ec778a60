"""Serving: production refuses unsafe configuration, proxies are trusted only as configured, hosts
and body sizes are enforced, and no server kapfinder starts logs a query string."""
from __future__ import annotations

import secrets
import subprocess

import pytest

from kapfinder import create_app
from kapfinder.config import DEVELOPMENT_KEY, TEST_KEY, ConfigError
from kapfinder.extensions import csrf, limiter
from kapfinder.serving import configure, strip_query_strings

from .servers import PRODUCTION_KEY, ROOT, VENV_BIN, free_port, gunicorn_command, server, server_env

SECRET = "SECRET-SEARCH-78701"


@pytest.fixture
def production_env(monkeypatch, migrated, instance_path):
    for name in ("KAPFINDER_SECRET_KEY", "FLASK_DEBUG", "KAPFINDER_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAPFINDER_ENV", "production")
    monkeypatch.setenv("KAPFINDER_DATABASE_URL", migrated)
    monkeypatch.setenv("KAPFINDER_INSTANCE_PATH", str(instance_path))
    return monkeypatch


def test_production_refuses_to_start_without_a_secret_key(production_env):
    with pytest.raises(ConfigError, match="KAPFINDER_SECRET_KEY must be set"):
        create_app()


def test_production_refuses_to_start_with_debug_on(production_env):
    production_env.setenv("KAPFINDER_SECRET_KEY", PRODUCTION_KEY)
    production_env.setenv("FLASK_DEBUG", "1")
    with pytest.raises(ConfigError, match="debug on"):
        create_app()


def test_production_starts_with_a_secret_and_secure_cookies(production_env):
    production_env.setenv("KAPFINDER_SECRET_KEY", PRODUCTION_KEY)
    app = create_app()
    assert app.config["KAPFINDER_ENV"] == "production"
    assert not app.debug
    assert app.config["SESSION_COOKIE_NAME"].startswith("__Host-") and app.config["SESSION_COOKIE_SECURE"]


@pytest.mark.parametrize("key", ["x", "a-real-secret", "a" * 100, "0123456789abcdef" * 4,
                                 secrets.token_hex(16), secrets.token_urlsafe(24)],
                         ids=["1-byte", "words", "one-repeated-character", "repeated-pattern",
                              "16-random-bytes-hex", "24-random-bytes-base64"])
def test_production_refuses_a_key_with_less_than_32_bytes_of_randomness(production_env, key):
    production_env.setenv("KAPFINDER_SECRET_KEY", key)
    with pytest.raises(ConfigError, match="too weak: it needs at least 32 bytes of randomness"):
        create_app()


@pytest.mark.parametrize("key", [DEVELOPMENT_KEY, TEST_KEY])
def test_production_refuses_the_repositorys_development_and_test_keys(production_env, key):
    production_env.setenv("KAPFINDER_SECRET_KEY", key)
    with pytest.raises(ConfigError, match="published in kapfinder's repository"):
        create_app()


@pytest.mark.parametrize("make_key", [lambda: secrets.token_hex(32), lambda: secrets.token_urlsafe(32),
                                      lambda: secrets.token_urlsafe(48)],
                         ids=["32-bytes-hex", "32-bytes-base64", "48-bytes-base64"])
def test_production_accepts_a_key_of_32_random_bytes_or_more(production_env, make_key):
    production_env.setenv("KAPFINDER_SECRET_KEY", make_key())
    app = create_app()
    assert app.secret_key and app.config["KAPFINDER_ENV"] == "production"
    with app.app_context():
        from kapfinder.extensions import db
        db.engine.dispose()


def test_gunicorn_will_not_serve_production_with_a_weak_secret(migrated, instance_path):
    env = server_env(migrated, instance_path, KAPFINDER_SECRET_KEY="k")
    done = subprocess.run(gunicorn_command(free_port()), env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "KAPFINDER_SECRET_KEY is too weak" in done.stdout + done.stderr


def test_gunicorn_will_not_serve_production_without_a_secret(migrated, instance_path):
    env = server_env(migrated, instance_path)
    del env["KAPFINDER_SECRET_KEY"]
    done = subprocess.run(gunicorn_command(free_port()), env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "KAPFINDER_SECRET_KEY must be set" in done.stdout + done.stderr


def _app_with(app_config, create, **settings):
    for key, value in settings.items():
        setattr(app_config, key, value)
    app = create(app_config)

    @app.post("/api/test-only/echo-size")
    @csrf.exempt
    def echo_size():
        from flask import request

        return {"bytes": len(request.get_data())}

    @app.get("/api/test-only/limited")
    @limiter.limit("2 per minute")
    def limited():
        return {"ok": True}

    configure(app)
    configure(app)  # a second call changes nothing (create_app may call it too)
    return app


@pytest.fixture
def make_app(app_config, other_app):
    """Apps with settings of the test's choosing; ``other_app`` closes their engines afterwards."""
    def make(**settings):
        return _app_with(app_config, other_app, **settings)

    return make


def test_without_proxy_hops_forwarded_headers_are_ignored(make_app):
    client = make_app(PROXY_HOPS=0).test_client()
    response = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers
    # A client cannot dodge a rate limit by inventing addresses.
    statuses = [client.get("/api/test-only/limited", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
                for n in range(3)]
    assert statuses == [200, 200, 429]


def test_with_one_proxy_hop_the_proxy_tells_scheme_and_client(make_app):
    client = make_app(PROXY_HOPS=1).test_client()
    response = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    first = {"X-Forwarded-For": "203.0.113.1"}
    second = {"X-Forwarded-For": "203.0.113.2"}
    assert [client.get("/api/test-only/limited", headers=first).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/api/test-only/limited", headers=second).status_code == 200


def test_trusted_hosts_turn_away_any_other_host(make_app):
    client = make_app(TRUSTED_HOSTS=["kapfinder.example"]).test_client()
    assert client.get("/healthz", headers={"Host": "kapfinder.example"}).status_code == 200
    response = client.get("/api/v1/clinics", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_a_body_over_max_content_length_is_refused_with_413(make_app):
    client = make_app(MAX_CONTENT_LENGTH=1024).test_client()
    assert client.post("/api/test-only/echo-size", data=b"x" * 1000).get_json() == {"bytes": 1000}
    response = client.post("/api/test-only/echo-size", data=b"x" * 5000)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_query_strings_are_removed_from_log_lines():
    line = "Error handling request GET /search?location=78701&insurance=aetna HTTP/1.1 'http://x/y?q=1'"
    assert strip_query_strings(line) == "Error handling request GET /search HTTP/1.1 'http://x/y'"


def _assert_logged_without_query(log: str) -> None:
    assert "/healthz" in log  # requests are logged...
    assert SECRET not in log  # ...but never what was searched for
    assert "location=" not in log


def test_gunicorn_logs_requests_without_query_strings(migrated, instance_path, tmp_path):
    env = server_env(migrated, instance_path)
    port = free_port()
    with server(gunicorn_command(port, "--access-logfile", "-"), env, port, tmp_path / "g.log") as running:
        assert running.get(f"/healthz?location={SECRET}")[0] == 200
        running.get(f"/search?location={SECRET}&insurance=aetna")
        running.get(f"/no-such-page?location={SECRET}")
        running.get(f"/api/v1/clinics?location={SECRET}")
    _assert_logged_without_query(running.log())
    assert "GET /healthz 200" in running.log()


def test_flask_run_as_make_run_starts_it_logs_without_query_strings(migrated, instance_path, tmp_path):
    env = server_env(migrated, instance_path, KAPFINDER_ENV="development")
    port = free_port()
    command = [str(VENV_BIN / "flask"), "--debug", "run", "--host", "127.0.0.1", "--port", str(port)]
    with server(command, env, port, tmp_path / "f.log") as running:
        assert running.get(f"/healthz?location={SECRET}")[0] == 200
        running.get(f"/search?location={SECRET}")
        running.get(f"/api/v1/clinics?location={SECRET}")
    _assert_logged_without_query(running.log())


def test_a_serving_process_never_loads_alembic(migrated, instance_path):
    # Alembic and Mako weigh about 11 MB per process; a worker that only serves must not carry them.
    script = ("import sys, app\n"
              "client = app.app.test_client()\n"
              "assert client.get('/healthz').status_code == 200\n"
              "assert client.get('/api/v1/clinics?location=78701').status_code == 200\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'flask_migrate', 'mako')))\n")
    done = subprocess.run([str(VENV_BIN / "python"), "-c", script], env=server_env(migrated, instance_path),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_flask_db_commands_work_though_flask_migrate_loads_late(tmp_path, instance_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    env = server_env(url, instance_path)

    def flask(*args: str) -> str:
        done = subprocess.run([str(VENV_BIN / "flask"), *args], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "upgrade" in flask("db", "--help") and "backup" in flask("db", "--help")
    flask("db", "upgrade")
    assert "(head)" in flask("db", "-d", str(ROOT / "migrations"), "current")
    assert flask("db", "clinic-count").strip() == "0"
    assert "Backed up" in flask("db", "backup", str(tmp_path / "copy.db"))
