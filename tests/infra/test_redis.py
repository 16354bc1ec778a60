"""Redis shares rate limits and cache between processes; without it, everything still works."""
from __future__ import annotations

import redis

from kapfinder.cache import LocalCache, RedisCache, get_cache

from .servers import early_in_a_minute, free_port, gunicorn_command, server, server_env


def test_a_rate_limit_is_shared_by_two_server_processes(migrated, limited_app_dir, redis_url, tmp_path):
    env = server_env(migrated, limited_app_dir, KAPFINDER_REDIS_URL=redis_url)
    port_a, port_b = free_port(), free_port()
    with server(gunicorn_command(port_a, app="limited_app:app"), env, port_a, tmp_path / "a.log") as a, \
            server(gunicorn_command(port_b, app="limited_app:app"), env, port_b, tmp_path / "b.log") as b:
        early_in_a_minute()
        # 3 per minute for this client, whichever process answers.
        assert a.get("/api/test-only/limited")[0] == 200
        assert b.get("/api/test-only/limited")[0] == 200
        assert a.get("/api/test-only/limited")[0] == 200
        status, body = b.get("/api/test-only/limited")
        assert status == 429
        assert '"code":"rate_limited"' in body.replace(" ", "")
        assert a.get("/api/test-only/limited")[0] == 429
        assert a.process.pid != b.process.pid
    assert "shared through redis://127.0.0.1:6379/14" in a.log()


def test_without_redis_each_process_limits_alone_and_says_so(migrated, limited_app_dir, tmp_path):
    env = server_env(migrated, limited_app_dir)
    port = free_port()
    with server(gunicorn_command(port, app="limited_app:app"), env, port, tmp_path / "a.log") as a:
        early_in_a_minute()
        for _ in range(3):
            assert a.get("/api/test-only/limited")[0] == 200
        assert a.get("/api/test-only/limited")[0] == 429
    assert "No KAPFINDER_REDIS_URL: rate limits and the cache live in this process only" in a.log()


def test_redis_cache_values_are_seen_by_every_client_of_the_same_redis(redis_url):
    writer, reader = get_cache(redis_url), get_cache(redis_url)
    assert isinstance(writer, RedisCache) and writer.shared
    assert reader.get("zip:78701") is None
    writer.set("zip:78701", {"city": "Austin", "state": "TX", "lat": 30.2713, "lon": -97.7426, "tags": ("a",)})
    assert reader.get("zip:78701") == {"city": "Austin", "state": "TX", "lat": 30.2713, "lon": -97.7426,
                                       "tags": ["a"]}
    reader.delete("zip:78701")
    assert writer.get("zip:78701") is None
    writer.set_bytes("response:1", b"\x78\x01compressed\x00bytes", ttl=60)  # a stored API response
    assert reader.get_bytes("response:1") == b"\x78\x01compressed\x00bytes"
    reader.delete("response:1")


def test_redis_cache_entries_expire_and_clear_leaves_other_keys_alone(redis_url):
    cache = get_cache(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        cache.set("place:austin-tx", [30.27, -97.74], ttl=600)
        assert 0 < client.ttl("kapfinder:cache:place:austin-tx") <= 600
        client.set("LIMITER/other-key", "5")
        cache.clear()
        assert cache.get("place:austin-tx") is None
        assert client.get("LIMITER/other-key") == b"5"
    finally:
        client.close()


def test_an_unreachable_redis_makes_the_cache_miss_instead_of_failing():
    cache = get_cache(f"redis://127.0.0.1:{free_port()}/0")
    cache.set("zip:78701", {"city": "Austin"})  # dropped, not raised
    assert cache.get("zip:78701") is None


def test_local_cache_keeps_the_most_recently_used_entries():
    cache = get_cache(None, max_entries=2)
    assert isinstance(cache, LocalCache) and not cache.shared
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.set("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)


def test_local_cache_with_a_byte_budget_drops_the_oldest_until_it_fits():
    cache = get_cache(None, max_entries=100, max_bytes=25)  # each value below is 10 bytes of JSON
    for key in ("a", "b", "c"):
        cache.set(key, "x" * 8)
    assert cache.get("a") is None  # 30 bytes did not fit: the least recently used went
    assert cache.get("b") == cache.get("c") == "x" * 8
    cache.set("b", "y" * 8)  # replacing a value counts its new size, not both
    assert cache.get("c") == "x" * 8 and cache.get("b") == "y" * 8
    cache.set("huge", "z" * 40)  # larger than the whole budget: kept out, nothing evicted for it
    assert cache.get("huge") is None and cache.get("c") == "x" * 8


def test_local_cache_hands_out_copies_and_honours_a_zero_lifetime_as_forever():
    cache = LocalCache()
    cache.set("vocab:methods", {"slugs": ["iv", "im"]}, ttl=None)
    got = cache.get("vocab:methods")
    got["slugs"].append("changed by a caller")
    assert cache.get("vocab:methods") == {"slugs": ["iv", "im"]}


def test_with_redis_down_rate_limited_routes_still_answer(migrated, limited_app_dir, monkeypatch):
    """Needs ``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True`` in config.Config: a Redis outage falls
    back to per-process limits instead of turning every limited route into a 500."""
    from kapfinder import create_app
    from kapfinder.extensions import limiter

    monkeypatch.setenv("KAPFINDER_ENV", "development")
    monkeypatch.setenv("KAPFINDER_DATABASE_URL", migrated)
    monkeypatch.setenv("KAPFINDER_INSTANCE_PATH", str(limited_app_dir))
    monkeypatch.setenv("KAPFINDER_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    app = create_app()

    @app.get("/api/test-only/limited-fallback")
    @limiter.limit("2 per minute")
    def limited_fallback():
        return {"ok": True}

    client = app.test_client()
    assert [client.get("/api/test-only/limited-fallback").status_code for _ in range(3)] == [200, 200, 429]
    with app.app_context():
        from kapfinder.extensions import db
        db.engine.dispose()


def test_sign_in_attempts_are_counted_across_server_processes(migrated, instance_path, redis_url, tmp_path):
    """Sign-in allows 5 attempts a minute per account: spread over two processes, the 6th is refused."""
    import re

    from .servers import Browser

    env = server_env(migrated, instance_path, KAPFINDER_ENV="development", KAPFINDER_REDIS_URL=redis_url)
    port_a, port_b = free_port(), free_port()
    with server(gunicorn_command(port_a), env, port_a, tmp_path / "a.log") as a, \
            server(gunicorn_command(port_b), env, port_b, tmp_path / "b.log") as b:
        early_in_a_minute()
        browser = Browser()
        status, page = browser.request(a.base + "/account/sign-in")
        assert status == 200
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        attempt = {"csrf_token": token, "email": "nobody@clinic.example", "password": "wrong password"}
        statuses = [browser.request(server_.base + "/account/sign-in", attempt)[0]
                    for server_ in (a, b, a, b, a)]
        assert statuses == [400] * 5
        status, page = browser.request(b.base + "/account/sign-in", attempt)
        assert status == 429
        assert "Too many sign-in attempts" in page
