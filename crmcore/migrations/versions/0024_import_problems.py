"""import problems: every problem an import finds, beside the first ones its
job keeps to show

Revision ID: core_0024
Revises: core_0023
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0024"
down_revision: str | None = "core_0023"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("column_name", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["import_jobs.id"], ondelete="CASCADE",
                                name=op.f("fk_import_problems_import_id_import_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_problems")),
    )
    op.create_index("ix_import_problems_import_id_id", "import_problems", ["import_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_import_problems_import_id_id", table_name="import_problems")
    op.drop_table("import_problems")
