"""Record actions and conversion steps that plugins offer."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from crmcore.auth.roles import can
from crmcore.models import Lead, User
from crmcore.types import Action


def _allowed(session: Session, user: User, results: Any) -> list[Action]:
    return [a for result in results for a in result or ()
            if a.permission is None or can(session, user, a.permission)]


def record_actions(session: Session, user: User, record_type: str, record: Any) -> list[Action]:
    """Plugins' actions for a record page that ``user`` may use."""
    hook = session.info["crm"].hook
    return _allowed(session, user, hook.crm_record_actions(record_type=record_type,
                                                           record=record, user=user))


def conversion_steps(session: Session, user: User, lead: Lead, contact_id: int) -> list[Action]:
    """Plugins' next steps after converting ``lead`` that ``user`` may use."""
    hook = session.info["crm"].hook
    return _allowed(session, user, hook.crm_conversion_steps(lead=lead, contact_id=contact_id,
                                                             user=user))
