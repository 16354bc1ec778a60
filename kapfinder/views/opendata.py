"""Downloads of the open-data exports under /open-data/<file> (made by ``flask clinics export``).

Only files inside ``instance/exports/`` are served; ``send_from_directory`` refuses any path that
would leave it (``..``, absolute paths), and nothing else under ``instance/`` is reachable.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_from_directory

bp = Blueprint("opendata", __name__)

TYPES = {".csv": "text/csv", ".json": "application/json", ".txt": "text/plain"}


@bp.get("/open-data/<path:filename>")
def download(filename: str):
    exports = Path(current_app.instance_path) / "exports"
    if any(part.startswith(".") for part in Path(filename).parts):
        from werkzeug.exceptions import NotFound
        raise NotFound()
    mimetype = TYPES.get(Path(filename).suffix.lower(), "application/octet-stream")
    response = send_from_directory(exports, filename, mimetype=mimetype, max_age=300)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
