"""gdpr settings, retention policy and audit log

Revision ID: gdpr_0001
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gdpr_0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gdpr_field_choice",
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("erase", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_gdpr_field_choice"),
    )
    op.create_table(
        "gdpr_retention",
        sa.Column("record_type", sa.String(20), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("record_type", name="pk_gdpr_retention"),
    )
    op.create_table(
        "gdpr_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("via", sa.String(10), nullable=False),
        sa.Column("record_type", sa.String(20), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name="fk_gdpr_audit_actor_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_gdpr_audit"),
    )
    op.create_index("ix_gdpr_audit_at", "gdpr_audit", ["at", "id"])
    op.create_index("ix_gdpr_audit_record", "gdpr_audit", ["record_type", "record_id"])


def downgrade() -> None:
    op.drop_index("ix_gdpr_audit_record", table_name="gdpr_audit")
    op.drop_index("ix_gdpr_audit_at", table_name="gdpr_audit")
    op.drop_table("gdpr_audit")
    op.drop_table("gdpr_retention")
    op.drop_table("gdpr_field_choice")
