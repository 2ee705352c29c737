"""Lead stage writes, kept here until ``crmcore/services/stages.py`` exists.

These belong in the service layer (the web UI will need them too); move them
there unchanged and import them from the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmcore.auth.roles import require
from crmcore.errors import Conflict, NotFound
from crmcore.models import LeadStage, User
from crmcore.schemas.base import load
from crmcore.schemas.records import StageSchema


def list_stages(session: Session) -> list[LeadStage]:
    return list(session.scalars(select(LeadStage).order_by(LeadStage.position, LeadStage.id)))


def get_stage(session: Session, stage_id: int) -> LeadStage:
    stage = session.get(LeadStage, stage_id)
    if stage is None:
        raise NotFound("No such stage.")
    return stage


def _save(session: Session, stage: LeadStage) -> LeadStage:
    with session.no_autoflush:
        clash = session.scalar(select(LeadStage.id).where(LeadStage.name == stage.name,
                                                          LeadStage.id != (stage.id or -1)))
    if clash is not None:
        raise Conflict(f"A stage named {stage.name!r} exists.", {"name": ["Already in use."]})
    try:
        with session.begin_nested():
            session.add(stage)
            session.flush()
    except IntegrityError:
        raise Conflict(f"A stage named {stage.name!r} exists.",
                       {"name": ["Already in use."]}) from None
    return stage


def create_stage(session: Session, actor: User | None, data: Mapping[str, Any]) -> LeadStage:
    """Add a lead stage; needs ``settings.manage``."""
    require(session, actor, "settings.manage")
    values = load(StageSchema(), data)
    return _save(session, LeadStage(**values))


def update_stage(session: Session, actor: User | None, stage: LeadStage,
                 data: Mapping[str, Any]) -> LeadStage:
    """Rename, reorder or re-kind a stage; needs ``settings.manage``."""
    require(session, actor, "settings.manage")
    values = load(StageSchema(partial=True), data)
    for key, value in values.items():
        setattr(stage, key, value)
    return _save(session, stage)
