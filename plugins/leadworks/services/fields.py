"""The lead form's fields an advertiser fills, and their checks. Source,
tags, stage and owner are set by this plugin, and fields other plugins add to
the CRM's lead form are for staff only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmcore_plugins.leadworks import schemas
from marshmallow import Schema, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmcore.errors import ValidationFailed
from crmcore.models import CustomField
from crmcore.schemas.base import load

BASE_FIELDS = ("full_name", "emails", "phones", "company", "login", "partner", "location")


def custom_fields(session: Session) -> list[CustomField]:
    """The CRM's custom fields of leads, in the form's order."""
    return list(session.scalars(select(CustomField).where(CustomField.record_type == "lead")
                                .order_by(CustomField.position, CustomField.id)))


def allowed_fields(session: Session) -> set[str]:
    """The top-level input fields an advertiser may send."""
    allowed = set(BASE_FIELDS)
    if custom_fields(session):
        allowed.add("custom")
    return allowed


def import_fields(session: Session) -> list[str]:
    """The fields a CSV upload may fill (the core import's names)."""
    return [*BASE_FIELDS, *(f"custom.{d.name}" for d in custom_fields(session))]


def check_fields(session: Session, data: Mapping[str, Any]) -> None:
    """422 naming every field an advertiser may not send."""
    unknown = sorted(set(data) - allowed_fields(session))
    if unknown:
        raise ValidationFailed("The input has errors; see the fields.",
                               dict.fromkeys(unknown, ["Unknown field."]))


def check_campaign(value: Any) -> str:
    """The campaign's name, cleaned; 422 when it is missing or too long."""
    return str(load(schemas.CampaignInput(), {"campaign": value})["campaign"])


def validate_lead(session: Session, data: Any, schema: Schema) -> dict[str, Any]:
    """The core schema's verdict on one item without writing: its normalized
    values, or :class:`ValidationFailed` with the form's messages."""
    if not isinstance(data, dict):
        raise ValidationFailed("The input has errors; see the fields.",
                               {"_schema": ["Expected a JSON object."]})
    check_fields(session, data)
    try:
        return schema.load(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed("The input has errors; see the fields.", messages) from None
