"""What the location field shows besides its message: the "which one?" choices of an ambiguous place
and the "Did you mean …?" suggestions for one the gazetteer does not know. Each is a link that
keeps every other parameter of the page, so following it runs the same search for that place.
Shared by the search page and the insurance pages; rendered by templates/_macros/location_field.html.
"""
from __future__ import annotations

from urllib.parse import urlencode

from babel.lists import format_list
from flask_babel import get_locale
from markupsafe import Markup

from ..errors import AmbiguousLocation, KapfinderError, UnknownLocation


def location_links(err: KapfinderError, base: str, pairs) -> dict[str, list[dict[str, str]]]:
    """``location_choices`` and ``location_suggestions`` for the template: ``[{"label", "href"}]``.

    ``pairs`` are the page's parameters; ``location`` (and ``page``: a new place starts at page 1)
    are replaced.
    """
    rest = [(k, v) for k, v in pairs if k not in ("location", "page")]

    def links(places: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{"label": p["label"], "href": base + "?" + urlencode([("location", p["location"]), *rest])}
                for p in places]

    if isinstance(err, AmbiguousLocation):
        return {"location_choices": links(err.choices), "location_suggestions": []}
    if isinstance(err, UnknownLocation) and err.suggestions:
        return {"location_choices": [], "location_suggestions": links(err.suggestions)}
    return {"location_choices": [], "location_suggestions": []}


def or_list(links) -> Markup:
    """Rendered links joined the reader's way: "A, B or C" (babel's CLDR list patterns)."""
    items = [str(Markup('<a href="{}">{}</a>').format(link["href"], link["label"])) for link in links]
    if not items:
        return Markup("")
    # The items are escaped markup and CLDR's patterns hold only words and punctuation.
    return Markup(format_list(items, style="or", locale=get_locale() or "en"))
