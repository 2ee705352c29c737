"""Advertiser companies as the admin manages them, and their recycle bin.

Every function here needs ``leadworks.manage`` (:func:`require_manage`); the
other modules reuse that check for their admin functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crmcore_plugins.leadworks import schemas
from crmcore_plugins.leadworks.models import Advertiser, Member
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import crmcore.services.users as users
from crmcore.auth.roles import can, require
from crmcore.db import utcnow
from crmcore.errors import Conflict, NotFound
from crmcore.models import User
from crmcore.schemas.base import load
from crmcore.types import BinRow

MANAGE = "leadworks.manage"


def require_manage(session: Session, actor: User | None) -> None:
    """403 unless ``actor`` may manage Leadworks (``None``, the system, may)."""
    require(session, actor, MANAGE)


def list_advertisers(session: Session, actor: User | None) -> list[Advertiser]:
    """The advertisers not in the recycle bin, by name."""
    require_manage(session, actor)
    return list(session.scalars(select(Advertiser).where(Advertiser.deleted_at.is_(None))
                                .order_by(Advertiser.name)))


def get_advertiser(session: Session, actor: User | None, advertiser_id: int) -> Advertiser:
    """One advertiser not in the recycle bin, or 404."""
    require_manage(session, actor)
    advertiser = session.get(Advertiser, advertiser_id)
    if advertiser is None or advertiser.deleted_at is not None:
        raise NotFound("No such advertiser.")
    return advertiser


def _name_taken(session: Session, name: str, but: int | None = None) -> None:
    query = select(Advertiser.id).where(func.lower(Advertiser.name) == name.lower())
    if but is not None:
        query = query.where(Advertiser.id != but)
    if session.scalar(query) is not None:
        raise Conflict("An advertiser with this name exists.", {"name": ["Already in use."]})


def create_advertiser(session: Session, actor: User | None,
                      data: Mapping[str, Any]) -> Advertiser:
    """A new advertiser; 409 when the name (ignoring case) is taken."""
    require_manage(session, actor)
    values = load(schemas.AdvertiserInput(), data)
    _name_taken(session, values["name"])
    advertiser = Advertiser(**values)
    session.add(advertiser)
    session.flush()
    return advertiser


def update_advertiser(session: Session, actor: User | None, advertiser: Advertiser,
                      data: Mapping[str, Any]) -> Advertiser:
    """Change name, contact or the active flag. A deactivated advertiser's keys
    answer 401 and its users see a notice instead of the portal."""
    require_manage(session, actor)
    values = load(schemas.AdvertiserInput(), data, partial=True)
    if "name" in values:
        _name_taken(session, values["name"], but=advertiser.id)
    for key, value in values.items():
        setattr(advertiser, key, value)
    session.flush()
    return advertiser


def delete_advertiser(session: Session, actor: User | None, advertiser: Advertiser) -> None:
    """Move an advertiser to the recycle bin: keys and portal stop working, its
    submissions and statistics stay until it is purged."""
    require_manage(session, actor)
    advertiser.deleted_at = utcnow()
    session.flush()


# -- the recycle bin (type ``leadworks_advertiser``) -------------------------------------------


def _binned(session: Session, ids: Sequence[int]) -> list[Advertiser]:
    return list(session.scalars(select(Advertiser).where(
        Advertiser.id.in_(ids), Advertiser.deleted_at.is_not(None))))


def bin_list(session: Session, actor: User | None) -> list[BinRow]:
    """The binned advertisers, newest first; nothing for those who may not manage."""
    if not can(session, actor, MANAGE):
        return []
    rows = session.scalars(select(Advertiser).where(Advertiser.deleted_at.is_not(None))
                           .order_by(Advertiser.deleted_at.desc()).limit(500))
    return [BinRow(a.id, f"Advertiser {a.name}", a.deleted_at) for a in rows
            if a.deleted_at is not None]


def bin_restore(session: Session, actor: User | None, ids: Sequence[int]) -> int:
    """Bring binned advertisers back with everything they had; how many."""
    require_manage(session, actor)
    found = _binned(session, ids)
    for advertiser in found:
        advertiser.deleted_at = None
    session.flush()
    return len(found)


def bin_purge(session: Session, actor: User | None, ids: Sequence[int]) -> int:
    """Delete binned advertisers for good, with their keys, invitations,
    submissions and refusals (the database cascades); their portal users are
    deactivated, since they no longer belong anywhere."""
    require_manage(session, actor)
    found = _binned(session, ids)
    if not found:
        return 0
    member_ids = list(session.scalars(select(Member.user_id).where(
        Member.advertiser_id.in_([a.id for a in found]))))
    for user in session.scalars(select(User).where(User.id.in_(member_ids))):
        users.update_user(session, None, user, {"is_active": False})
    for advertiser in found:
        session.delete(advertiser)
    session.flush()
    return len(found)
