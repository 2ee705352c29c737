"""leadworks: each submission keeps the lead as handed over (its id, name and
key email), which is what its advertiser sees once a merge joined the lead
with others

Revision ID: leadworks_0004
Revises: leadworks_0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "leadworks_0004"
down_revision: str | None = "leadworks_0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leadworks_submissions") as batch:
        batch.add_column(sa.Column("handed_lead_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("handed_name", sa.String(200), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("handed_email", sa.String(254), nullable=False,
                                   server_default=""))
    # A submission never merged still has its lead as handed over (staff edits
    # aside). What a merged one was handed over as is not known: it shows
    # "merged" without a name.
    submissions = sa.table("leadworks_submissions", sa.column("lead_id"),
                           sa.column("merged_at"), sa.column("handed_lead_id"),
                           sa.column("handed_name"), sa.column("handed_email"))
    leads = sa.table("leads", sa.column("id"), sa.column("full_name"), sa.column("email_key"),
                     sa.column("deleted_at"))
    lead = sa.select(leads).where(leads.c.id == submissions.c.lead_id,
                                  leads.c.deleted_at.is_(None))
    op.execute(submissions.update()
               .where(submissions.c.merged_at.is_(None), lead.exists())
               .values(handed_lead_id=submissions.c.lead_id,
                       handed_name=lead.with_only_columns(leads.c.full_name).scalar_subquery(),
                       handed_email=sa.func.coalesce(
                           lead.with_only_columns(leads.c.email_key).scalar_subquery(), "")))


def downgrade() -> None:
    with op.batch_alter_table("leadworks_submissions") as batch:
        batch.drop_column("handed_email")
        batch.drop_column("handed_name")
        batch.drop_column("handed_lead_id")
