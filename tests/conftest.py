"""Shared fixtures. The suite runs once per engine: KAPFINDER_TEST_ENGINE=sqlite (default) or postgres.

The database is migrated once per run (schema and gazetteer, through ``flask db upgrade``'s code
path); each test gets a fresh app and every table but the gazetteer is emptied after it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kapfinder import create_app  # noqa: E402
from kapfinder.config import TestConfig  # noqa: E402

ENGINE = os.environ.get("KAPFINDER_TEST_ENGINE", "sqlite")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/kapfinder_test"
KEEP_TABLES = {"gazetteer_zip", "gazetteer_place", "alembic_version", "spatial_ref_sys"}
IN_CI = os.environ.get("CI", "").lower() == "true"
#: Where the run writes its one-line outcome for `make test` (.ci/test_engines), when set.
SUMMARY_FILE = os.environ.get("KAPFINDER_TEST_SUMMARY")
#: Why the PostgreSQL suite could not run, once the database fixture has found out.
_database_skip_reason: str | None = None

pytest_plugins = ["fixtures.clinics", "fixtures.pages", "fixtures.accounts"]


def postgres_url() -> str:
    """The configured test database, or the default one with this run's PID appended, so that
    parallel runs on one server never drop each other's database."""
    given = os.environ.get("KAPFINDER_TEST_POSTGRES_URL")
    if given:
        return given
    url = make_url(DEFAULT_PG_URL)
    return url.set(database=f"{url.database}_{os.getpid()}").render_as_string(hide_password=False)


def _drop_postgres(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _prepare_postgres(url: str) -> str | None:
    """Create the test database afresh with PostGIS; return a reason to skip, or None."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            available = conn.execute(text(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first()
            if not available:
                return "the PostgreSQL server does not offer the postgis extension"
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    except Exception as exc:  # no server answering
        return f"no PostgreSQL server answers at {target.render_as_string(hide_password=True)}: {exc.__class__.__name__}"
    finally:
        admin.dispose()
    return None


def make_config(database_url: str, instance_path: Path, **overrides) -> TestConfig:
    cfg = TestConfig()
    cfg.SQLALCHEMY_DATABASE_URI = database_url
    cfg.INSTANCE_PATH = str(instance_path)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    if ENGINE == "postgres":
        url = postgres_url()
        reason = _prepare_postgres(url)
        if reason:
            global _database_skip_reason
            _database_skip_reason = reason
            pytest.skip(reason)
        yield url
        _drop_postgres(url)
        return
    yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'kapfinder.sqlite3'}"


@pytest.fixture(scope="session")
def migrated(database_url, tmp_path_factory) -> str:
    from flask_migrate import upgrade

    app = create_app(make_config(database_url, tmp_path_factory.mktemp("instance")))
    with app.app_context():
        upgrade()
        from kapfinder.extensions import db
        db.engine.dispose()
    return database_url


@pytest.fixture
def instance_path(tmp_path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


@pytest.fixture
def app_config(migrated, instance_path) -> TestConfig:
    """The configuration the ``app`` fixture uses; override attributes in a test module's fixture."""
    return make_config(migrated, instance_path)


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    from kapfinder.extensions import db

    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables(db.engine)
        db.engine.dispose()


def _empty_tables(engine) -> None:
    from kapfinder.models import Base

    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEEP_TABLES:
                conn.execute(table.delete())


@pytest.fixture
def db_session(app):
    from kapfinder.extensions import db

    return db.session


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def pytest_sessionfinish(session, exitstatus):
    """In CI every suite is required: a skipped test fails the run. With KAPFINDER_TEST_SUMMARY set,
    the run's outcome is written there in one line, so `make test` never says "passed" for an
    engine whose suite was skipped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped:
        if reporter:
            reporter.write_line(f"CI=true: {skipped} test(s) skipped; every suite must run in CI.", red=True)
        session.exitstatus = 1
    if SUMMARY_FILE:
        Path(SUMMARY_FILE).write_text(outcome_line(reporter.stats if reporter else {}, int(session.exitstatus)) + "\n")


def outcome_line(stats: dict, exitstatus: int) -> str:
    """``passed (…)``, ``failed (…)`` or, when the PostgreSQL suite could not run, ``skipped (no postgis: …)``."""
    counts = {key: len(stats.get(key, [])) for key in ("passed", "failed", "error", "skipped")}
    tally = ", ".join(f"{n} {key}" for key, n in counts.items() if n)
    if _database_skip_reason:
        return f"skipped (no postgis: {_database_skip_reason}; {tally})"
    if exitstatus != 0:
        return f"failed (exit {exitstatus}; {tally or 'no tests ran'})"
    return f"passed ({tally})"
