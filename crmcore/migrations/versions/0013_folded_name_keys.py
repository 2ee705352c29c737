"""folded name keys: names are searched and sorted by keys with case and
accents folded and compared byte by byte on every database, so that "adam" and
"Émile" sort among the a's and e's and "mull" finds "Müller"; the name key's
index orders the lead name sort (its own index goes), and contacts gain a folded
last name for theirs

Revision ID: core_0013
Revises: core_0012
Create Date: 2026-11-24
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

# The keys the code at this revision computes: a later change to how names
# fold comes with its own migration to compute them again.
from crmcore.textkeys import fold

revision: str = "core_0013"
down_revision: str | None = "core_0012"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TABLES = ("leads", "contacts")
BATCH = 5000
Keys = Callable[[sa.Row], dict[str, str]]


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _text(length: int, byte_order: bool) -> sa.String:
    # PostgreSQL compares in the database's locale unless told otherwise;
    # SQLite compares bytes.
    return sa.String(length, collation="C") if byte_order and _postgres() else sa.String(length)


def _collate_name_keys(byte_order: bool) -> None:
    if _postgres():
        for table in TABLES:
            op.alter_column(table, "name_key", type_=_text(200, byte_order),
                            existing_type=_text(200, not byte_order), existing_nullable=False)


def _rekey(table: str, names: Sequence[str], keys: Keys) -> None:
    """Compute each row's keys from its names, in batches in id order."""
    conn = op.get_bind()
    rows = sa.table(table, sa.column("id"), *(sa.column(n) for n in names))
    last = 0
    while batch := conn.execute(sa.select(rows).where(rows.c.id > last)
                                .order_by(rows.c.id).limit(BATCH)).all():
        values = [{"row_id": row.id, **keys(row)} for row in batch]
        target = sa.table(table, sa.column("id"), *map(sa.column, keys(batch[0])))
        conn.execute(sa.update(target).where(target.c.id == sa.bindparam("row_id")), values)
        last = batch[-1].id


def _lead_keys(fold_name: Callable[[str, int], str]) -> Keys:
    return lambda row: {"name_key": fold_name(row.full_name, 200)}


def _contact_keys(fold_name: Callable[[str, int], str], last_name: bool) -> Keys:
    def keys(row: sa.Row) -> dict[str, str]:
        out = {"name_key": fold_name(f"{row.first_name} {row.last_name}".strip(), 200)}
        if last_name:
            out["last_name_key"] = fold_name(row.last_name, 100)
        return out
    return keys


def _lower(text: str, length: int) -> str:
    return text.lower()[:length]


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_name_key", table)
    _collate_name_keys(byte_order=True)
    op.drop_index("ix_leads_full_name_id", "leads")
    op.drop_index("ix_contacts_last_name_id", "contacts")
    op.add_column("contacts", sa.Column("last_name_key", _text(100, True), nullable=False,
                                        server_default=""))
    _rekey("leads", ("full_name",), _lead_keys(fold))
    _rekey("contacts", ("first_name", "last_name"), _contact_keys(fold, last_name=True))
    for table in TABLES:
        op.create_index(f"ix_{table}_name_key", table, ["name_key", "id"])
    op.create_index("ix_contacts_last_name_key_id", "contacts", ["last_name_key", "id"])


def downgrade() -> None:
    op.drop_index("ix_contacts_last_name_key_id", "contacts")
    op.drop_column("contacts", "last_name_key")
    _rekey("leads", ("full_name",), _lead_keys(_lower))
    _rekey("contacts", ("first_name", "last_name"), _contact_keys(_lower, last_name=False))
    for table in TABLES:
        op.drop_index(f"ix_{table}_name_key", table)
    _collate_name_keys(byte_order=False)
    for table in TABLES:
        op.create_index(f"ix_{table}_name_key", table, ["name_key"],
                        postgresql_ops={"name_key": "varchar_pattern_ops"})
    op.create_index("ix_leads_full_name_id", "leads", ["full_name", "id"])
    op.create_index("ix_contacts_last_name_id", "contacts", ["last_name", "id"])
