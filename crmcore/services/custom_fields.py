"""Custom fields that admins define per record type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmcore.auth.roles import require
from crmcore.errors import Conflict, NotFound, ValidationFailed
from crmcore.models import CustomField, User
from crmcore.schemas.base import load
from crmcore.schemas.records import CustomFieldInput


def definitions(session: Session, record_type: str) -> list[CustomField]:
    return list(session.scalars(select(CustomField).where(CustomField.record_type == record_type)
                                .order_by(CustomField.position, CustomField.id)))


def _check_choices(values: Mapping[str, Any]) -> None:
    if values.get("field_type") == "choice" and not values.get("choices"):
        raise ValidationFailed("A choice field needs choices.",
                               {"choices": ["List at least one choice."]})


def create_field(session: Session, actor: User | None, data: Mapping[str, Any]) -> CustomField:
    require(session, actor, "settings.manage")
    values = load(CustomFieldInput(), data)
    _check_choices(values)
    field = CustomField(**values)
    try:
        with session.begin_nested():  # add inside: begin_nested() flushes what is pending
            session.add(field)
            session.flush()
    except IntegrityError:
        raise Conflict(f"A {values['record_type']} field named {values['name']} exists.",
                       {"name": ["Already in use."]}) from None
    return field


def update_field(session: Session, actor: User | None, field_id: int,
                 data: Mapping[str, Any]) -> CustomField:
    """Change a field's label, choices, requirement or position; its name, type
    and record type stay, so that stored values keep their meaning."""
    require(session, actor, "settings.manage")
    field = session.get(CustomField, field_id)
    if field is None:
        raise NotFound("No such custom field.")
    values = load(CustomFieldInput(partial=True, only=("label", "choices", "required",
                                                       "position")), data)
    _check_choices({"field_type": field.field_type, "choices": values.get("choices",
                                                                           field.choices)})
    for key, value in values.items():
        setattr(field, key, value)
    session.flush()
    return field


def delete_field(session: Session, actor: User | None, field_id: int) -> None:
    """Remove a field from forms and the API; values already stored stay in the records."""
    require(session, actor, "settings.manage")
    field = session.get(CustomField, field_id)
    if field is None:
        raise NotFound("No such custom field.")
    session.delete(field)
    session.flush()
