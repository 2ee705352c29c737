"""import unchanged count: rows an import matched to a record that held their
values already, counted apart from the records it updated (which a revert
gives back)

Revision ID: core_0022
Revises: core_0021
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0022"
down_revision: str | None = "core_0021"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(sa.Column("unchanged_count", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("unchanged_count")
