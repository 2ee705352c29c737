"""indexes for the sort orders lists offer

Revision ID: core_0006
Revises: core_0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "core_0006"
down_revision: str | None = "core_0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# (table, column): keyset pagination walks (column, id) in index order.
SORTS = [("leads", "created_at"), ("leads", "updated_at"), ("leads", "score"),
         ("leads", "full_name"), ("contacts", "created_at"), ("contacts", "updated_at"),
         ("contacts", "last_name")]


def upgrade() -> None:
    for table, column in SORTS:
        op.create_index(f"ix_{table}_{column}_id", table, [column, "id"])
    # Give the planner statistics, so that it walks a sort index rather than
    # sorting every row matching an unselective filter.
    op.execute("ANALYZE leads")
    op.execute("ANALYZE contacts")


def downgrade() -> None:
    for table, column in SORTS:
        op.drop_index(f"ix_{table}_{column}_id", table)
