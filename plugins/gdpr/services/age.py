"""The contact age view: leads and contacts least recently touched first, in
keyset pages, and the rows a bulk action confirms."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crmcore_plugins.gdpr import PERMISSION
from crmcore_plugins.gdpr.schemas import RECORD_TYPES, AgeFilters, load
from crmcore_plugins.gdpr.services.records import KINDS
from crmcore_plugins.gdpr.services.sweep import months_before
from marshmallow import ValidationError
from sqlalchemy import Integer, String, cast, func, literal, null, select, tuple_, union_all
from sqlalchemy.orm import Session

import crmcore.services.records as rec
from crmcore.auth.roles import require
from crmcore.db import UtcDateTime, utcnow
from crmcore.errors import ValidationFailed
from crmcore.models import User
from crmcore.schemas.base import Id


@dataclass(frozen=True)
class AgeRow:
    record_type: str
    id: int
    name: str
    owner_id: int | None
    stage_id: int | None
    touched_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.record_type}:{self.id}"

    def age_days(self, now: datetime) -> int:
        return max(0, (now - self.touched_at).days)


@dataclass(frozen=True)
class AgePage:
    rows: list[AgeRow]
    next_cursor: str | None
    filters: dict[str, Any]


def _age_select(session: Session, actor: User | None, record_type: str,
                filters: Mapping[str, Any], cutoff: datetime | None) -> Any:
    kind = KINDS[record_type]
    model = kind.model
    if record_type == "lead":
        name, stage = model.full_name, model.stage_id
    else:
        name = func.trim(model.first_name + " " + model.last_name)
        stage = cast(null(), Integer)
    query = rec.visible(session, actor, kind).where(model.anonymized_at.is_(None))
    if cutoff is not None:
        query = query.where(model.touched_at < cutoff)
    if filters.get("owner_id") is not None:
        query = query.where(model.owner_id == filters["owner_id"])
    if filters.get("stage_id") is not None:
        query = query.where(model.stage_id == filters["stage_id"])
    return query.with_only_columns(
        literal(record_type, String(20)).label("record_type"), model.id.label("id"),
        name.label("name"), model.owner_id.label("owner_id"), stage.label("stage_id"),
        model.touched_at.label("touched_at"))


def _encode_cursor(row: AgeRow) -> str:
    raw = f"{row.touched_at.isoformat()}|{row.record_type}|{row.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, record_type, record_id = raw.split("|")
        when = datetime.fromisoformat(moment)
        if record_type not in RECORD_TYPES or when.tzinfo is None:
            raise ValueError(record_type)
        # A time UTC cannot hold (year 9999 west of Greenwich) overflows here,
        # not in the driver.
        return when.astimezone(UTC), record_type, Id().deserialize(record_id)
    except (ValueError, OverflowError, ValidationError):
        raise ValidationFailed("Bad cursor.", {"cursor": ["Start from the first page."]}) from None


def age_page(session: Session, actor: User | None, args: Mapping[str, Any], *,
             limit: int = 50, now: datetime | None = None) -> AgePage:
    """Leads and contacts the actor may see, not anonymized, least recently
    touched first; paginated by keyset (touched_at, record type, id)."""
    require(session, actor, PERMISSION)
    filters = load(AgeFilters(), args)
    now = now or utcnow()
    cutoff = months_before(now, filters["older_than"]) if filters["older_than"] else None
    types = [filters["record_type"]] if filters["record_type"] else list(RECORD_TYPES)
    if filters["stage_id"] is not None:
        types = [t for t in types if t == "lead"]  # contacts have no stage
    if not types:
        return AgePage([], None, filters)
    rows = union_all(*(_age_select(session, actor, t, filters, cutoff) for t in types)).subquery()
    query = select(rows).order_by(rows.c.touched_at, rows.c.record_type, rows.c.id)
    if filters["cursor"]:
        when, record_type, record_id = _decode_cursor(filters["cursor"])
        query = query.where(tuple_(rows.c.touched_at, rows.c.record_type, rows.c.id) > tuple_(
            literal(when, UtcDateTime()), literal(record_type, String(20)),
            literal(record_id, Integer)))
    found = [AgeRow(*row) for row in session.execute(query.limit(limit + 1))]
    following = _encode_cursor(found[limit - 1]) if len(found) > limit else None
    return AgePage(found[:limit], following, filters)


def rows_for(session: Session, actor: User | None,
             refs: Sequence[tuple[str, int]]) -> list[AgeRow]:
    """The age view's rows for ``refs`` that the actor may see and that are not
    anonymized, for a bulk action's confirmation."""
    require(session, actor, PERMISSION)
    found: list[AgeRow] = []
    for record_type in RECORD_TYPES:
        ids = {i for t, i in refs if t == record_type}
        if ids:
            query = _age_select(session, actor, record_type, {}, None)
            found += [AgeRow(*row) for row in session.execute(
                query.where(KINDS[record_type].model.id.in_(ids)))]
    return sorted(found, key=lambda r: (r.touched_at, r.record_type, r.id))
