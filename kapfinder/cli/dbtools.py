"""``flask db backup PATH`` and ``flask db restore PATH``, in the ``db`` group beside Flask-Migrate's commands.

SQLite: the online backup API, page by page, so the site keeps serving while it runs and the copy
is consistent. PostgreSQL: ``pg_dump -Fc`` / ``pg_restore --clean``; the password travels in the
environment (PGPASSWORD), never on a command line other users can read.

A backup holds every password hash and owner e-mail address: it is written readable by its owner
only (0600). A restore first checks that the backup's schema version (Alembic's) is the one this
code expects, and refuses any other before touching the database.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.engine import URL, Engine


def _engine() -> Engine:
    from ..extensions import db

    return db.engine


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise click.ClickException("An in-memory SQLite database cannot be backed up or restored.")
    return Path(url.database)


def _libpq(url: URL) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for the PostgreSQL client programs, and their environment."""
    env = dict(os.environ)
    args = ["--no-password"]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    for key, value in url.query.items():  # e.g. sslmode=require
        if isinstance(value, str) and key.startswith("ssl"):
            env["PG" + key.upper()] = value
    args += ["--dbname", url.database or "postgres"]
    return args, env


def _program(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise click.ClickException(f"{name} is not installed (Debian: apt-get install postgresql-client).")
    return path


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise click.ClickException(f"{Path(command[0]).name} failed: {done.stderr.strip()}")


PRIVATE = stat.S_IRUSR | stat.S_IWUSR  # 0600


def _private_file(path: Path) -> None:
    """Create ``path`` empty and readable by its owner only, before anything is written to it."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))


def backup(engine: Engine, target: Path) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    _private_file(partial)
    if engine.dialect.name == "sqlite":
        source = sqlite3.connect(_sqlite_path(engine.url))
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
    elif engine.dialect.name == "postgresql":
        args, env = _libpq(engine.url)
        _run([_program("pg_dump"), "--format=custom", "--no-owner", "--file", str(partial), *args], env)
    else:
        partial.unlink()
        raise click.ClickException(f"Backups are not supported on {engine.dialect.name}.")
    os.chmod(partial, PRIVATE)  # whatever the umask or the program did
    partial.replace(target)  # a backup file is either complete or absent


def code_schema_version() -> str:
    """The Alembic revision this code's migrations end at (Alembic loads only for this)."""
    from alembic.script import ScriptDirectory

    from ..migrating import MIGRATIONS

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


_COPY_VERSION = re.compile(r"^COPY \S*alembic_version \(version_num\) FROM stdin;\n(.*?)^\\\.$", re.M | re.S)


def backup_schema_version(engine: Engine, source: Path) -> str | None:
    """The Alembic revision recorded in the backup at ``source``; None if it records none."""
    if engine.dialect.name == "sqlite":
        try:
            backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            try:
                if backup_db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                    raise click.ClickException(f"{source} is not an intact SQLite database.")
                if not backup_db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                         "AND name = 'alembic_version'").fetchone():
                    return None
                row = backup_db.execute("SELECT version_num FROM alembic_version").fetchone()
            finally:
                backup_db.close()
        except sqlite3.DatabaseError as exc:
            raise click.ClickException(f"{source} is not a SQLite database: {exc}") from None
        return row[0] if row else None
    # PostgreSQL: pg_restore prints the table's rows as SQL, from the file alone.
    done = subprocess.run([_program("pg_restore"), "--data-only", "--table=alembic_version", "--file=-",
                           str(source)], capture_output=True, text=True)
    if done.returncode != 0:
        raise click.ClickException(f"{source} is not a PostgreSQL backup: {done.stderr.strip()}")
    found = _COPY_VERSION.search(done.stdout)
    versions = found.group(1).split() if found else []
    return versions[0] if versions else None


def check_schema_version(engine: Engine, source: Path) -> None:
    """Refuse a backup whose schema is not the one this code runs on, before anything changes."""
    expected = code_schema_version()
    found = backup_schema_version(engine, source)
    if found is None:
        raise click.ClickException(f"{source} records no schema version: it is not a kapfinder backup. "
                                   "The database was not changed.")
    if found != expected:
        raise click.ClickException(
            f"{source} holds schema version {found}, but this code expects {expected}. The database was "
            f"not changed. Restore it with the kapfinder release that wrote it (its migrations end at {found}), "
            "then run `flask db upgrade` with this release.")


def restore(engine: Engine, source: Path) -> None:
    if not source.is_file():
        raise click.ClickException(f"No backup at {source}.")
    if engine.dialect.name not in ("sqlite", "postgresql"):
        raise click.ClickException(f"Restores are not supported on {engine.dialect.name}.")
    check_schema_version(engine, source)
    engine.dispose()  # no pooled connection keeps reading the old data
    if engine.dialect.name == "sqlite":
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            if backup_db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise click.ClickException(f"{source} is not an intact SQLite database.")
            live = sqlite3.connect(_sqlite_path(engine.url), timeout=15)
            try:
                backup_db.backup(live)  # replaces every page of the live database in one go
            finally:
                live.close()
        except sqlite3.DatabaseError as exc:
            raise click.ClickException(f"{source} is not a SQLite database: {exc}") from None
        finally:
            backup_db.close()
    elif engine.dialect.name == "postgresql":
        args, env = _libpq(engine.url)
        _run([_program("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--exit-on-error", *args, str(source)], env)
    else:
        raise click.ClickException(f"Restores are not supported on {engine.dialect.name}.")
    engine.dispose()
    _new_search_epoch(engine)


def _new_search_epoch(engine: Engine) -> None:
    """Search indexes in running processes rebuild: the restored generation counter may repeat one
    they saw with other data (a backup from before migration 0007 has no search_state: nothing to do)."""
    from ..search.freshness import has_state_table, new_epoch

    with engine.begin() as conn:
        if has_state_table(conn):
            new_epoch(conn)
    engine.dispose()


def clinic_count(engine: Engine) -> int:
    from ..models import Clinic

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Clinic)).scalar_one()


def register(app: Flask) -> None:
    group = app.cli.commands["db"]  # migrating.defer made it
    assert isinstance(group, click.Group)

    @group.command("backup")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    @with_appcontext
    def backup_command(path: Path) -> None:
        """Write a consistent copy of the database to PATH while the site keeps running."""
        backup(_engine(), path)
        click.echo(f"Backed up the database to {path}.")

    @group.command("restore")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @with_appcontext
    def restore_command(path: Path, yes: bool) -> None:
        """Replace the whole database with the backup at PATH (made by `flask db backup`)."""
        if not yes:
            click.confirm(f"Replace every row of the database with {path}?", abort=True)
        restore(_engine(), path)
        click.echo(f"Restored the database from {path}.")

    @group.command("clinic-count", hidden=True)
    @with_appcontext
    def clinic_count_command() -> None:
        """Print how many clinics the database holds (make run loads sample data when 0)."""
        click.echo(clinic_count(_engine()))
