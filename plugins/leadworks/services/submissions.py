"""What advertisers see of what they handed over: their submissions with
each lead's current stage, and where a merge of leads takes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from crmcore_plugins.leadworks.models import Submission
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmcore.db import utcnow
from crmcore.models import Lead, LeadStage


@dataclass(frozen=True)
class SubmittedLead:
    """One submission as its advertiser sees it: the lead's current name,
    key email and stage. Once the lead was merged with others, the
    survivor's name and stage (it is the same person) but no email: the
    survivor's address may be one this advertiser never handed over. Name and
    email are empty and the stage is ``removed`` once the lead is deleted or
    purged."""

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
    (one query). A lead merged into another shows as that survivor (see
    :class:`SubmittedLead`); a lead since deleted shows as removed."""
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
        hide_email = gone or sub.merged_at is not None
        out.append(SubmittedLead(sub.id, sub.lead_id, "" if gone else name,
                                 "" if hide_email else (email or ""), sub.campaign, sub.channel,
                                 "removed" if gone else (stage or ""), sub.created_at))
    return out


def move_to_survivor(session: Session, survivor_id: int, merged_ids: Sequence[int]) -> None:
    """Give the merged leads' submissions to the lead they were merged into,
    and mark the survivor's own as merged too (its address may now be one of
    the merged leads'), inside the merge's transaction: one statement. The
    person is still in the CRM, so each advertiser that handed them over keeps
    following them, and the person's privacy export finds every submission."""
    session.execute(update(Submission)
                    .where(Submission.lead_id.in_([survivor_id, *merged_ids]))
                    .values(lead_id=survivor_id, merged_at=utcnow()))
