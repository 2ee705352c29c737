"""What advertisers see of what they handed over: their submissions with
each lead's current stage, what a merge of leads does to them, and what is
forgotten with the person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from crmcore_plugins.leadworks.models import Submission
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmcore.db import any_of, utcnow
from crmcore.models import Lead, LeadStage

MERGED = "merged"
REMOVED = "removed"


@dataclass(frozen=True)
class SubmittedLead:
    """One submission as its advertiser sees it: the lead's id, current name,
    key email and stage. Once a merge joined the lead with others, whichever
    survived, the lead as handed over (its id, name and key email) with the
    stage ``merged``: the merged record holds data this advertiser never
    handed over (another address, a name, a stage or deal of a customer), and
    which record survived is not theirs to know. Name and email are empty and
    the stage is ``removed`` once the lead is deleted or purged."""

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
    (one query). A lead merged with others shows as handed over, and a lead
    since deleted as removed (see :class:`SubmittedLead`)."""
    query = (select(Submission, Lead.full_name, Lead.email_key, Lead.deleted_at, LeadStage.name)
             .outerjoin(Lead, Lead.id == Submission.lead_id)
             .outerjoin(LeadStage, LeadStage.id == Lead.stage_id)
             .where(Submission.advertiser_id == advertiser_id)
             .order_by(Submission.id.desc()).limit(limit))
    if before:
        query = query.where(Submission.id < before)
    if campaign:
        query = query.where(Submission.campaign == campaign)
    return [_as_seen(sub, name, email, deleted_at, stage)
            for sub, name, email, deleted_at, stage in session.execute(query)]


def _as_seen(sub: Submission, name: str | None, email: str | None,
             deleted_at: datetime | None, stage: str | None) -> SubmittedLead:
    if sub.lead_id is None or deleted_at is not None:
        lead_id, name, email, stage = None, "", "", REMOVED
    elif sub.merged_at is not None:
        lead_id, name, email, stage = (sub.handed_lead_id, sub.handed_name, sub.handed_email,
                                       MERGED)
    else:
        lead_id = sub.lead_id
    return SubmittedLead(sub.id, lead_id, name or "", email or "", sub.campaign, sub.channel,
                         stage or "", sub.created_at)


def move_to_survivor(session: Session, survivor_id: int, merged_ids: Sequence[int]) -> None:
    """Give the merged leads' submissions to the lead they were merged into,
    and mark the survivor's own as merged too (it now holds the merged leads'
    data), inside the merge's transaction: one statement. The person is still
    in the CRM, so the person's privacy export and erasure find every
    submission; each advertiser sees its own as handed over."""
    session.execute(update(Submission)
                    .where(Submission.lead_id.in_([survivor_id, *merged_ids]))
                    .values(lead_id=survivor_id, merged_at=utcnow()))


def forget_handed_over(session: Session, lead_ids: Sequence[int]) -> None:
    """Blank what the submissions of ``lead_ids`` kept of the person (name and
    email as handed over): the person is erased, or their lead purged. What the
    statistics count stays."""
    session.execute(update(Submission).where(any_of(session, Submission.lead_id, lead_ids))
                    .values(handed_name="", handed_email="")
                    .execution_options(synchronize_session=False))
