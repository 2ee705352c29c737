"""name sound keys: the duplicate check finds names that sound alike ("Jon
Smith" and "Smith, John" for "John Smith") by a key of each name's sound,
computed here for the records already stored and indexed with their ids

Revision ID: core_0016
Revises: core_0015
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# The keys the code at this revision computes: a later change to how names
# sound comes with its own migration to compute them again.
from crmcore.textkeys import sound_key

revision: str = "core_0016"
down_revision: str | None = "core_0015"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TABLES = ("leads", "contacts")
BATCH = 5000


def _key_type() -> sa.String:
    # Compared byte by byte on PostgreSQL too, as the name key is.
    postgres = op.get_bind().dialect.name == "postgresql"
    return sa.String(200, collation="C") if postgres else sa.String(200)


def _fill(table: str) -> None:
    """Each row's key from its folded name, in batches in id order."""
    conn = op.get_bind()
    rows = sa.table(table, sa.column("id"), sa.column("name_key"), sa.column("sound_key"))
    last = 0
    while batch := conn.execute(sa.select(rows.c.id, rows.c.name_key).where(rows.c.id > last)
                                .order_by(rows.c.id).limit(BATCH)).all():
        conn.execute(sa.update(rows).where(rows.c.id == sa.bindparam("row_id")),
                     [{"row_id": row.id, "sound_key": sound_key(row.name_key, 200)}
                      for row in batch])
        last = batch[-1].id


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("sound_key", _key_type(), nullable=False,
                                       server_default=""))
        _fill(table)
        op.create_index(f"ix_{table}_sound_key", table, ["sound_key", "id"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_sound_key", table)
        op.drop_column(table, "sound_key")
