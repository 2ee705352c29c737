"""records remember when they were last touched and whether the person behind
them was anonymized

Revision ID: core_0008
Revises: core_0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0008"
down_revision: str | None = "core_0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    for table in ("leads", "contacts"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("touched_at", sa.DateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column("anonymized_at", sa.DateTime(timezone=True), nullable=True))
        # Existing records were last touched when they were last edited.
        op.execute(sa.text(f"UPDATE {table} SET touched_at = updated_at"))  # noqa: S608
        with op.batch_alter_table(table) as batch:
            batch.alter_column("touched_at", existing_type=sa.DateTime(timezone=True),
                               nullable=False, server_default=sa.func.now())
        op.create_index(f"ix_{table}_touched_at", table, ["touched_at"])


def downgrade() -> None:
    for table in ("leads", "contacts"):
        op.drop_index(f"ix_{table}_touched_at", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("anonymized_at")
            batch.drop_column("touched_at")
