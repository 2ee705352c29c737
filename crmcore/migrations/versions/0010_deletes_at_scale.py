"""deletes at scale: reverting an import walks its rows in id order, and
deleting a contact finds the leads converted into it, each through an index of
the rows where the column is set

Revision ID: core_0010
Revises: core_0009
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0010"
down_revision: str | None = "core_0009"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TABLES = ("leads", "contacts")


def _where_set(name: str, table: str, *columns: str) -> None:
    where = sa.text(f"{columns[0]} IS NOT NULL")
    op.create_index(name, table, list(columns), sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_import_id", table)
        _where_set(f"ix_{table}_import", table, "import_id", "id")
    _where_set("ix_leads_converted_contact", "leads", "converted_contact_id")


def downgrade() -> None:
    op.drop_index("ix_leads_converted_contact", "leads")
    for table in TABLES:
        op.drop_index(f"ix_{table}_import", table)
        op.create_index(f"ix_{table}_import_id", table, ["import_id"])
