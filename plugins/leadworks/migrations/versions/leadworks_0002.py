"""leadworks: submissions.import_id, the core import the lead came in with,
kept with the submission itself for the person's erase

Revision ID: leadworks_0002
Revises: leadworks_0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "leadworks_0002"
down_revision: str | None = "leadworks_0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leadworks_submissions") as batch:
        batch.add_column(sa.Column("import_id", sa.Integer(), nullable=True))
    # Until now every submission points at the lead it was handed over as
    # (a merged-away one included, in the recycle bin): that lead's import is
    # the submission's.
    submissions = sa.table("leadworks_submissions", sa.column("lead_id"),
                           sa.column("import_id"))
    leads = sa.table("leads", sa.column("id"), sa.column("import_id"))
    op.execute(submissions.update().values(import_id=sa.select(leads.c.import_id).where(
        leads.c.id == submissions.c.lead_id).scalar_subquery()))


def downgrade() -> None:
    with op.batch_alter_table("leadworks_submissions") as batch:
        batch.drop_column("import_id")
