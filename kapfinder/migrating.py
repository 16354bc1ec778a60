"""Flask-Migrate, bound to the app only when something migrates.

Alembic, Mako and Alembic's dialect modules add about 11 MB to every process that imports them,
and a serving process never migrates: gunicorn's workers stay under their memory budget without
them. ``defer(app)`` registers the ``flask db`` group and ``app.extensions["migrate"]`` as stand-ins;
the first migration command, ``flask_migrate.upgrade()`` or ``migrations/env.py`` that touches
either binds the real Flask-Migrate (``bind``). ``flask db backup`` and
``clinic-count`` live in the same group and never load Alembic (``restore`` reads the head revision with it).
"""
from __future__ import annotations

from typing import Any

import click
from flask import Flask, g
from flask.cli import with_appcontext

from .config import ROOT

MIGRATIONS = ROOT / "migrations"


def bind(app: Flask) -> None:
    """Bind Flask-Migrate to ``app`` now (once): Alembic is imported here."""
    if not isinstance(app.extensions.get("migrate"), _DeferredConfig):
        return
    from flask_migrate import Migrate

    from .extensions import db

    ours = app.cli.commands.get("db")
    Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    if ours is not None:  # Migrate put its own group in; ours forwards to it and keeps the extras
        app.cli.add_command(ours)


def defer(app: Flask) -> None:
    app.extensions["migrate"] = _DeferredConfig(app)
    app.cli.add_command(_DeferredDbGroup(app))


class _DeferredConfig:
    """Stands in for Flask-Migrate's ``app.extensions["migrate"]`` until first used."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Any:
        bind(self._app)
        return getattr(self._app.extensions["migrate"], name)


class _DeferredDbGroup(click.Group):
    """``flask db``: the commands added here, then Flask-Migrate's, loaded when first looked up."""

    def __init__(self, app: Flask) -> None:
        # The options and callback of Flask-Migrate's own group, which its commands read from g.
        super().__init__("db", help="Database migrations (Flask-Migrate), backups and restores.",
                         callback=with_appcontext(_remember_options), params=[
                             click.Option(["-d", "--directory"], default=None,
                                          help='Migration script directory (default is "migrations")'),
                             click.Option(["-x", "--x-arg"], multiple=True,
                                          help="Additional arguments consumed by custom env.py scripts")])
        self._app = app

    def _migrate_group(self) -> click.Group:
        bind(self._app)
        from flask_migrate.cli import db as migrate_group

        return migrate_group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._migrate_group().list_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._migrate_group().get_command(ctx, cmd_name)


def _remember_options(directory: str | None, x_arg: tuple[str, ...]) -> None:
    g.directory = directory
    g.x_arg = x_arg
