"""The audit log: an entry for each privacy action, and its pages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmcore_plugins.gdpr import PERMISSION
from crmcore_plugins.gdpr.models import GdprAudit
from crmcore_plugins.gdpr.schemas import AuditFilters, load
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmcore.auth.roles import require
from crmcore.models import User


def audit(session: Session, actor: User | None, action: str, via: str, *,
          record_type: str | None = None, record_id: int | None = None,
          fields: Iterable[str] = (), count: int = 1) -> None:
    """Record a privacy action. Only ids, field keys and counts: never a value."""
    session.add(GdprAudit(action=action, actor_id=actor.id if actor else None, via=via,
                          record_type=record_type, record_id=record_id,
                          fields=sorted(fields), count=count))


@dataclass(frozen=True)
class AuditPage:
    rows: list[GdprAudit]
    next_cursor: int | None
    filters: dict[str, Any]


def audit_page(session: Session, actor: User | None, args: Mapping[str, Any], *,
               limit: int = 100) -> AuditPage:
    """The audit log, newest first, filtered by action, actor, record and dates."""
    require(session, actor, PERMISSION)
    filters = load(AuditFilters(), args)
    query = select(GdprAudit)
    for name in ("action", "actor_id", "record_type", "record_id"):
        if filters[name] is not None:
            query = query.where(getattr(GdprAudit, name) == filters[name])
    if filters["date_from"]:
        query = query.where(GdprAudit.at >= _day_start(filters["date_from"]))
    if filters["date_to"] and filters["date_to"] < date.max:  # the last day bounds nothing
        query = query.where(GdprAudit.at < _day_start(filters["date_to"] + timedelta(days=1)))
    if filters["cursor"]:
        query = query.where(GdprAudit.id < filters["cursor"])
    found = list(session.scalars(query.order_by(GdprAudit.id.desc()).limit(limit + 1)))
    following = found[limit - 1].id if len(found) > limit else None
    return AuditPage(found[:limit], following, filters)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
