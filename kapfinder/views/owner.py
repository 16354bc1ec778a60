"""The owner blueprint."""
from flask import Blueprint

bp = Blueprint("owner", __name__, url_prefix="/owner" or None)
