"""leadworks: a lead may hold several submissions, since a merge moves the
merged leads' submissions to the survivor; merged_at says when a merge last
joined a submission's lead with others

Revision ID: leadworks_0003
Revises: leadworks_0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "leadworks_0003"
down_revision: str | None = "leadworks_0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # The unique constraint's index served the joins on lead_id and the
    # ON DELETE SET NULL of a purge; a plain index takes over.
    with op.batch_alter_table("leadworks_submissions") as batch:
        batch.drop_constraint(op.f("uq_leadworks_submissions_lead_id"), type_="unique")
        batch.create_index(op.f("ix_leadworks_submissions_lead_id"), ["lead_id"], unique=False)
        batch.add_column(sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # One submission per lead again: each lead's oldest keeps it and the
    # others show as removed (which lead each was handed over as is not kept).
    submissions = sa.table("leadworks_submissions", sa.column("id"), sa.column("lead_id"))
    kept = submissions.alias("kept")
    oldest = sa.select(sa.func.min(kept.c.id)).where(kept.c.lead_id.is_not(None)).group_by(
        kept.c.lead_id)
    op.execute(submissions.update()
               .where(submissions.c.lead_id.is_not(None), submissions.c.id.not_in(oldest))
               .values(lead_id=None))
    with op.batch_alter_table("leadworks_submissions") as batch:
        batch.drop_column("merged_at")
        batch.drop_index(op.f("ix_leadworks_submissions_lead_id"))
        batch.create_unique_constraint(op.f("uq_leadworks_submissions_lead_id"), ["lead_id"])
