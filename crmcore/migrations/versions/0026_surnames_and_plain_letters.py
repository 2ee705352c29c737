"""surnames and plain letters: leads are found by their last name as well as
by the start of their whole name, and names fold the Latin letters Unicode
does not decompose

A sales rep searches people by surname: "Müller" found no lead "Anna Müller"
although it found such a contact, whose last name has a key of its own. Leads
gain that key, ``last_name_key``: the folded last name converting the lead
would give its contact (``split_name``: "Picard" of "Jean-Luc Picard", "de la
Cruz" of "Maria de la Cruz"), filled here for every stored lead and indexed
with the id, as the contacts' is.

Folding now writes Ø, Ł, Æ, Œ, Đ, Þ, ı and the like as the plain letters
their languages fall back to ("Ørjan" is "orjan"), as accents already were:
"orjan" finds "Ørjan", who sorts among the o's rather than after "Z", and
the duplicate checks compare "Søren" with "Soren". The name, sound and last
name keys of stored leads and contacts are computed again; a row is written
only where a key changed, and only the keys that did.

Rows are read in batches in id order, so that memory stays flat whatever the
table's size.

Downgrade: the leads' last name key goes. Name keys stay folded the new way:
the older code finds a name with such letters by its plain spelling ("orjan")
only, until the record is saved again.

Revision ID: core_0026
Revises: core_0025
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# The keys the code at this revision computes: a later change to how names
# fold comes with its own migration to compute them again.
from crmcore.services.records import CONTACTS, LEADS, Kind, name_keys

revision: str = "core_0026"
down_revision: str | None = "core_0025"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BATCH = 5000
KEYS = ("name_key", "sound_key", "last_name_key")


def _rekey(kind: Kind, names: Sequence[str]) -> None:
    """Compute each row's keys from its names, in batches in id order, and
    write those that changed. Rows are updated in groups of the same changed
    columns: an update that sets a column rewrites its index entry even when
    the value is the same."""
    conn = op.get_bind()
    table = kind.model.__tablename__
    rows = sa.table(table, sa.column("id"), *map(sa.column, (*names, *KEYS)))
    last = 0
    while batch := conn.execute(sa.select(rows).where(rows.c.id > last)
                                .order_by(rows.c.id).limit(BATCH)).all():
        changes: dict[tuple[str, ...], list[dict[str, object]]] = {}
        for row in batch:
            changed = {key: value for key, value in name_keys(kind, row._mapping).items()
                       if row._mapping[key] != value}
            if changed:
                changes.setdefault(tuple(changed), []).append({"row_id": row.id, **changed})
        for columns, values in changes.items():
            target = sa.table(table, sa.column("id"), *map(sa.column, columns))
            conn.execute(sa.update(target).where(target.c.id == sa.bindparam("row_id")),
                         values)
        last = batch[-1].id


def upgrade() -> None:
    # Byte-ordered on PostgreSQL, as every key is.
    key_type = sa.String(100).with_variant(sa.String(100, collation="C"), "postgresql")
    op.add_column("leads", sa.Column("last_name_key", key_type, nullable=False,
                                     server_default=""))
    _rekey(LEADS, ("full_name",))
    _rekey(CONTACTS, ("first_name", "last_name"))
    # Built once the keys are in: cheaper than updating it row by row.
    op.create_index("ix_leads_last_name_key_id", "leads", ["last_name_key", "id"])


def downgrade() -> None:
    op.drop_index("ix_leads_last_name_key_id", "leads")
    op.drop_column("leads", "last_name_key")
