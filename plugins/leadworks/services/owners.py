"""The owner rule: who gets the leads advertisers hand over, one fixed staff
user or a round robin among chosen ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmcore_plugins.leadworks import schemas
from crmcore_plugins.leadworks.models import OwnerRule
from crmcore_plugins.leadworks.services.advertisers import require_manage
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmcore.db import utcnow
from crmcore.errors import ValidationFailed
from crmcore.models import User
from crmcore.schemas.base import load
from crmcore.services.users import possible_owners


def owner_rule(session: Session) -> OwnerRule | None:
    """The rule, or ``None`` while the admin has set none (leads stay unassigned)."""
    return session.scalar(select(OwnerRule).order_by(OwnerRule.id).limit(1))


def candidate_owners(session: Session) -> list[User]:
    """Active staff users, who may own leads (the core's rule)."""
    return list(possible_owners(session).values())


def set_owner_rule(session: Session, actor: User | None, data: Mapping[str, Any]) -> OwnerRule:
    """``fixed``: every lead goes to the one user named; ``round_robin``: leads
    go to the named users in turn, across channels and batches."""
    require_manage(session, actor)
    values = load(schemas.OwnerRuleInput(), data)
    chosen = list(dict.fromkeys(values["user_ids"]))
    if values["mode"] == "fixed" and len(chosen) != 1:
        raise ValidationFailed("A fixed owner is one user.", {"user_ids": ["Choose one user."]})
    allowed = {u.id for u in candidate_owners(session)}
    unknown = [i for i in chosen if i not in allowed]
    if unknown:
        raise ValidationFailed("Choose active staff users.",
                               {"user_ids": ["Unknown, inactive or external user."]})
    rule = owner_rule(session) or OwnerRule(mode=values["mode"])
    rule.mode, rule.user_ids, rule.position, rule.updated_at = (
        values["mode"], chosen, 0, utcnow())
    session.add(rule)
    session.flush()
    return rule


def next_owners(session: Session, count: int) -> list[User | None]:
    """Owners for ``count`` new leads, in order; the round robin advances.
    The rule row is locked so that concurrent batches take turns properly."""
    rule = session.scalar(select(OwnerRule).order_by(OwnerRule.id).limit(1)
                          .with_for_update())
    if rule is None:
        return [None] * count
    # A user chosen then may have left, or become an external user, since.
    found = {u.id: u for u in candidate_owners(session) if u.id in rule.user_ids}
    pool = [found[i] for i in rule.user_ids if i in found]
    if not pool:
        return [None] * count
    if rule.mode == "fixed":
        return [pool[0]] * count
    start = rule.position % len(pool)
    rule.position = (start + count) % len(pool)
    return [pool[(start + i) % len(pool)] for i in range(count)]
