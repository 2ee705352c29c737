"""byte-ordered other keys: on PostgreSQL the other phones and addresses compare
byte by byte (collation C), as the first phone's key does, so that the
duplicate list walks both in one order, each through its own index

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


def _collate(byte_order: bool) -> None:
    # SQLite compares bytes already. PostgreSQL rebuilds the primary key's
    # index with the column.
    if op.get_bind().dialect.name != "postgresql":
        return
    plain, c = sa.String(254), sa.String(254, collation="C")
    op.alter_column("other_keys", "value", type_=c if byte_order else plain,
                    existing_type=plain if byte_order else c, existing_nullable=False)


def upgrade() -> None:
    _collate(byte_order=True)


def downgrade() -> None:
    _collate(byte_order=False)
