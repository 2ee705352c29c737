"""Leads, contacts, lead stages, tags, the shared email-key index and the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.db import Base, utcnow
from crmcore.models.users import User

STAGE_KINDS = ("open", "won", "lost")
LIFECYCLE_STAGES = ("lead", "prospect", "customer")
OPT_OUT_CHANNELS = ("email", "call", "sms", "fax", "post")


# The ids of these tables are public (URLs, exports, integrators' stored ids)
# and their rows may be deleted for good: on SQLite, AUTOINCREMENT never hands
# a deleted row's id to a new one (PostgreSQL's sequences never do).
NEVER_REUSED = {"sqlite_autoincrement": True}


class LeadStage(Base):
    __tablename__ = "lead_stages"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(10), default="open")


class EmailKey(Base):
    """One row per key email of a lead or contact. Its primary key makes an
    address unique across both tables, which no check-then-insert could promise
    under concurrency."""

    __tablename__ = "email_keys"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[int]


def key_type(length: int | None) -> String:
    """Text compared byte by byte on every database: SQLite's default, the "C"
    collation on PostgreSQL whatever the database's locale. A b-tree on such a
    column gives its order (the name sort, the duplicate list) and serves LIKE
    'prefix%' and equality."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class OtherKey(Base):
    """A lead's or contact's phones and addresses after its first (which its
    ``phone_key`` and ``email_key`` hold), normalized, a row each: the
    duplicate checks find a person by any of them through the primary key.
    Unlike key emails, these may be shared. Byte-ordered, like the first
    phone's key: the duplicate list walks both in one order."""

    __tablename__ = "other_keys"

    record_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(key_type(254), primary_key=True)
    record_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)

    # A record's keys are replaced whole when its phones or addresses change.
    __table_args__ = (Index("ix_other_keys_record", "record_type", "record_id"),)


class RecordMixin:
    """Columns every person record shares: owner, emails, phones, custom and
    plugin fields, soft delete and an optimistic-locking version."""

    id: Mapped[int] = mapped_column(primary_key=True)
    emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The first email, normalized; the duplicate rule and email search use it.
    email_key: Mapped[str | None] = mapped_column(key_type(254))
    phones: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The first phone as stored (E.164, and ";ext=" with its extension if it has
    # one), for prefix search and the duplicate list. No length of its own: the
    # schema bounds a phone, and an extension of up to 20 digits no longer fits
    # E.164's 20 characters.
    phone_key: Mapped[str | None] = mapped_column(key_type(None))
    company: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    plugin_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow,
                                                 server_default=func.now())
    # Indexed only where set: lists ask for "IS NULL", which nearly every row
    # matches, and a full index would only tempt the planner.
    deleted_at: Mapped[datetime | None]
    # The CSV import that created the record, so that the import can be reverted.
    import_id: Mapped[int | None]
    # Last activity, edit or manual touch: what a retention policy measures.
    touched_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow,
                                                 server_default=func.now(), index=True)
    # Set once the person behind the record was anonymized; the row stays for
    # statistics.
    anonymized_at: Mapped[datetime | None]

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


def where_set(name: str, *columns: str) -> Index:
    """An index of the rows whose first column is set. The rows where it is
    NULL (nearly all, for these columns) cost their writes nothing."""
    where = text(f"{columns[0]} IS NOT NULL")
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


def record_indexes(table: str) -> tuple[Index, ...]:
    """Indexes leads and contacts share: the recycle bin's, and the rows of one
    import in id order, which its revert walks."""
    return (where_set(f"ix_{table}_binned", "deleted_at"),
            where_set(f"ix_{table}_import", "import_id", "id"))


def search_indexes(table: str) -> list[Index]:
    """Indexes on the folded name, key email and first phone (prefix search;
    the phone's duplicate check) and on the name's sound (the name's duplicate
    check). LIKE 'prefix%' uses a PostgreSQL b-tree only with the pattern
    operator class unless the column's collation is C, as every key's is
    (their indexes also give the name sort and the duplicate list their
    order); SQLite runs prefix search as a range on a plain index."""
    return [Index(f"ix_{table}_name_key", "name_key", "id"),
            Index(f"ix_{table}_sound_key", "sound_key", "id"),
            Index(f"ix_{table}_phone_key", "phone_key"),
            Index(f"ix_{table}_email_key", "email_key")]


class Lead(RecordMixin, Base):
    __tablename__ = "leads"

    full_name: Mapped[str] = mapped_column(String(200))
    # The folded name (crmcore.textkeys): search, duplicate checks and the name sort.
    name_key: Mapped[str] = mapped_column(key_type(200))
    # What the name sounds like (crmcore.textkeys.sound_key): duplicate checks.
    sound_key: Mapped[str] = mapped_column(key_type(200), server_default="")
    # The folded last name, as converting the lead into a contact would split
    # it off (crmcore.schemas.records.split_name): search by surname.
    last_name_key: Mapped[str] = mapped_column(key_type(100), server_default="")
    login: Mapped[str] = mapped_column(String(100), default="")
    partner: Mapped[str] = mapped_column(String(200), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(100), default="", index=True)
    score: Mapped[int] = mapped_column(default=0)
    last_contacted_at: Mapped[datetime | None]
    # Indexed first in (owner_id, created_at, id).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("lead_stages.id"), index=True)
    converted_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))

    owner: Mapped[User | None] = relationship(lazy="raise")
    stage: Mapped[LeadStage] = relationship(lazy="raise")

    __table_args__ = (
        Index("ix_leads_owner_created", "owner_id", "created_at", "id"),
        # Deleting a contact looks for leads converted into it (the foreign key).
        where_set("ix_leads_converted_contact", "converted_contact_id"),
        *record_indexes("leads"),
        *search_indexes("leads"),
        *(Index(f"ix_leads_{c}_id", c, "id")
          for c in ("created_at", "updated_at", "score", "last_name_key")),
        NEVER_REUSED,
    )
    __mapper_args__ = {"version_id_col": RecordMixin.version}  # noqa: RUF012


