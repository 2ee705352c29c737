"""The base schema every input schema derives from."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from crmcore.db import MAX_INT
from crmcore.errors import ValidationFailed


class Integer(fields.Integer):
    """A whole number. marshmallow's own turns 2.7 into 2 (``int()`` drops the
    fraction); this one refuses it, so that no input is stored other than
    sent. 2.0 is 2, and text ("2", from a form) is read as marshmallow reads
    it."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._validated(value)  # type: ignore[no-any-return]


class Id(Integer):
    """The id of a stored row: a positive integer the database can hold, so
    that a huge number is a message on its field, not a driver error."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(min=1, max=MAX_INT), **kwargs)


class StrictSchema(Schema):
    """Refuses unknown fields, so that a caller can never set what it may not
    (ids, roles, owners) by adding it to a request."""

    class Meta:
        unknown = RAISE


def load(schema: Schema, data: Any, **kwargs: Any) -> Any:
    """Validate ``data``; raise :class:`ValidationFailed` with per-field messages."""
    try:
        return schema.load(data, **kwargs)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed("The input has errors; see the fields.", messages) from None
