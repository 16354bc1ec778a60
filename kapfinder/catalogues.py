"""The compiled translation catalogues (``.mo``), built from the committed ``.po`` files when the app
starts: a fresh clone needs no build step, and ``.mo`` files are never committed (.gitignore).

A ``.mo`` is rebuilt when it is missing or older than its ``.po``. It is written beside the ``.po``
(``kapfinder/translations/<lang>/LC_MESSAGES/``) or, when that directory is read-only, under the
instance folder; ``compile_catalogues`` returns the directory Flask-Babel should read. Flask-free.
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

#: Where the ``.po`` files live.
SOURCE_DIR = Path(__file__).parent / "translations"
_lock = threading.Lock()



def languages(source: Path = SOURCE_DIR) -> list[str]:
    """The languages with a catalogue, e.g. ``["es"]``."""
    return sorted(p.parent.parent.name for p in source.glob("*/LC_MESSAGES/messages.po"))


def _stale(po: Path, mo: Path) -> bool:
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime


def _compile(po: Path, mo: Path) -> None:
    with po.open("rb") as handle:
        catalogue = read_po(handle, locale=po.parent.parent.name)
    mo.parent.mkdir(parents=True, exist_ok=True)
    # Written to a temporary file and renamed: a process starting alongside never reads half a file.
    fd, tmp = tempfile.mkstemp(dir=mo.parent, suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalogue, use_fuzzy=False)
        os.replace(tmp, mo)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def compile_catalogues(fallback_dir: Path, source: Path = SOURCE_DIR) -> str:
    """Build every stale ``.mo``; the translations directory to read them from."""
    with _lock:
        target = source if os.access(source, os.W_OK) else fallback_dir / "translations"
        for language in languages(source):
            po = source / language / "LC_MESSAGES" / "messages.po"
            mo = target / language / "LC_MESSAGES" / "messages.mo"
            if _stale(po, mo):
                _compile(po, mo)
        return str(target)
