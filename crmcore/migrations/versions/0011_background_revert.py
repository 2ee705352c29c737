"""background revert: who asked for it, how far it got, and when the job last
moved on, so that a revert runs outside the request and a stopped one is told
from a running one

Revision ID: core_0011
Revises: core_0010
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0011"
down_revision: str | None = "core_0010"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reverted_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reverted_count", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.create_foreign_key(op.f("fk_import_jobs_reverted_by_users"), "users",
                                 ["reverted_by"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_constraint(op.f("fk_import_jobs_reverted_by_users"), type_="foreignkey")
        batch.drop_column("reverted_count")
        batch.drop_column("reverted_by")
        batch.drop_column("progress_at")
