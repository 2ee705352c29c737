"""The GDPR settings: which optional personal fields an anonymization erases,
and how many months untouched records are kept."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crmcore_plugins.gdpr import PERMISSION
from crmcore_plugins.gdpr.models import GdprFieldChoice, GdprRetention
from crmcore_plugins.gdpr.schemas import RECORD_TYPES, SettingsInput, load
from crmcore_plugins.gdpr.services.audit import audit
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

import crmcore.services.privacy as privacy
from crmcore.auth.roles import require
from crmcore.errors import ValidationFailed
from crmcore.models import User
from crmcore.types import PersonalField

# Privacy by default (GDPR Art. 25): every optional field is erased until the
# admin chooses otherwise, including fields a plugin declares later.
DEFAULT_ERASE = True


@dataclass(frozen=True)
class FieldSetting:
    field: PersonalField
    erase: bool


@dataclass(frozen=True)
class Settings:
    fields: list[FieldSetting]
    retention: dict[str, int]

    def by_record_type(self) -> list[tuple[str, list[FieldSetting]]]:
        groups: dict[str, list[FieldSetting]] = {}
        for setting in self.fields:
            groups.setdefault(setting.field.record_type, []).append(setting)
        return list(groups.items())


def _choices(session: Session) -> dict[str, bool]:
    return {c.key: c.erase for c in session.scalars(select(GdprFieldChoice))}


def erase_keys(session: Session) -> frozenset[str]:
    """The fields erased on anonymization: the mandatory ones and the chosen ones
    that some enabled owner still declares."""
    choices = _choices(session)
    return frozenset(f.key for f in privacy.personal_fields(session)
                     if f.mandatory or choices.get(f.key, DEFAULT_ERASE))


def retention(session: Session) -> dict[str, int]:
    """Months untouched records are kept, per record type that has a policy."""
    return {r.record_type: r.months for r in session.scalars(select(GdprRetention))}


def get_settings(session: Session, actor: User | None) -> Settings:
    require(session, actor, PERMISSION)
    chosen = erase_keys(session)
    return Settings([FieldSetting(f, f.key in chosen) for f in privacy.personal_fields(session)],
                    retention(session))


def save_settings(session: Session, actor: User | None, data: Mapping[str, Any], *,
                  via: str = "web") -> Settings:
    """Store which optional fields are erased (those not in ``erase`` are kept) and
    the retention months per record type (``None``: no policy)."""
    require(session, actor, PERMISSION)
    declared = privacy.personal_fields(session)
    optional = {f.key for f in declared if not f.mandatory}
    unknown = sorted({str(k) for k in data.get("erase") or ()} - {f.key for f in declared})
    # Every problem at once: the unknown keys beside the schema's own errors.
    errors = {"erase": [f"Unknown: {', '.join(unknown)}."]} if unknown else {}
    try:
        values = load(SettingsInput(), data)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.detail, {**exc.errors, **errors}) from None
    if errors:
        raise ValidationFailed("Unknown personal data fields.", errors)
    before = _choices(session)
    for key in optional:
        erase = key in values["erase"]
        if before.get(key) != erase:
            session.merge(GdprFieldChoice(key=key, erase=erase))
    changed = [key for key in optional
               if before.get(key, DEFAULT_ERASE) != (key in values["erase"])]
    old_policy = retention(session)
    for record_type in RECORD_TYPES:
        months = values[f"retention_{record_type}"]
        if months is None:
            session.execute(delete(GdprRetention).where(GdprRetention.record_type == record_type))
        else:
            session.merge(GdprRetention(record_type=record_type, months=months))
        if old_policy.get(record_type) != months:
            changed.append(f"retention.{record_type}")
    session.flush()
    audit(session, actor, "settings", via, fields=changed, count=len(changed))
    return get_settings(session, actor)
