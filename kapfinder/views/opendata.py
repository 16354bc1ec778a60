"""Downloads of the open-data exports under /open-data/<file>."""
from flask import Blueprint

bp = Blueprint("opendata", __name__)
