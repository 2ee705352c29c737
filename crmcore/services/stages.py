"""Lead stages, configured by admins: ordered, each of kind open, won or lost."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmcore.auth.roles import require
from crmcore.errors import Conflict, NotFound
from crmcore.models import Lead, LeadStage, User
from crmcore.schemas.base import load
from crmcore.schemas.records import StageSchema


def list_stages(session: Session) -> list[LeadStage]:
    return list(session.scalars(select(LeadStage).order_by(LeadStage.position, LeadStage.id)))


def get_stage(session: Session, stage_id: int) -> LeadStage:
    stage = session.get(LeadStage, stage_id)
    if stage is None:
        raise NotFound("No such stage.")
    return stage


def _save(session: Session, stage: LeadStage, values: Mapping[str, Any]) -> LeadStage:
    # Changes are applied inside the savepoint: begin_nested() flushes what is
    # pending, so a clash applied before it would escape the savepoint.
    try:
        with session.begin_nested():
            for key, value in values.items():
                setattr(stage, key, value)
            session.add(stage)
            session.flush()
    except IntegrityError:
        raise Conflict(f"A stage named {values.get('name')!r} exists.",
                       {"name": ["Already in use."]}) from None
    _keep_an_open_stage(session)
    return stage


def _keep_an_open_stage(session: Session) -> None:
    if not session.scalar(select(func.count()).where(LeadStage.kind == "open")):
        raise Conflict("At least one stage must be of kind open: new leads start there.",
                       {"kind": ["Keep at least one open stage."]})


def create_stage(session: Session, actor: User | None, data: Mapping[str, Any]) -> LeadStage:
    """Add a lead stage; needs ``settings.manage``."""
    require(session, actor, "settings.manage")
    return _save(session, LeadStage(), load(StageSchema(), data))


def update_stage(session: Session, actor: User | None, stage: LeadStage,
                 data: Mapping[str, Any]) -> LeadStage:
    """Rename, reorder or re-kind a stage; needs ``settings.manage``."""
    require(session, actor, "settings.manage")
    return _save(session, stage, load(StageSchema(partial=True), data))


def delete_stage(session: Session, actor: User | None, stage: LeadStage) -> None:
    """Remove an unused stage; a stage that leads are in (binned ones too) stays."""
    require(session, actor, "settings.manage")
    used = session.scalar(select(func.count()).where(Lead.stage_id == stage.id))
    if used:
        raise Conflict(f"{used} lead(s) are in the stage {stage.name!r}; move them first.")
    session.delete(stage)
    session.flush()
    _keep_an_open_stage(session)
