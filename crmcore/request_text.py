"""Text no column can store, refused wherever a request's text is read.

PostgreSQL's text types cannot hold U+0000 (NUL): the driver refuses the whole
statement, so a NUL in a form, a query parameter, a JSON body or a path was a
server error (500) wherever it reached a query, in the core's pages and
plugins' alike. SQLite stores it, and tools reading the database as C strings
then cut the value there. No field of the CRM has a use for it.

The checks sit where Werkzeug and the API kit hand text over, so they run when
a view (or the CSRF check) first reads it, after the blueprint's own limits
and authentication, and they answer for every view at once:

- query parameters, form fields and upload names: :class:`CrmRequest`;
- JSON bodies: :func:`crmcore.api.blueprint.json_body` through :func:`refuse_nul`;
- path segments: :class:`TextConverter` (a path holding NUL names nothing: 404).
"""

from __future__ import annotations

from typing import Any

from flask import Request
from werkzeug.datastructures import FileStorage, ImmutableMultiDict
from werkzeug.routing import Map, UnicodeConverter

from crmcore.errors import ValidationFailed

NUL = "\x00"
MESSAGE = "Contains the NUL character (U+0000), which cannot be stored."
NAME_MESSAGE = "The name contains the NUL character (U+0000)."


class UnstorableText(ValidationFailed):
    """A request carries text that no column can store (422)."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(f"Text in {', '.join(sorted(errors))} contains the NUL character "
                         "(U+0000), which cannot be stored.", errors)


def _name(key: str) -> str:
    return key.replace(NUL, "\\u0000")


def _json_errors(value: Any) -> Any:
    """Errors shaped like marshmallow's for every string in the parsed JSON
    ``value`` holding NUL (``{"tags": {"0": [MESSAGE]}}``), or None."""
    if isinstance(value, str):
        return [MESSAGE] if NUL in value else None
    if isinstance(value, list):
        items = {str(i): _json_errors(item) for i, item in enumerate(value)}
        return {i: e for i, e in items.items() if e} or None
    if isinstance(value, dict):
        errors: dict[str, Any] = {}
        for key, item in value.items():
            if NUL in key:
                errors[_name(key)] = [NAME_MESSAGE]
            elif found := _json_errors(item):
                errors[key] = found
        return errors or None
    return None


class StorableFields(ImmutableMultiDict[str, Any]):
    """Query parameters, form fields and uploads as Werkzeug parses them,
    refusing any name, value or upload file name that holds NUL."""

    def __init__(self, mapping: Any = None) -> None:
        super().__init__(mapping)
        errors: dict[str, list[str]] = {}
        for key, value in self.items(multi=True):
            text = value.filename if isinstance(value, FileStorage) else value
            if NUL in key:
                errors[_name(key)] = [NAME_MESSAGE]
            elif isinstance(text, str) and NUL in text:
                errors[key] = [MESSAGE]
        if errors:
            raise UnstorableText(errors)


class CrmRequest(Request):
    """The app's request: Flask's, reading its query and form into
    :class:`StorableFields`."""

    parameter_storage_class = StorableFields


class TextConverter(UnicodeConverter):
    """``<name>`` in every route, the core's and plugins': a segment holding NUL
    names nothing, so it matches no route (404) instead of reaching a query."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(url_map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]", 1)


def refuse_nul(body: dict[str, Any]) -> None:
    """Raise :class:`UnstorableText` naming the fields of a parsed JSON body
    that hold NUL."""
    errors = _json_errors(body)
    if errors:
        raise UnstorableText(errors)
