"""alpha items"""

import sqlalchemy as sa
from alembic import op

revision = "alpha_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("alpha_item", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("label", sa.String(50), nullable=False))


def downgrade():
    op.drop_table("alpha_item")
