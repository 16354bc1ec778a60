"""Bare extension objects, bound to the app in ``create_app`` (Flask-Migrate: see ``migrating``)."""
from flask import current_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from .models import Base



class KapfinderLoginManager(LoginManager):
    """Flask-Login, except that the remember cookie is deleted with the attributes it was set with:
    a browser keeps a ``Secure``/``__Host-`` cookie whose deletion lacks ``Secure``."""

    def _clear_cookie(self, response):
        config = current_app.config
        response.delete_cookie(config.get("REMEMBER_COOKIE_NAME", "remember_token"),
                               domain=config.get("REMEMBER_COOKIE_DOMAIN"),
                               path=config.get("REMEMBER_COOKIE_PATH", "/"),
                               secure=bool(config.get("REMEMBER_COOKIE_SECURE", False)),
                               httponly=bool(config.get("REMEMBER_COOKIE_HTTPONLY", True)),
                               samesite=config.get("REMEMBER_COOKIE_SAMESITE"))


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
login_manager = KapfinderLoginManager()
babel = Babel()
# Keys are the client address only: never a path with its query string (a patient's search).
limiter = Limiter(key_func=get_remote_address, default_limits=[])