class Contact(RecordMixin, Base):
    __tablename__ = "contacts"

    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100))
    # The folded first and last name: search.
    name_key: Mapped[str] = mapped_column(key_type(200))
    # What that name sounds like (crmcore.textkeys.sound_key): duplicate checks.
    sound_key: Mapped[str] = mapped_column(key_type(200), server_default="")
    # The folded last name: the name sort and search by surname.
    last_name_key: Mapped[str] = mapped_column(key_type(100), server_default="")
    street: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="", index=True)
    country: Mapped[str] = mapped_column(String(2), default="")
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default="lead")
    opt_outs: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Indexed first in (owner_id, created_at, id).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    owner: Mapped[User | None] = relationship(lazy="raise")

    __table_args__ = (
        Index("ix_contacts_owner_created", "owner_id", "created_at", "id"),
        *record_indexes("contacts"),
        *search_indexes("contacts"),
        *(Index(f"ix_contacts_{c}_id", c, "id")
          for c in ("created_at", "updated_at", "last_name_key")),
        NEVER_REUSED,
    )
    __mapper_args__ = {"version_id_col": RecordMixin.version}  # noqa: RUF012

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class TimelineEntry(Base):
    """What happened to a record: changes (recorded automatically), comments and
    plugin entries. ``changes`` maps each field to ``[old, new]``."""

    __tablename__ = "timeline_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    actor: Mapped[User | None] = relationship(lazy="raise")

    __table_args__ = (Index("ix_timeline_record", "record_type", "record_id", "id"),)


class DistinctPair(Base):
    """Two leads (or two contacts) a user said are different people, though
    they look like duplicates. The duplicate list leaves out a set once every
    two of its records are such a pair; ``low_id`` is the smaller id."""

    __tablename__ = "distinct_pairs"

    record_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    low_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    high_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    marked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    marked_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    # Purging a record finds its pairs from either side.
    __table_args__ = (Index("ix_distinct_pairs_high", "record_type", "high_id"),)


CUSTOM_FIELD_TYPES = ("text", "number", "date", "choice", "boolean")


class CustomField(Base):
    """A field an admin adds to leads or contacts. Values live in the record's
    ``custom`` column under ``name``."""

    __tablename__ = "custom_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(100))
    field_type: Mapped[str] = mapped_column(String(10))
    choices: Mapped[list[str]] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)

    __table_args__ = (Index("uq_custom_fields_type_name", "record_type", "name", unique=True),
                      NEVER_REUSED)


# What an import job goes through: queued, validating, then invalid (problems
# found, nothing written), checked (a dry run's end), or running, then done or
# failed; one that stopped is resume_queued, then running again; a revert goes
# revert_queued, reverting, reverted.
IMPORT_STATES = ("queued", "validating", "invalid", "checked", "running", "done", "failed",
                 "resume_queued", "revert_queued", "reverting", "reverted")


class ImportJob(Base):
    """A CSV import of leads or contacts: its options, progress and outcome."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1000))
    # The file's size and modification time when the job was made: a resume
    # refuses a file changed since. None for jobs made before core_0020.
    file_stamp: Mapped[str | None] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    total_rows: Mapped[int] = mapped_column(default=0)
    # The file row the last written batch ends at, where a resume goes on; and
    # how many of the file's data rows (blank lines aside) that batch ends at,
    # the progress shown.
    processed_rows: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0, server_default="0")
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    # Rows matching a record that already held their values: nothing written.
    unchanged_count: Mapped[int] = mapped_column(default=0, server_default="0")
    skipped_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    # The first problems found, as [row, column, message]; error_count has them all.
    errors: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    finished_at: Mapped[datetime | None]
    # When the job last moved on: a job in flight (importing, waiting to be
    # reverted, reverting) that has not moved for a while lost its process.
    progress_at: Mapped[datetime | None]
    reverted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Records deleted or given back so far by the revert.
    reverted_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Of a dry run: the import of its file it started, so that it starts no
    # second one (which would create every new record twice).
    started_import_id: Mapped[int | None] = mapped_column(ForeignKey("import_jobs.id"))


class ImportChange(Base):
    """A record an import updated, with the values it had before and those the
    import wrote, for revert."""

    __tablename__ = "import_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"),
                                           index=True)
    record_id: Mapped[int]
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    # None for changes recorded before core_0019.
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ImportProblem(Base):
    """A problem an import found: its file row, column and message. Every one
    is kept here; the job keeps the first few hundred to show with it."""

    __tablename__ = "import_problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    row: Mapped[int]
    column_name: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)

    # A job's problems are read in the order found, page by page.
    __table_args__ = (Index("ix_import_problems_import_id_id", "import_id", "id"),)
