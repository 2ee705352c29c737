"""JSON text for the database's JSON columns and the HTTP API, read and written
by orjson where it gives the standard library's answer, and by :mod:`json`
where it would not.

Every list page reads five JSON cells a record and every import writes five a
row: the standard library spends more time on these small texts than the
driver spends fetching them. orjson differs from :mod:`json` in a few corners,
each handed back to :mod:`json` here so that what is stored and answered stays
exact:

- integers beyond 64 bits: orjson writes none and reads them as floats;
- ``NaN`` and ``Infinity``, which :mod:`json` reads (and wrote, in data stored
  before this codec); orjson refuses them. Written, they become ``null``, as
  orjson writes them: JSON has neither, and PostgreSQL refuses :mod:`json`'s;
- strings holding lone surrogates, which orjson neither reads nor writes;
- dict keys that are not strings, and types :mod:`json` refuses: orjson
  raises, then :mod:`json` gives its usual answer or error.

orjson writes UTF-8 where :mod:`json` escapes non-ASCII characters, and no
spaces after separators: the same values, shorter text.

Request bodies are read more strictly than stored cells (see
:meth:`JSONProvider.loads`): what a client sends must be JSON as RFC 8259 has it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

# Nineteen digits reach past the 64-bit range on the negative side.
_LONG_NUMBER = re.compile(r"[0-9]{19}")
_LONG_NUMBER_BYTES = re.compile(rb"[0-9]{19}")
# datetime and dataclasses go to ``default`` as they do with json.dumps, which
# refuses them without one, instead of being written by orjson's own rules.
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> str:
    """``json.dumps(value)``'s value as compact text."""
    try:
        return orjson.dumps(value, option=_PASSTHROUGH).decode()
    except TypeError:
        return json.dumps(value)


def loads(text: str | bytes) -> Any:
    """``json.loads(text)``."""
    if _long_number(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _long_number(text: str | bytes) -> bool:
    pattern = _LONG_NUMBER_BYTES if isinstance(text, bytes) else _LONG_NUMBER
    return pattern.search(text) is not None  # type: ignore[arg-type]


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON (``jsonify``, ``request.get_json``) through orjson. Answers
    are written as the default provider writes them (sorted keys, its
    ``default`` for dates, decimals and dataclasses, indented when the app
    pretty-prints), but in UTF-8; request bodies are read strictly."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        option = _PASSTHROUGH
        if kwargs.get("sort_keys", self.sort_keys):
            option |= orjson.OPT_SORT_KEYS
        if kwargs.get("indent"):
            option |= orjson.OPT_INDENT_2
        try:
            return orjson.dumps(obj, default=kwargs.get("default", self.default),
                                option=option).decode()
        except TypeError:
            return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Strict JSON in UTF-8 (RFC 8259), as request bodies must be: ``NaN``,
        ``Infinity`` and lone surrogates are malformed, a 400, instead of values
        that no column can store. Integers stay exact whatever their size."""
        value = orjson.loads(s)
        return json.loads(s) if _long_number(s) else value
