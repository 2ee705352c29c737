"""Touching records: their "last touched" date, and so their retention, starts
again."""

from __future__ import annotations

from collections.abc import Sequence

from crmcore_plugins.gdpr import PERMISSION
from crmcore_plugins.gdpr.schemas import RECORD_TYPES
from crmcore_plugins.gdpr.services.audit import audit
from crmcore_plugins.gdpr.services.records import KINDS
from sqlalchemy import select
from sqlalchemy.orm import Session

import crmcore.services.records as rec
from crmcore.auth.roles import require
from crmcore.models import User


def touch(session: Session, actor: User | None, refs: Sequence[tuple[str, int]], *,
          via: str = "web") -> int:
    """Reset the "last touched" date of the visible, not anonymized records among
    ``refs``: their retention starts again. Returns how many were touched."""
    require(session, actor, PERMISSION)
    total = 0
    for record_type in RECORD_TYPES:
        ids = sorted({i for t, i in refs if t == record_type})
        if not ids:
            continue
        model = KINDS[record_type].model
        live = list(session.scalars(select(model.id).where(model.id.in_(ids),
                                                           model.anonymized_at.is_(None))))
        for record_id in rec.touch(session, actor, KINDS[record_type], live):
            audit(session, actor, "touch", via, record_type=record_type, record_id=record_id)
            total += 1
    return total
