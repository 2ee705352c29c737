"""A record's timeline: the core's entries and those plugins keep in their own tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmcore.models import User
from crmcore.services.records import Kind, timeline


@dataclass(frozen=True)
class Row:
    """One line of a timeline as pages and the API show it."""

    created_at: datetime
    kind: str
    body: str
    actor: str
    changes: dict[str, Any]
    source: str  # "core" or "plugin"


def full_timeline(session: Session, kind: Kind, record: Any, limit: int = 200) -> list[Row]:
    """Newest first: core entries (with actor names, in one extra query) and
    every plugin's ``crm_timeline_items``."""
    entries = timeline(session, kind, record, limit)
    actor_ids = {e.actor_id for e in entries if e.actor_id}
    names: dict[int, str] = {}
    if actor_ids:
        rows = session.execute(select(User.id, User.name).where(User.id.in_(actor_ids)))
        names = {user_id: name for user_id, name in rows}
    rows = [Row(e.created_at, e.kind, e.body, names.get(e.actor_id, "system"), e.changes, "core")
            for e in entries]
    for items in session.info["crm"].hook.crm_timeline_items(
            session=session, record_type=kind.record_type, record_id=record.id):
        rows += [Row(i.created_at, i.kind, i.body, i.actor, {}, "plugin") for i in items or ()]
    rows.sort(key=lambda r: r.created_at, reverse=True)
    return rows[:limit]
