"""User schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from crmcore.auth.passwords import password_problem
from crmcore.schemas.base import StrictSchema


def normalize_email(value: str) -> str:
    """Validate an address and return its normalized, lower-cased form."""
    # Imported on first use: the validator compiles its large character-class
    # patterns on import, which every ``crm`` command and worker would pay.
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(str(exc)) from None
    return result.normalized.lower()


class EmailField(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return normalize_email(super()._deserialize(value, attr, data, **kwargs))


def check_password(value: str) -> None:
    problem = password_problem(value)
    if problem:
        raise ValidationError(problem)


class UserCreateSchema(StrictSchema):
    email = EmailField(required=True)
    name = fields.String(load_default="", validate=validate.Length(max=200))
    role = fields.String(required=True)
    password = fields.String(load_default=None, validate=check_password, load_only=True)


class UserUpdateSchema(StrictSchema):
    name = fields.String(validate=validate.Length(max=200))
    role = fields.String()
    is_active = fields.Boolean()


class ProfileInput(StrictSchema):
    name = fields.String(validate=validate.Length(max=200))


class UserSchema(StrictSchema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    role = fields.String()
    is_active = fields.Boolean()
    created_at = fields.DateTime()
    last_login_at = fields.DateTime(allow_none=True)
