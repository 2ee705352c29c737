"""indexes the planner can trust: pattern indexes for prefix search on
PostgreSQL, and the recycle bin's index on deleted rows only

Revision ID: core_0007
Revises: core_0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0007"
down_revision: str | None = "core_0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

KEYS = [(table, column) for table in ("leads", "contacts")
        for column in ("name_key", "email_key", "phone_key")]


def upgrade() -> None:
    for table in ("leads", "contacts"):
        # Lists filter on "deleted_at IS NULL", true for nearly every row: an
        # index over all rows never helps them and misleads the planner.
        op.drop_index(f"ix_{table}_deleted_at", table)
        op.create_index(f"ix_{table}_binned", table, ["deleted_at"],
                        sqlite_where=sa.text("deleted_at IS NOT NULL"),
                        postgresql_where=sa.text("deleted_at IS NOT NULL"))
    # LIKE 'prefix%' uses a b-tree index only with the pattern operator class
    # unless the database collation is C. SQLite's plain indexes already serve
    # the range search it runs instead.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in KEYS:
        op.create_index(f"ix_{table}_{column}_pattern", table, [column],
                        postgresql_ops={column: "varchar_pattern_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in KEYS:
            op.drop_index(f"ix_{table}_{column}_pattern", table)
    for table in ("leads", "contacts"):
        op.drop_index(f"ix_{table}_binned", table)
        op.create_index(f"ix_{table}_deleted_at", table, ["deleted_at"])
