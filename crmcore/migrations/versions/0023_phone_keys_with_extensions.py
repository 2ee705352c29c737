"""phone keys with extensions: a record's first phone keeps its extension
(``+16502530000;ext=42``), longer than the 20 characters E.164 needed, so on
PostgreSQL its key no longer has a length of its own. Nothing stored changes:
a number without extension is stored as before.

Revision ID: core_0023
Revises: core_0022
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0023"
down_revision: str | None = "core_0022"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TABLES = ("leads", "contacts")


def _phone_key_length(new: int | None, old: int | None) -> None:
    # SQLite holds text of any length whatever a column declares, and changing
    # a declaration there means copying the table, whose drop would, with
    # foreign keys on, clear the rows that point at it: its tables stay.
    # PostgreSQL changes the length without rewriting the table or its index.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.alter_column(table, "phone_key", type_=sa.String(new, collation="C"),
                        existing_type=sa.String(old, collation="C"), existing_nullable=True)


def upgrade() -> None:
    _phone_key_length(None, 20)


def downgrade() -> None:
    # Refused while a first phone with an extension is longer than 20: the
    # extension would have to go, which is for whoever downgrades to decide.
    _phone_key_length(20, None)
