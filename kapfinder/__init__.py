"""kapfinder: a directory of clinics offering ketamine-assisted psychotherapy."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from .config import ROOT, Config, config_for_env

log = logging.getLogger("kapfinder")


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` is a Config object, or a dict of overrides on top of the environment's."""
    if isinstance(config, Config):
        cfg = config
    else:
        cfg = config_for_env()
    cfg.check()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=cfg.INSTANCE_PATH,
    )
    app.config.from_object(cfg)
    app.config["KAPFINDER_ENV"] = cfg.ENV_NAME
    if isinstance(config, dict):
        app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    register_extensions(app)
    register_serving(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_web(app)
    return app


def register_extensions(app: Flask) -> None:
    from .db import configure_engine
    from . import migrating
    from .extensions import babel, csrf, db, limiter, login_manager

    db.init_app(app)
    migrating.defer(app)  # Flask-Migrate (and Alembic) load only when something migrates
    csrf.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=lambda: "en")
    limiter.init_app(app)
    with app.app_context():
        configure_engine(db.engine)


def register_serving(app: Flask) -> None:
    from .serving import configure

    configure(app)


def register_blueprints(app: Flask) -> None:
    from .views import account, api, community, directory, hsds, insurance, moderate, opendata, owner

    for module in (directory, insurance, community, account, owner, moderate, api, hsds, opendata):
        app.register_blueprint(module.bp)


def register_errorhandlers(app: Flask) -> None:
    from .views.errors import register

    register(app)


def register_commands(app: Flask) -> None:
    from .cli import register

    register(app)


def register_web(app: Flask) -> None:
    from .web import register

    register(app)
