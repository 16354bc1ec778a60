"""Public actions on a listing: claim it, report a problem."""
from flask import Blueprint

bp = Blueprint("community", __name__)
