"""Likely duplicates of a record that is not saved yet, found by its submitted values.

This belongs in the service layer next to ``crmcore.services.merge.merge_candidates``
(which needs a saved record); it lives here until the service offers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import and_, or_
from sqlalchemy.orm import Session

from crmcore.models import User
from crmcore.schemas.records import normalize_phone
from crmcore.services.records import CONTACTS, Kind, visible


def _first_phone(data: Mapping[str, Any]) -> str | None:
    for phone in data.get("phones") or ():
        try:
            return normalize_phone(str(phone))
        except ValidationError:
            return None  # an invalid number matches nothing; the service reports it
    return None


def _name_key(kind: Kind, data: Mapping[str, Any]) -> str:
    if kind is CONTACTS:
        name = f"{data.get('first_name') or ''} {data.get('last_name') or ''}"
    else:
        name = str(data.get("full_name") or "")
    return name.strip().lower()


def find_duplicates(session: Session, actor: User | None, kind: Kind,
                    data: Mapping[str, Any], limit: int = 10) -> list[Any]:
    """Visible records with the same first phone, or the same name and company,
    as the service input ``data`` (the rule ``merge_candidates`` applies)."""
    model = kind.model
    same = []
    phone = _first_phone(data)
    if phone:
        same.append(model.phone_key == phone)
    name = _name_key(kind, data)
    if name:
        same.append(and_(model.name_key == name,
                         model.company == str(data.get("company") or "").strip()))
    if not same:
        return []
    query = visible(session, actor, kind).where(or_(*same)).order_by(model.id).limit(limit)
    return list(session.scalars(query))
