"""import file stamp: the size and modification time of an import's file when
it started, so that a resume refuses a file changed since (its rows would no
longer line up with the batches written)

Revision ID: core_0020
Revises: core_0019
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0020"
down_revision: str | None = "core_0019"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(sa.Column("file_stamp", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("file_stamp")
