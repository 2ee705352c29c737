"""The gdpr plugin's tables: which personal fields are erased, how long untouched
records are kept, which records were merged into which, and the audit log.

The audit log records who did what to which record, never the person's data:
ids, field keys and counts only, so that keeping it does not keep what was erased.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.db import Base, utcnow

ACTIONS = ("anonymize", "export", "touch", "sweep", "settings")


class GdprFieldChoice(Base):
    """Whether the optional personal field ``key`` ("lead.emails") is erased when
    a person is anonymized. A field without a row (one a plugin declared after the
    admin last saved) is erased: see ``services.settings.DEFAULT_ERASE``."""

    __tablename__ = "gdpr_field_choice"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    erase: Mapped[bool]


class GdprRetention(Base):
    """How many months a record of ``record_type`` may stay untouched before the
    sweep anonymizes it. No row: no policy for that type."""

    __tablename__ = "gdpr_retention"

    record_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    months: Mapped[int]


class GdprMerge(Base):
    """Lead (or contact) ``merged_id`` was merged into ``survivor_id``: the same
    person, so anonymizing the survivor anonymizes the merged-away record too.
    Written by ``crm_*_merged``; merges made before the plugin was installed (or
    before gdpr_0002) were read from the core's "Merged into #N" timeline entries.
    A record restored from the recycle bin keeps its row; one a user says is a
    different person (``crm_*_kept_apart``) loses it."""

    __tablename__ = "gdpr_merge"

    record_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    merged_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    survivor_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)

    __table_args__ = (Index("ix_gdpr_merge_survivor", "record_type", "survivor_id"),)


class GdprAudit(Base):
    """One privacy action. ``fields`` holds field keys (or export sections), never
    values; ``actor_id`` is ``None`` for the command line and the sweep."""

    __tablename__ = "gdpr_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    action: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # "web", "cli" or "sweep": how the action was started.
    via: Mapped[str] = mapped_column(String(10))
    record_type: Mapped[str | None] = mapped_column(String(20))
    record_id: Mapped[int | None]
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    count: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        Index("ix_gdpr_audit_at", "at", "id"),
        Index("ix_gdpr_audit_record", "record_type", "record_id"),
    )
