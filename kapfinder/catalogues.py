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


# --- extraction and the completeness check (`make messages`, tests/test_spanish.py) ---------------

ROOT = SOURCE_DIR.parent.parent
KEYWORDS = ("_l", "lazy_gettext")
#: Where the data-file messages come from (vocabularies, carrier notes), relative to the root.
DATA_PREFIX = "kapfinder/data/"


def _not_hidden(dirpath: str) -> bool:
    """Every directory but hidden ones. (Babel's default also skips names starting with "_", which
    left ``templates/_macros`` out of the catalogue; ``make messages`` passes ``--ignore-dirs`` too.)"""
    return not os.path.basename(dirpath).startswith(".")


def extract(root: Path = ROOT) -> dict[str, object]:
    """Every message id the code, the templates and the data files hold (``babel.cfg``'s mapping),
    keyed by its id (a plural's singular), each with one location, as ``pybabel extract`` finds them."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (root / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle, "babel.cfg")
    keywords = dict(DEFAULT_KEYWORDS)
    keywords.update({k: None for k in KEYWORDS})
    found: dict[str, object] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(root), method_map, options_map, keywords=keywords, directory_filter=_not_hidden):
        msgid = message[0] if isinstance(message, (tuple, list)) else message
        if msgid:
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def read_catalogue(language: str, source: Path = SOURCE_DIR):
    with (source / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


def problems(language: str, root: Path = ROOT) -> list[str]:
    """What stops ``language``'s catalogue from covering the site: an extracted message with no
    translation (missing, empty or fuzzy), and a translation whose placeholders differ from the
    English. Empty when the catalogue is complete."""
    catalogue = read_catalogue(language, root / "kapfinder" / "translations")
    extracted = extract(root)
    out = []
    for msgid, where in sorted(extracted.items()):
        message = catalogue.get(msgid)
        strings = (message.string if isinstance(message.string, (tuple, list)) else (message.string,)) \
            if message is not None else ()
        if message is None or message.fuzzy or not all(strings):
            state = "fuzzy" if message is not None and message.fuzzy else "untranslated"
            out.append(f"{where}: {state}: {msgid!r}")
    for message, errors in catalogue.check():
        if str(extracted.get(message.id, "")).startswith(DATA_PREFIX):
            continue  # data strings are shown as they are, never %-formatted ("20% coinsurance")
        for error in errors:
            out.append(f"{language} catalogue: {message.id!r}: {error}")
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m kapfinder.catalogues check``: every extracted message translated in every language."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv != ["check"]:
        print("usage: python -m kapfinder.catalogues check", file=sys.stderr)
        return 2
    failed = 0
    for language in languages():
        found = problems(language)
        for line in found:
            print(line)
        print(f"{language}: {'OK' if not found else f'{len(found)} problem(s)'}")
        failed += len(found)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
