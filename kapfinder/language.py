"""The language a page is shown in: English or Spanish (issue 19, "The site in Spanish").

``?lang=es`` or ``?lang=en`` in the URL decides; without it, the browser's ``Accept-Language``; else
English. No cookie: a shared link opens in the language it carries. Every link ``url_for`` builds on
a page that was chosen by the URL, or is Spanish, carries ``lang`` on (``url_defaults``), GET forms
carry a hidden ``lang`` input (``lang_input`` in templates), and every page has a plain link to the
other language plus ``hreflang`` alternates. The JSON APIs stay language-neutral (slugs, English),
except ``/api/v1/taxonomy?lang=es``.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, has_request_context, request
from flask_babel import refresh

#: Languages a page can be read in; the first is the default.
LANGUAGES: tuple[str, ...] = ("en", "es")
DEFAULT = LANGUAGES[0]
#: Each language's name, written in that language (the switch link reads "Español" on an English page).
NAMES = {"en": "English", "es": "Español"}
#: ``<html lang>`` and ``hreflang`` values.
HTML_LANG = {"en": "en", "es": "es"}
#: The Babel locale that formats dates and numbers (and finds the catalogue: es_US falls back to es).
BABEL_LOCALES = {"en": "en", "es": "es_US"}
#: Where answers are JSON: language-neutral, except the taxonomy's labels.
JSON_PREFIXES = ("/api/", "/hsds")
TRANSLATED_API_ENDPOINTS = ("api.taxonomy",)


def _is_json_path() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def asked() -> str | None:
    """The language the URL asks for (``?lang=``), or None."""
    value = request.args.get("lang", "").strip().lower()
    return value if value in LANGUAGES else None


def choose() -> str:
    """The language of this request: the URL's, else the browser's preference, else English."""
    if _is_json_path() and request.endpoint not in TRANSLATED_API_ENDPOINTS:
        return DEFAULT
    chosen = asked()
    if chosen:
        return chosen
    if _is_json_path():
        return DEFAULT  # the taxonomy translates only when asked in the URL
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT) or DEFAULT


def current() -> str:
    """The language of this request (decided once per request), English outside one."""
    if not has_request_context():
        return DEFAULT
    value = g.get("kapfinder_language")
    if value is None:
        value = g.kapfinder_language = choose()
    return value


def babel_locale() -> str:
    """Flask-Babel's locale selector: Spanish pages format dates and numbers for es-US
    ("6 dic 2026", "$1,600")."""
    return BABEL_LOCALES[current()]


def carried() -> str | None:
    """The ``lang`` value links on this page carry: the page's language when the URL named it or the
    page is not English; None otherwise (an English page from an English browser keeps clean URLs)."""
    if not has_request_context() or _is_json_path():
        return None
    if g.get("kapfinder_language_for_mail"):
        language = g.kapfinder_language
        return language if language != DEFAULT else None
    language = current()
    return language if (asked() or language != DEFAULT) else None


#: Query parameters a language link never repeats: where to go after signing in, one-time tokens.
NOT_REPEATED = frozenset({"lang", "next", "token"})
#: Longer values are not repeated either (no search parameter is this long; an error page may show one).
LONGEST_REPEATED = 200


def url_with_lang(language: str | None) -> str:
    """This page's URL (path and query) with ``lang`` set to ``language``, or without it for None.
    An error page's language link goes to the home page: its address may be anything at all."""
    if g.get("kapfinder_error_page"):
        return "/" + (f"?lang={language}" if language else "")
    args = [(k, v) for k, values in request.args.lists() if k not in NOT_REPEATED
            for v in values if len(v) <= LONGEST_REPEATED]
    if language:
        args.append(("lang", language))
    query = urlencode(args)
    return request.path + (f"?{query}" if query else "")


def alternates() -> list[dict[str, str]]:
    """``<link rel="alternate" hreflang>`` targets: each language, and x-default (no ``lang``); none
    on an error page."""
    if g.get("kapfinder_error_page"):
        return []
    base = (current_app.config.get("BASE_URL") or request.host_url).rstrip("/")
    links = [{"hreflang": HTML_LANG[lang], "href": base + url_with_lang(lang)} for lang in LANGUAGES]
    links.append({"hreflang": "x-default", "href": base + url_with_lang(None)})
    return links


def switch_links() -> list[dict[str, str]]:
    """The visible switch: a link to this page in every other language, named in that language."""
    here = current()
    return [{"lang": lang, "name": NAMES[lang], "href": url_with_lang(lang), "hreflang": HTML_LANG[lang]}
            for lang in LANGUAGES if lang != here]


@contextmanager
def speaking(language: str = DEFAULT) -> Iterator[None]:
    """Words and links in ``language`` for the block, whatever the page's: a mail to someone other
    than the reader (an owner told of a report, of a moderator's decision) is in English, the
    language kapfinder knows its owners read, with links that carry no ``lang``."""
    from flask_babel import force_locale

    if not has_request_context():
        with force_locale(BABEL_LOCALES[language]):
            yield
        return
    saved = (g.get("kapfinder_language"), g.get("kapfinder_language_for_mail"))
    g.kapfinder_language, g.kapfinder_language_for_mail = language, True
    try:
        with force_locale(BABEL_LOCALES[language]):
            yield
    finally:
        g.kapfinder_language, g.kapfinder_language_for_mail = saved


def register(app: Flask) -> None:
    """Links keep the language, every response says it varies with ``Accept-Language``, and
    templates get ``html_lang``, ``page_language``, ``lang_value``, ``language_switch`` and
    ``language_alternates``."""

    def _forget_previous_request() -> None:
        # A real request starts with a fresh ``g``; a test holding one app context across requests does not.
        for key in ("kapfinder_language", "kapfinder_language_for_mail", "kapfinder_error_page"):
            g.pop(key, None)
        refresh()  # Flask-Babel's locale and catalogue, cached on ``g`` too

    app.before_request_funcs.setdefault(None, []).insert(0, _forget_previous_request)

    @app.url_defaults
    def _keep_language(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" or "lang" in values or endpoint.startswith(("api.", "hsds.")):
            return
        language = carried()
        if language:
            values["lang"] = language

    @app.after_request
    def _vary(response: Response) -> Response:
        if has_request_context() and request.endpoint != "static":
            response.vary.add("Accept-Language")
        return response

    @app.context_processor
    def _language_values() -> dict[str, Any]:
        if not has_request_context():
            return {"html_lang": HTML_LANG[DEFAULT], "page_language": DEFAULT, "lang_value": None,
                    "language_switch": [], "language_alternates": []}
        return {"html_lang": HTML_LANG[current()], "page_language": current(), "lang_value": carried(),
                "language_switch": switch_links(), "language_alternates": alternates()}
