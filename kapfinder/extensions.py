"""Bare extension objects, bound to the app in ``create_app`` (Flask-Migrate: see ``migrating``)."""
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from .models import Base

db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
# Keys are the client address only: never a path with its query string (a patient's search).
limiter = Limiter(key_func=get_remote_address, default_limits=[])
