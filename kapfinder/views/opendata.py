"""Downloads of the open-data exports under /open-data/<file> (made by ``flask clinics export``).

Only files inside ``instance/exports/`` are served; ``send_from_directory`` refuses any path that
would leave it (``..``, absolute paths), and nothing else under ``instance/`` is reachable.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, send_from_directory

from ..exchange.common import FLAT_CSV_NAME, LICENSE_NAME

bp = Blueprint("opendata", __name__)
#: What ``flask clinics export`` writes under instance/exports/, and the files of each worth listing.
EXPORTS = (
    ("csv", FLAT_CSV_NAME, ()),
    ("hsds-json", "hsds-json", ("taxonomies.json", LICENSE_NAME)),
    ("hsds-csv", "hsds-csv", ("datapackage.json", LICENSE_NAME)),
)

TYPES = {".csv": "text/csv", ".json": "application/json", ".txt": "text/plain"}


@bp.get("/open-data/")
def index():
    """The downloads that exist now, the HSDS API, and the licence."""
    exports = Path(current_app.instance_path) / "exports"
    available = []
    for fmt, name, files in EXPORTS:
        path = exports / name
        if path.exists():
            available.append({"format": fmt, "name": name, "is_dir": path.is_dir(),
                              "files": [f for f in files if (path / f).is_file()]})
    return render_template("opendata/index.html", available=available,
                           top_license=(exports / LICENSE_NAME).is_file(),
                           license=current_app.config.get("DATA_LICENSE"),
                           attribution=current_app.config.get("DATA_ATTRIBUTION"))


@bp.get("/open-data/<path:filename>")
def download(filename: str):
    exports = Path(current_app.instance_path) / "exports"
    if any(part.startswith(".") for part in Path(filename).parts):  # nothing hidden: no half-written export
        abort(404)
    suffix = Path(filename).suffix.lower()
    mimetype = TYPES.get(suffix, "application/octet-stream")
    # A CSV is saved, never opened in the browser's tab (nor sniffed into something else).
    return send_from_directory(exports, filename, mimetype=mimetype, max_age=300, as_attachment=suffix == ".csv")
