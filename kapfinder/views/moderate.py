"""The moderate blueprint."""
from flask import Blueprint

bp = Blueprint("moderate", __name__, url_prefix="/moderate" or None)
