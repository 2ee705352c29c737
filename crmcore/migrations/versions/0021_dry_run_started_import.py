"""dry run started import: the import a dry run's file was imported as, so
that a checked file is imported once, not once per click on its page

Revision ID: core_0021
Revises: core_0020
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0021"
down_revision: str | None = "core_0020"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(sa.Column("started_import_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_import_jobs_started_import_id_import_jobs"),
                                 "import_jobs", ["started_import_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_constraint(op.f("fk_import_jobs_started_import_id_import_jobs"),
                              type_="foreignkey")
        batch.drop_column("started_import_id")
