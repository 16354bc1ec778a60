"""The insurance blueprint."""
from flask import Blueprint

bp = Blueprint("insurance", __name__, url_prefix="/insurance" or None)
