"""Input schemas of the admin's forms and the intake's own fields. The lead's
fields are validated by the core's own lead schema, never here."""

from __future__ import annotations

from typing import Any

from crmcore_plugins.leadworks.models import OWNER_MODES
from marshmallow import fields, pre_load, validate

from crmcore.schemas.base import StrictSchema
from crmcore.schemas.users import EmailField


class TrimmedString(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


Campaign = TrimmedString(required=True, validate=validate.Length(min=1, max=100))


class AdvertiserInput(StrictSchema):
    name = TrimmedString(required=True, validate=validate.Length(min=1, max=80))
    contact_email = EmailField(load_default="")
    is_active = fields.Boolean()

    @pre_load
    def blank_email(self, data: Any, **_: Any) -> Any:
        # An empty form field means "no contact address", not a malformed one.
        if isinstance(data, dict) and not str(data.get("contact_email", "x")).strip():
            data = {k: v for k, v in data.items() if k != "contact_email"}
        return data


class InvitationInput(StrictSchema):
    email = EmailField(required=True)
    name = TrimmedString(load_default="", validate=validate.Length(max=200))


class KeyInput(StrictSchema):
    name = TrimmedString(load_default="", validate=validate.Length(max=100))


class OwnerRuleInput(StrictSchema):
    mode = fields.String(required=True, validate=validate.OneOf(OWNER_MODES))
    user_ids = fields.List(fields.Integer(), required=True,
                           validate=validate.Length(min=1, max=100))


class CampaignInput(StrictSchema):
    campaign = Campaign

