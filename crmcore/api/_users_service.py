"""The caller's own profile, kept here until ``crmcore/services/users.py`` has it:
a user may change their display name, never their role or active flag."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import fields, validate
from sqlalchemy.orm import Session

from crmcore.models import User
from crmcore.schemas.base import StrictSchema, load


class ProfileInput(StrictSchema):
    name = fields.String(validate=validate.Length(max=200))


def update_profile(session: Session, user: User, data: Mapping[str, Any]) -> User:
    values = load(ProfileInput(), data)
    for key, value in values.items():
        setattr(user, key, value)
    session.flush()
    return user
