"""fewer indexes for every write to maintain: the owner index is the first
column of the owner-and-date one, and on PostgreSQL the pattern indexes serve
equality as well as prefix search, so the plain key indexes go

Revision ID: core_0009
Revises: core_0008
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "core_0009"
down_revision: str | None = "core_0008"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TABLES = ("leads", "contacts")
KEYS = ("name_key", "email_key", "phone_key")


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_owner_id", table)
        if op.get_bind().dialect.name == "postgresql":
            for column in KEYS:
                op.drop_index(f"ix_{table}_{column}", table)
                op.execute(f"ALTER INDEX ix_{table}_{column}_pattern RENAME TO ix_{table}_{column}")


def downgrade() -> None:
    for table in TABLES:
        if op.get_bind().dialect.name == "postgresql":
            for column in KEYS:
                op.execute(f"ALTER INDEX ix_{table}_{column} RENAME TO ix_{table}_{column}_pattern")
                op.create_index(f"ix_{table}_{column}", table, [column])
        op.create_index(f"ix_{table}_owner_id", table, ["owner_id"])
