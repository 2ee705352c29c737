"""gdpr: gdpr_merge, which lead (or contact) was merged into which, so that
anonymizing the survivor anonymizes the merged-away records in the recycle bin;
merges made before are read from the core's timeline

Revision ID: gdpr_0002
Revises: gdpr_0001
Create Date: 2026-12-10
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "gdpr_0002"
down_revision: str | None = "gdpr_0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# Timeline entries read at a time: a large install may hold many merges.
BATCH = 2000
# What crmcore.services.merge writes on each merged-away record.
MERGED_INTO = re.compile(r"Merged into #([0-9]+)")
TABLES = {"lead": "leads", "contact": "contacts"}


def upgrade() -> None:
    op.create_table(
        "gdpr_merge",
        sa.Column("record_type", sa.String(20), nullable=False),
        sa.Column("merged_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("survivor_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("record_type", "merged_id", "survivor_id",
                                name="pk_gdpr_merge"),
    )
    op.create_index("ix_gdpr_merge_survivor", "gdpr_merge", ["record_type", "survivor_id"])
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_gdpr_merge_survivor", table_name="gdpr_merge")
    op.drop_table("gdpr_merge")


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite gives naive times (stored in UTC), PostgreSQL aware ones."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def backfill(conn: sa.Connection) -> None:
    """Remember the merges made before this migration: each merged-away record got
    a timeline entry of kind "merged" reading exactly "Merged into #<survivor>".

    An entry counts only when both records exist and are older than it: a lead's
    timeline copied onto the contact it was converted into keeps its dates (older
    than that contact), and a purged survivor's id may have gone to a newer
    record since (SQLite reused the highest id before core_0025)."""
    entries = sa.table("timeline_entries", sa.column("id", sa.Integer()),
                       sa.column("record_type", sa.String()),
                       sa.column("record_id", sa.Integer()), sa.column("kind", sa.String()),
                       sa.column("body", sa.Text()),
                       sa.column("created_at", sa.DateTime(timezone=True)))
    merges = sa.table("gdpr_merge", sa.column("record_type", sa.String()),
                      sa.column("merged_id", sa.Integer()),
                      sa.column("survivor_id", sa.Integer()))
    seen: set[tuple[str, int, int]] = set()
    after = 0
    while True:
        batch = conn.execute(
            sa.select(entries.c.id, entries.c.record_type, entries.c.record_id,
                      entries.c.body, entries.c.created_at)
            .where(entries.c.id > after, entries.c.kind == "merged",
                   entries.c.record_type.in_(TABLES), entries.c.body.like("Merged into #%"))
            .order_by(entries.c.id).limit(BATCH)).all()
        if not batch:
            return
        after = batch[-1].id
        found: list[tuple[str, int, int, datetime | None]] = []
        for entry in batch:
            match = MERGED_INTO.fullmatch(entry.body)
            if match and int(match[1]) != entry.record_id:
                found.append((entry.record_type, entry.record_id, int(match[1]),
                              _utc(entry.created_at)))
        rows = []
        for record_type, table in TABLES.items():
            mine = [f for f in found if f[0] == record_type]
            if not mine:
                continue
            records = sa.table(table, sa.column("id", sa.Integer()),
                               sa.column("created_at", sa.DateTime(timezone=True)))
            ids = sorted({i for f in mine for i in f[1:3]})
            born = {i: _utc(t) for i, t in conn.execute(
                sa.select(records.c.id, records.c.created_at).where(records.c.id.in_(ids)))}
            for _, merged_id, survivor_id, at in mine:
                key = (record_type, merged_id, survivor_id)
                if (key not in seen and merged_id in born and survivor_id in born
                        and (at is None or all(born[i] is None or born[i] <= at
                                               for i in (merged_id, survivor_id)))):
                    seen.add(key)
                    rows.append(dict(zip(("record_type", "merged_id", "survivor_id"), key,
                                         strict=True)))
        if rows:
            conn.execute(merges.insert(), rows)
