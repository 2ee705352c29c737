"""Who may act for an advertiser: its portal users (invited by email, with a
one-time link) and its API keys. Tokens and keys are stored hashed only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from crmcore_plugins.leadworks import schemas
from crmcore_plugins.leadworks.models import Advertiser, ApiKey, Invitation, Member
from crmcore_plugins.leadworks.services.advertisers import require_manage
from sqlalchemy import select
from sqlalchemy.orm import Session

import crmcore.services.users as users
from crmcore import mail
from crmcore.auth.tokens import new_token, token_hash
from crmcore.db import utcnow
from crmcore.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from crmcore.models import User
from crmcore.schemas.base import load

ROLE = "advertiser"
INVITATION_DAYS = 7


# -- who is acting -------------------------------------------------------------------------


def advertiser_of(session: Session, user: User) -> Advertiser:
    """The company a portal user works for; 403 when it is deactivated or deleted."""
    advertiser = session.scalar(select(Advertiser).join(
        Member, Member.advertiser_id == Advertiser.id).where(Member.user_id == user.id))
    if advertiser is None or user.role != ROLE:
        raise NotFound("No advertiser account.")
    if not advertiser.is_active or advertiser.deleted_at is not None:
        raise Forbidden("Your company's advertiser account is deactivated.")
    return advertiser


def advertiser_for_key(session: Session, key: str | None) -> tuple[Advertiser, ApiKey]:
    """The advertiser an API key belongs to; 401 for a wrong or revoked key and
    for a deactivated or deleted advertiser, with one answer for all."""
    found = session.execute(select(Advertiser, ApiKey).join(
        ApiKey, ApiKey.advertiser_id == Advertiser.id).where(
        ApiKey.key_hash == token_hash(key or ""))).first() if key else None
    if found is None or found[1].revoked_at is not None or not found[0].is_active \
            or found[0].deleted_at is not None:
        raise NotAuthenticated("The API key is unknown, revoked, or its advertiser is "
                               "deactivated.")
    advertiser, api_key = found
    api_key.last_used_at = utcnow()
    return advertiser, api_key


# -- users and invitations -----------------------------------------------------------------


@dataclass(frozen=True)
class People:
    """An advertiser's portal users and its invitations still open."""

    members: list[User]
    pending: list[Invitation]


def people(session: Session, actor: User | None, advertiser: Advertiser) -> People:
    """The advertiser's users by email and its open invitations."""
    require_manage(session, actor)
    members = list(session.scalars(select(User).join(Member, Member.user_id == User.id)
                                   .where(Member.advertiser_id == advertiser.id)
                                   .order_by(User.email)))
    pending = list(session.scalars(select(Invitation).where(
        Invitation.advertiser_id == advertiser.id, Invitation.used_at.is_(None),
        Invitation.expires_at > utcnow()).order_by(Invitation.id)))
    return People(members, pending)


def invite(session: Session, actor: User | None, advertiser: Advertiser,
           data: Mapping[str, Any]) -> tuple[Invitation, str]:
    """A one-time invitation for a new portal user; returns it and its token,
    which only the emailed link carries (the database keeps its hash)."""
    require_manage(session, actor)
    if not advertiser.is_active:
        raise Conflict("Activate the advertiser before inviting users.")
    values = load(schemas.InvitationInput(), data)
    if session.scalar(select(User.id).where(User.email == values["email"])) is not None:
        raise Conflict("A user with this email exists.", {"email": ["Already a user."]})
    token = new_token()
    invitation = Invitation(advertiser_id=advertiser.id, email=values["email"],
                            name=values["name"], token_hash=token_hash(token),
                            created_by=actor.id if actor else None,
                            expires_at=utcnow() + timedelta(days=INVITATION_DAYS))
    session.add(invitation)
    session.flush()
    return invitation, token


def invitation_mail(invitation: Invitation, advertiser: Advertiser, link: str) -> EmailMessage:
    """The email that carries the invitation's one-time ``link``."""
    text = (f"Hello {invitation.name or invitation.email},\n\n"
            f"you are invited to the Leadworks portal for {advertiser.name}, where you "
            f"hand over the leads of your campaigns.\n\nSet your password here (the link "
            f"works once and expires in {INVITATION_DAYS} days):\n{link}\n")
    return mail.message(invitation.email, f"Your Leadworks portal access for {advertiser.name}",
                        text)


def open_invitation(session: Session, token: str) -> Invitation:
    """The unused, unexpired invitation ``token`` stands for, or 404."""
    invitation = session.scalar(select(Invitation).where(
        Invitation.token_hash == token_hash(token or "")))
    if invitation is None or invitation.used_at is not None \
            or invitation.expires_at <= utcnow():
        raise NotFound("This invitation link is unknown, used or expired.")
    advertiser = session.get(Advertiser, invitation.advertiser_id)
    if advertiser is None or advertiser.deleted_at is not None or not advertiser.is_active:
        raise NotFound("This invitation link is unknown, used or expired.")
    return invitation


def accept_invitation(session: Session, token: str, password: str, confirm: str) -> User:
    """Create the portal user with the chosen password; the link is then spent."""
    invitation = open_invitation(session, token)
    if password != confirm:
        raise ValidationFailed("The passwords differ.", {"confirm": ["Repeat the password."]})
    # The system creates the account: the invitation is the admin's decision.
    user = users.create_user(session, None, {"email": invitation.email, "role": ROLE,
                                             "name": invitation.name, "password": password})
    session.add(Member(user_id=user.id, advertiser_id=invitation.advertiser_id))
    invitation.used_at, invitation.user_id = utcnow(), user.id
    session.flush()
    return user


# -- API keys --------------------------------------------------------------------------------


def list_keys(session: Session, actor: User | None, advertiser: Advertiser) -> list[ApiKey]:
    """The advertiser's keys, revoked ones included, oldest first."""
    require_manage(session, actor)
    return list(session.scalars(select(ApiKey).where(ApiKey.advertiser_id == advertiser.id)
                                .order_by(ApiKey.id)))


def issue_key(session: Session, actor: User | None, advertiser: Advertiser,
              data: Mapping[str, Any]) -> tuple[ApiKey, str]:
    """A new key; the clear key is returned once and never stored."""
    require_manage(session, actor)
    values = load(schemas.KeyInput(), data)
    key = new_token()
    api_key = ApiKey(advertiser_id=advertiser.id, name=values["name"],
                     key_hash=token_hash(key), prefix=key[:12])
    session.add(api_key)
    session.flush()
    return api_key, key


def revoke_key(session: Session, actor: User | None, advertiser: Advertiser,
               key_id: int) -> ApiKey:
    """Revoke one of the advertiser's keys (again is harmless); 404 for another's."""
    require_manage(session, actor)
    api_key = session.get(ApiKey, key_id)
    if api_key is None or api_key.advertiser_id != advertiser.id:
        raise NotFound("No such key.")
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
    session.flush()
    return api_key
