"""byte-ordered key emails and other keys: on PostgreSQL the key email and the
other phones and addresses compare byte by byte (collation C), as the first
phone's key does since core_0015, so that the duplicate list walks them in
one order and compares them with one another through their indexes; a plain
index then serves the key email's prefix search too

Revision ID: core_0018
Revises: core_0017
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0018"
down_revision: str | None = "core_0017"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TABLES = ("leads", "contacts")


def _collate(byte_order: bool) -> None:
    # SQLite compares bytes already: its columns and indexes stay as they are.
    if op.get_bind().dialect.name != "postgresql":
        return
    plain, c = sa.String(254), sa.String(254, collation="C")
    new, old = (c, plain) if byte_order else (plain, c)
    for table in TABLES:
        op.drop_index(f"ix_{table}_email_key", table)
        op.alter_column(table, "email_key", type_=new, existing_type=old,
                        existing_nullable=True)
        op.create_index(f"ix_{table}_email_key", table, ["email_key"], **(
            {} if byte_order else {"postgresql_ops": {"email_key": "varchar_pattern_ops"}}))
    # The primary key's index is rebuilt with the column.
    op.alter_column("other_keys", "value", type_=new, existing_type=old,
                    existing_nullable=False)


def upgrade() -> None:
    _collate(byte_order=True)


def downgrade() -> None:
    _collate(byte_order=False)
