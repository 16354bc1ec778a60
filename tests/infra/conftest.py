"""Fixtures for the plumbing tests: the real Redis, and a test-only app with a rate-limited route."""
from __future__ import annotations

from pathlib import Path

import pytest

from .servers import LIMITED_APP, TEST_REDIS_URL


@pytest.fixture
def redis_url():
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"no Redis answers at {TEST_REDIS_URL}: {exc.__class__.__name__}")
    client.flushdb()
    yield TEST_REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def limited_app_dir(instance_path) -> Path:
    (instance_path / "limited_app.py").write_text(LIMITED_APP)
    return instance_path
