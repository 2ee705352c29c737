"""alpha items"""

import sqlalchemy as sa
from alembic import op

revision = "alpha_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("alpha_item", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("label", sa.String(50), nullable=False),
                    sa.Column("lead_id", sa.Integer),
                    sa.Column("deleted_at", sa.DateTime(timezone=True)))


def downgrade():
    op.drop_table("alpha_item")
