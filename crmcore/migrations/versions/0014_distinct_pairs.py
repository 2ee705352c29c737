"""distinct pairs: leads or contacts a user said are different people, which
the duplicate list then leaves out

Revision ID: core_0014
Revises: core_0013
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0014"
down_revision: str | None = "core_0013"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "distinct_pairs",
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("low_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("high_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("marked_by", sa.Integer(), nullable=True),
        sa.Column("marked_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.ForeignKeyConstraint(["marked_by"], ["users.id"],
                                name=op.f("fk_distinct_pairs_marked_by_users")),
        sa.PrimaryKeyConstraint("record_type", "low_id", "high_id",
                                name=op.f("pk_distinct_pairs")),
    )
    op.create_index("ix_distinct_pairs_high", "distinct_pairs", ["record_type", "high_id"])


def downgrade() -> None:
    op.drop_table("distinct_pairs")
