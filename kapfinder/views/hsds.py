"""The hsds blueprint."""
from flask import Blueprint

bp = Blueprint("hsds", __name__, url_prefix="/hsds" or None)
