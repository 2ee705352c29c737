"""import change after: what an import wrote into the fields it updated, so
that its revert gives back earlier values only in the fields no one has
changed since (rows written before this keep the old rule: all of them)

Revision ID: core_0019
Revises: core_0018
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0019"
down_revision: str | None = "core_0018"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_changes") as batch:
        batch.add_column(sa.Column("after", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_changes") as batch:
        batch.drop_column("after")
