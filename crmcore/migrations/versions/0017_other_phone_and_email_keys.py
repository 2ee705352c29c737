"""other keys: each lead's and contact's phones and addresses after the first,
so that the duplicate checks find a person by any of them with an index;
filled here for the records already stored

Revision ID: core_0017
Revises: core_0016
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0017"
down_revision: str | None = "core_0016"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TABLES = {"leads": "lead", "contacts": "contact"}
BATCH = 5000


def _fill(table: str, record_type: str) -> None:
    """The other keys of the rows with more than one phone or address (few),
    read in batches in id order."""
    conn = op.get_bind()
    rows = sa.table(table, sa.column("id"), sa.column("phones", sa.JSON),
                    sa.column("emails", sa.JSON))
    keys = sa.table("other_keys", sa.column("record_type"), sa.column("record_id"),
                    sa.column("value"))
    several = sa.or_(sa.func.json_array_length(rows.c.phones) > 1,
                     sa.func.json_array_length(rows.c.emails) > 1)
    last = 0
    while batch := conn.execute(sa.select(rows.c.id, rows.c.phones, rows.c.emails)
                                .where(rows.c.id > last, several)
                                .order_by(rows.c.id).limit(BATCH)).all():
        values = [{"record_type": record_type, "record_id": row.id, "value": value}
                  for row in batch
                  for value in dict.fromkeys([*row.phones[1:], *row.emails[1:]])]
        if values:
            conn.execute(sa.insert(keys), values)
        last = batch[-1].id


def upgrade() -> None:
    op.create_table(
        "other_keys",
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("record_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("record_type", "value", "record_id",
                                name=op.f("pk_other_keys")),
    )
    op.create_index("ix_other_keys_record", "other_keys", ["record_type", "record_id"])
    for table, record_type in TABLES.items():
        _fill(table, record_type)


def downgrade() -> None:
    op.drop_table("other_keys")
