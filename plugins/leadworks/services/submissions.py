"""What advertisers see of what they handed over: their submissions with
each lead's current stage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crmcore_plugins.leadworks.models import Submission
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmcore.models import Lead, LeadStage


@dataclass(frozen=True)
class SubmittedLead:
    """One submission as its advertiser sees it; name and email are empty and
    the stage is ``removed`` once the lead is gone."""

    id: int
    lead_id: int | None
    name: str
    email: str
    campaign: str
    channel: str
    stage: str
    created_at: datetime


def own_submissions(session: Session, advertiser_id: int, *, limit: int = 50,
                    before: int | None = None, campaign: str | None = None
                    ) -> list[SubmittedLead]:
    """The company's submissions, newest first, with each lead's current stage
    (one query). A lead since deleted or merged away shows as removed."""
    query = (select(Submission, Lead.full_name, Lead.email_key, Lead.deleted_at, LeadStage.name)
             .outerjoin(Lead, Lead.id == Submission.lead_id)
             .outerjoin(LeadStage, LeadStage.id == Lead.stage_id)
             .where(Submission.advertiser_id == advertiser_id)
             .order_by(Submission.id.desc()).limit(limit))
    if before:
        query = query.where(Submission.id < before)
    if campaign:
        query = query.where(Submission.campaign == campaign)
    out = []
    for sub, name, email, deleted_at, stage in session.execute(query):
        gone = sub.lead_id is None or deleted_at is not None
        out.append(SubmittedLead(sub.id, sub.lead_id, "" if gone else name,
                                 "" if gone else (email or ""), sub.campaign, sub.channel,
                                 "removed" if gone else (stage or ""), sub.created_at))
    return out
