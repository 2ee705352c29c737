"""Leadworks' tables. Only :mod:`crmcore_plugins.leadworks.services` writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.db import Base, utcnow

CHANNELS = ("form", "csv", "api")
OWNER_MODES = ("fixed", "round_robin")


class Advertiser(Base):
    """A company that runs campaigns for us and hands over the leads it wins.
    Deleting one puts it in the recycle bin (``deleted_at``)."""

    __tablename__ = "leadworks_advertisers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    deleted_at: Mapped[datetime | None]


class Member(Base):
    """A portal user (role ``advertiser``) and the company they work for."""

    __tablename__ = "leadworks_members"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(
        ForeignKey("leadworks_advertisers.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class ApiKey(Base):
    """An advertiser's intake key. Only its SHA-256 is kept: keys are 256 random
    bits, so a fast hash is safe and finds the key by index."""

    __tablename__ = "leadworks_api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(
        ForeignKey("leadworks_advertisers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Invitation(Base):
    """A one-time link to set a password and join an advertiser's portal."""

    __tablename__ = "leadworks_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(
        ForeignKey("leadworks_advertisers.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Submission(Base):
    """A lead an advertiser handed over. It outlives the lead (``lead_id`` goes
    NULL when the lead is purged) so that the statistics stay true. A merge
    moves it to the surviving lead, so one lead may hold several submissions:
    the same person handed over twice under different addresses, by one
    advertiser or two. It keeps what was handed over, which is all its
    advertiser sees once the lead was merged (see the README)."""

    __tablename__ = "leadworks_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    advertiser_id: Mapped[int] = mapped_column(
        ForeignKey("leadworks_advertisers.id", ondelete="CASCADE"))
    campaign: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("leadworks_api_keys.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The core import the lead came in with (an upload's job), kept with the
    # submission itself: erasing the person deletes the file each submission
    # came in, even once it belongs to a lead that came otherwise.
    import_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    # When a merge last joined its lead with others (``lead_id`` is then the
    # survivor). From then on the advertiser sees what it handed over (the
    # ``handed_*`` columns) and "merged", never the survivor's data.
    merged_at: Mapped[datetime | None]
    # The lead as handed over: its id, name and key email when it was created.
    # Personal data: erased with the person, and with the lead when purged.
    handed_lead_id: Mapped[int | None]
    handed_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    handed_email: Mapped[str] = mapped_column(String(254), default="", server_default="")

    __table_args__ = (Index("ix_leadworks_submissions_adv_at", "advertiser_id", "created_at"),)


class Refusal(Base):
    """A submission refused because its email was already known. Deliberately
    without the email: it counts refusals and keeps no personal data."""

    __tablename__ = "leadworks_refusals"

    id: Mapped[int] = mapped_column(primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(
        ForeignKey("leadworks_advertisers.id", ondelete="CASCADE"))
    campaign: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    __table_args__ = (Index("ix_leadworks_refusals_adv_at", "advertiser_id", "created_at"),)


class IdempotentRequest(Base):
    """The first answer to an intake request, replayed for retries with the same
    ``Idempotency-Key``. The unique key makes concurrent retries wait for the
    first and replay it. Answers carry ids, stages and per-field messages, never
    the lead's name or address (see the README)."""

    __tablename__ = "leadworks_idempotency"

    id: Mapped[int] = mapped_column(primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(
        ForeignKey("leadworks_advertisers.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    body_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int]
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    __table_args__ = (UniqueConstraint("advertiser_id", "key",
                                       name="uq_leadworks_idempotency_key"),)


class OwnerRule(Base):
    """Who owns new leads: one fixed user, or round robin among chosen users.
    There is one rule (the row with the lowest id); ``position`` is where the
    round robin continues."""

    __tablename__ = "leadworks_owner_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[str] = mapped_column(String(12))
    user_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Upload(Base):
    """A CSV batch an advertiser uploaded, and the core import job writing it."""

    __tablename__ = "leadworks_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(
        ForeignKey("leadworks_advertisers.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int] = mapped_column(unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    campaign: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(500), default="")
    all_or_nothing: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
