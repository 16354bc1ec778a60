"""Sign-in limits hold across processes without Redis (kept in the database), and a Redis outage is
logged and closes sign-in while public reads keep answering."""
from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

from .servers import Browser, early_in_a_minute, free_port, gunicorn_command, server, server_env


def _sign_in_attempt(browser: Browser, base: str) -> dict[str, str]:
    status, page = browser.request(base + "/account/sign-in")
    assert status == 200
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return {"csrf_token": token, "email": "owner@clinic.example", "password": "wrong password"}


def test_without_redis_sign_in_attempts_are_counted_in_the_database_across_processes(
        migrated, instance_path, tmp_path):
    """Two server processes (each 2 workers) on one database: the account's 6th attempt is refused."""
    env = server_env(migrated, instance_path, KAPFINDER_ENV="development")
    port_a, port_b = free_port(), free_port()
    with server(gunicorn_command(port_a, "--workers", "2"), env, port_a, tmp_path / "a.log") as a, \
            server(gunicorn_command(port_b, "--workers", "2"), env, port_b, tmp_path / "b.log") as b:
        early_in_a_minute()
        browser = Browser()
        attempt = _sign_in_attempt(browser, a.base)
        statuses = [browser.request(s.base + "/account/sign-in", attempt)[0] for s in (a, b, a, b, a)]
        assert statuses == [400] * 5
        for s in (a, b):  # every process, every worker: refused
            status, page = browser.request(s.base + "/account/sign-in", attempt)
            assert status == 429
            assert "Too many sign-in attempts" in page
    assert "shared through the database" in a.log()


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own, which the test may stop."""
    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + 20  # start-up wait
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
    client.close()
    yield process, f"redis://127.0.0.1:{port}/0"
    if process.poll() is None:
        process.kill()
    process.wait()


def test_a_redis_outage_is_logged_closes_sign_in_and_leaves_public_reads_open(
        migrated, instance_path, own_redis, tmp_path):
    redis_process, redis_url = own_redis
    env = server_env(migrated, instance_path, KAPFINDER_ENV="development", KAPFINDER_REDIS_URL=redis_url,
                     KAPFINDER_READ_RATE_LIMIT="100/minute")
    port = free_port()
    with server(gunicorn_command(port), env, port, tmp_path / "g.log") as running:
        browser = Browser()
        attempt = _sign_in_attempt(browser, running.base)
        assert browser.request(running.base + "/account/sign-in", attempt)[0] == 400
        assert running.get("/api/v1/clinics?location=78701")[0] == 200

        redis_process.kill()
        redis_process.wait()

        status, page = browser.request(running.base + "/account/sign-in", attempt)
        assert status == 503
        assert "Signing in is paused" in page
        assert browser.request(running.base + "/account/reset", {"csrf_token": attempt["csrf_token"],
                                                                "email": "owner@clinic.example"})[0] == 503
        assert running.get("/api/v1/clinics?location=78701")[0] == 200
        assert running.get("/search?location=78701")[0] == 200
    log = running.log()
    assert "does not answer" in log and "sign-in, sign-up and password reset are refused" in log
    assert log.count("does not answer") == 1  # once per outage, not once per request
    assert "Rate limit storage unreachable" in log  # the public limits say so too
