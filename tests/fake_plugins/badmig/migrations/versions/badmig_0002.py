"""a second step that creates a table and then fails"""

import sqlalchemy as sa
from alembic import op

revision = "badmig_0002"
down_revision = "badmig_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("badmig_half", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO badmig_no_such_table VALUES (1)")


def downgrade():
    op.drop_table("badmig_half")
