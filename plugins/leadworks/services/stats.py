"""Statistics for the admin: leads handed over and duplicates refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crmcore_plugins.leadworks.models import Advertiser, Refusal, Submission
from crmcore_plugins.leadworks.services.advertisers import require_manage
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmcore.models import User


@dataclass(frozen=True)
class StatRow:
    """One advertiser's campaign over the period."""

    advertiser: str
    campaign: str
    leads: int
    refused: int


def stats(session: Session, actor: User | None, since: datetime | None,
          until: datetime | None) -> list[StatRow]:
    """Leads handed over and duplicates refused per advertiser and campaign,
    from ``since`` (inclusive) to ``until`` (exclusive): two grouped queries."""
    require_manage(session, actor)

    def grouped(model: Any) -> dict[tuple[int, str], int]:
        query = select(model.advertiser_id, model.campaign, func.count()).group_by(
            model.advertiser_id, model.campaign)
        if since is not None:
            query = query.where(model.created_at >= since)
        if until is not None:
            query = query.where(model.created_at < until)
        return {(a, c): n for a, c, n in session.execute(query)}

    made, refused = grouped(Submission), grouped(Refusal)
    names = dict(session.execute(select(Advertiser.id, Advertiser.name)).all())
    rows = [StatRow(names.get(a, f"#{a}"), c, made.get((a, c), 0), refused.get((a, c), 0))
            for a, c in set(made) | set(refused)]
    return sorted(rows, key=lambda r: (r.advertiser.lower(), r.campaign.lower()))


def lead_counts(session: Session, advertiser_ids: Sequence[int]) -> dict[int, int]:
    """How many leads each advertiser handed over in all (one grouped query)."""
    if not advertiser_ids:
        return {}
    return dict(session.execute(select(Submission.advertiser_id, func.count()).where(
        Submission.advertiser_id.in_(advertiser_ids)).group_by(Submission.advertiser_id)).all())
