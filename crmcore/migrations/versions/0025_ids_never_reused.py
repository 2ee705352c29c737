"""ids never reused: on SQLite, leads, contacts, lead stages and custom fields
number a new row after the highest id the table ever handed out, as
PostgreSQL's sequences do, not after the highest id it holds now

Their ids are public: API and web URLs, list filters (``stage_id``), exports
re-imported by id, integrators' stored ids, plugins' logs kept after an
erasure. Each table is hard-deleted (purged or reverted records, deleted
stages and fields), and SQLite's plain ``INTEGER PRIMARY KEY`` gave the next
new row the id of the highest deleted one: a stale id then named someone, or
something, else. ``AUTOINCREMENT`` keeps the highest id handed out in
``sqlite_sequence``. Other tables' ids are either never exposed or never
hard-deleted.

SQLite adds ``AUTOINCREMENT`` only by rebuilding the table, which this does as
https://www.sqlite.org/lang_altertable.html ("Making Other Kinds Of Table
Schema Changes") says: with foreign keys off, since dropping a table they are on
for would set NULL or delete the rows referencing it (plugins' rows too), the
table's stored definition is created anew with ``AUTOINCREMENT`` on its id,
its rows copied (which seeds ``sqlite_sequence`` with its highest id), the old
table dropped, the new one renamed, and its indexes (partial ones with their
WHERE), triggers and planner statistics restored, all in one transaction that
``PRAGMA foreign_key_check`` must pass before it commits. That transaction
commits before the revision is stamped: a table already rebuilt is left alone,
so running the upgrade again after a crash in between is harmless.

Ids deleted before this upgrade may already have gone to newer rows; nothing
can tell them apart now.

PostgreSQL: nothing to do. Downgrade: nothing either; ``AUTOINCREMENT`` is
harmless to older code.

Revision ID: core_0025
Revises: core_0024
Create Date: 2026-11-25
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0025"
down_revision: str | None = "core_0024"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TABLES = ("lead_stages", "custom_fields", "contacts", "leads")

# The table's primary key as SQLAlchemy writes it: a named table constraint,
# where SQLite allows no AUTOINCREMENT, which only a column's own PRIMARY KEY takes.
_PRIMARY_KEY = re.compile(r",\s*CONSTRAINT (\w+) PRIMARY KEY \(id\)")
_ID_COLUMN = re.compile(r"^(\s*)id INTEGER NOT NULL(?=,)", re.MULTILINE)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # PRAGMA foreign_keys does nothing inside a transaction.
    with op.get_context().autocommit_block():
        conn = op.get_bind()
        enforced = conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                for table in TABLES:
                    _rebuild(conn, table)
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"rows whose foreign key names nothing: {broken[:10]}")
            except BaseException:
                # Some errors (a full disk) roll the transaction back themselves.
                if conn.connection.driver_connection.in_transaction:
                    conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")
        finally:
            conn.exec_driver_sql(f"PRAGMA foreign_keys={int(enforced)}")


def _rebuild(conn: sa.Connection, table: str) -> None:
    definition = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if "PRIMARY KEY AUTOINCREMENT" in definition:
        return
    new = f"{table}_autoincrement"
    create = _with_autoincrement(definition, table, new)
    # Indexes SQLite made for UNIQUE constraints have no SQL: the new table's
    # constraints make them again.
    extras = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger')"
        " AND sql IS NOT NULL ORDER BY type, name", (table,)).scalars().all()
    has_stats = conn.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar_one()
    stats = conn.exec_driver_sql(
        "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = ?", (table,)).all() if has_stats else []
    columns = ", ".join(f'"{row[1]}"' for row in
                        conn.exec_driver_sql(f'PRAGMA table_info("{table}")'))
    conn.exec_driver_sql(create)
    # Names from this file and the table's own columns, no input.
    conn.exec_driver_sql(f'INSERT INTO "{new}" ({columns}) SELECT {columns} FROM "{table}"')  # noqa: S608
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "{new}" RENAME TO "{table}"')
    for statement in extras:
        conn.exec_driver_sql(statement)
    for idx, stat in stats:
        conn.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)",
                             (table, idx, stat))


def _with_autoincrement(definition: str, table: str, new: str) -> str:
    """``CREATE TABLE new`` as ``definition`` with its id's primary key moved
    onto the column, its name kept, and ``AUTOINCREMENT`` added."""
    head = re.compile(rf'^CREATE TABLE ("?){table}\1 \(')
    key = _PRIMARY_KEY.search(definition)
    if not head.match(definition) or key is None or len(_ID_COLUMN.findall(definition)) != 1:
        raise RuntimeError(f"unexpected definition of {table}: {definition}")
    body = _PRIMARY_KEY.sub("", definition, count=1)
    body = _ID_COLUMN.sub(rf"\1id INTEGER NOT NULL CONSTRAINT {key[1]} PRIMARY KEY AUTOINCREMENT",
                          body)
    return head.sub(f'CREATE TABLE "{new}" (', body, count=1)


def downgrade() -> None:
    pass
