"""kapfinder: a directory of clinics offering ketamine-assisted psychotherapy.

``create_app`` is the table of contents of the web app: everything a request meets is registered
there, in the order it reads. Importing ``kapfinder`` (or any core module) loads no Flask.
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import ROOT, Config, config_for_env

if TYPE_CHECKING:
    from flask import Flask

#: The features, one blueprint each in ``kapfinder/views/<name>.py``, in the order their URLs are
#: matched. No feature needs another to be there: ``create_app(config, blueprints=...)`` may leave any out.
BLUEPRINTS: tuple[str, ...] = ("directory", "insurance", "community", "account", "owner", "moderate", "api",
                               "hsds", "opendata")


def create_app(config: Config | dict[str, Any] | None = None, *, blueprints: tuple[str, ...] = BLUEPRINTS) -> Flask:
    """Build the app. ``config`` is a Config object, or a dict of overrides on top of the environment's."""
    from flask import Flask

    from . import auth, cli, language, logs, serving, templating, web
    from .views import errors

    cfg = config if isinstance(config, Config) else config_for_env()
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

    logs.configure(app)               # where the request, auth and serving logs go: first, before anything logs
    register_extensions(app)          # database, migrations, CSRF, Flask-Login, translations, rate limits
    serving.configure(app)            # proxies, body limits, caches, JSON, the shared sign-in throttle
    auth.register(app)                # sessions and sign-in, for every page
    for name in blueprints:           # the features
        app.register_blueprint(import_module(f".views.{name}", __name__).bp)
    web.allow_open_data_reads(app)    # CORS for the JSON API, the HSDS API and the export downloads
    errors.register(app)              # error pages: JSON under /api/v1 and /hsds, HTML elsewhere
    cli.register(app)                 # the `flask` commands
    templating.register(app)          # template filters, tests, globals and the values every page reads
    language.register(app)            # English or Spanish: links keep ?lang=, Vary, the switch and hreflang
    web.register(app)                 # security headers and the request log line on every response; /healthz
    return app


def register_extensions(app: Flask) -> None:
    from . import migrating
    from .db import configure_engine
    from .extensions import babel, csrf, db, limiter, login_manager
    from .language import babel_locale

    db.init_app(app)
    migrating.defer(app)  # Flask-Migrate (and Alembic) load only when something migrates
    csrf.init_app(app)
    login_manager.init_app(app)
    from .catalogues import compile_catalogues

    app.config["BABEL_TRANSLATION_DIRECTORIES"] = compile_catalogues(Path(app.instance_path))
    babel.init_app(app, locale_selector=babel_locale)  # language.py: ?lang=, else Accept-Language
    limiter.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
