"""Domain errors raised by the Flask-free core.

Each carries a machine-readable ``code``, the ``field`` (parameter or form field) it concerns,
and ``params`` for the message. Views and the API turn them into translated messages
(``kapfinder.messages``) and the right HTTP status; the core never formats text for people.
"""
from __future__ import annotations

from typing import Any


class KapfinderError(Exception):
    code = "error"
    status = 400

    def __init__(self, field: str | None = None, reason: str | None = None, **params: Any):
        self.field = field
        self.reason = reason or self.code
        self.params = params
        super().__init__(f"{self.code}: {field}: {self.reason} {params}")


class InvalidParameter(KapfinderError):
    """A parameter or form value is not acceptable. ``reason`` says why (e.g. ``not_a_number``)."""

    code = "invalid_parameter"


class InvalidParameters(InvalidParameter):
    """Several parameters are not acceptable: ``errors`` holds one error per problem, in the order
    they were found. The error itself reads as the first (its field, reason and params), which is
    what an answer with room for one error (the JSON API) reports."""

    def __init__(self, errors: list[InvalidParameter]):
        first = errors[0]
        super().__init__(first.field, first.reason, **first.params)
        self.errors = list(errors)


class UnknownLocation(KapfinderError):
    """A location the gazetteer cannot resolve. ``reason`` is ``unknown_location``, ``unknown_zip`` (an
    address whose trailing ZIP does not exist) or ``zip_not_in_state`` (its ZIP lies in another state
    than the one typed). ``suggestions`` are places the patient may have meant, best first, each
    ``{"label", "location"}``: never applied, only offered. None where nobody looked for any (HSDS)."""

    code = "unknown_location"

    def __init__(self, location: str, field: str = "location", reason: str = "unknown_location",
                 suggestions: list[dict[str, str]] | None = None, **params: Any):
        super().__init__(field, reason, location=location, **params)
        self.location = location
        self.suggestions = suggestions


class AmbiguousLocation(KapfinderError):
    code = "ambiguous_location"

    def __init__(self, location: str, choices: list[dict[str, str]], field: str = "location"):
        super().__init__(field, "ambiguous_location", location=location)
        self.location = location
        self.choices = choices


class NotFound(KapfinderError):
    code = "not_found"
    status = 404


class Conflict(KapfinderError):
    """An edit made from a form whose version is no longer current."""

    code = "conflict"
    status = 409
