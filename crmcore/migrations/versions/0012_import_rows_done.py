"""import rows done: the data rows the written batches went through, for the
progress, apart from the file row a resume goes on from (they differ by the
header and any blank lines)

Revision ID: core_0012
Revises: core_0011
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0012"
down_revision: str | None = "core_0011"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(sa.Column("rows_done", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("rows_done")
