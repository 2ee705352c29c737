"""byte-ordered phone keys: on PostgreSQL the first phone compares byte by byte
(collation C), as the name key does, so that one plain index serves prefix
search, equality and the order in which the duplicate list walks phones (an
index with the pattern operator class orders by other operators)

Revision ID: core_0015
Revises: core_0014
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0015"
down_revision: str | None = "core_0014"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TABLES = ("leads", "contacts")


def _collate(byte_order: bool) -> None:
    # SQLite compares bytes already: its columns and indexes stay as they are.
    if op.get_bind().dialect.name != "postgresql":
        return
    plain, c = sa.String(20), sa.String(20, collation="C")
    for table in TABLES:
        op.drop_index(f"ix_{table}_phone_key", table)
        op.alter_column(table, "phone_key", type_=c if byte_order else plain,
                        existing_type=plain if byte_order else c, existing_nullable=True)
        op.create_index(f"ix_{table}_phone_key", table, ["phone_key"], **(
            {} if byte_order else {"postgresql_ops": {"phone_key": "varchar_pattern_ops"}}))


def upgrade() -> None:
    _collate(byte_order=True)


def downgrade() -> None:
    _collate(byte_order=False)
