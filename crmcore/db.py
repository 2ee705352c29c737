"""The database: one declarative base for the core and every plugin, engines for
SQLite and PostgreSQL, and sessions that replay events after commit.

A session belongs to one request or one command. Services receive it
explicitly; they call :func:`emit` to announce events, which runs the event hook
inside the transaction and queues the event for ``crm_after_commit``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    ColumnElement,
    DateTime,
    Engine,
    MetaData,
    String,
    Text,
    TypeDecorator,
    any_,
    bindparam,
    case,
    cast,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from crmcore import jsoncodec
from crmcore.errors import StartupError
from crmcore.types import Event

# Execution option of a connection whose transaction will write.
WRITES = "crm_writes"

log = logging.getLogger("crmcore.db")

# Stable constraint names make migrations portable between SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always loaded with its offset: SQLite keeps
    no time zone, and a naive value must not reach the API or the templates."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """The declarative base of every model, core and plugin alike."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime()}


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and transactional DDL.
    JSON columns go through :mod:`crmcore.jsoncodec`."""
    kwargs = {"json_serializer": jsoncodec.dumps, "json_deserializer": jsoncodec.loads,
              **kwargs}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, begin transactions, so that DDL is
        # transactional too: a failed migration leaves the last good revision.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "invalidate")
    def on_invalidate(dbapi_conn: sqlite3.Connection, _record: Any, _error: Any) -> None:
        # Ctrl-C inside a statement invalidates its connection, which is then
        # closed: SQLite finishes closing it, and releases the write lock, only
        # once the interrupted statement is freed, which its traceback delays.
        # Every writer waited out busy_timeout meanwhile, the stopped job's own
        # bookkeeping too. A rollback first releases the lock at once.
        with suppress(sqlite3.Error):
            dbapi_conn.rollback()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        # A transaction that reads, then writes after another one committed,
        # fails at once ("database is locked": its snapshot is stale) instead of
        # waiting. Work that will write takes the write lock up front and waits
        # its turn (busy_timeout) instead.
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            # Asked for no transaction (Alembic's autocommit_block): what SQLite
            # does only outside one, such as PRAGMA foreign_keys, takes effect.
            return
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITES, False) else "BEGIN")


def check_connection(engine: Engine) -> None:
    """Fail with a clear message when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        url = engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StartupError(f"cannot reach the database {url}: {reason}") from None


def session_factory(engine: Engine, runtime: Any) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` that carry the application's runtime (plugin
    hooks, roles) in ``session.info["crm"]``, for services and :func:`emit`."""
    factory = sessionmaker(engine, expire_on_commit=False, info={"crm": runtime})

    @event.listens_for(factory, "after_commit")
    def replay(session: Session) -> None:
        session.info.pop("crm_event_marks", None)
        queued = session.info.pop("crm_events", [])
        events = [item for item in queued if isinstance(item, Event)]
        if events:
            try:
                session.info["crm"].hook.crm_after_commit(events=events)
            except Exception:
                log.exception("a crm_after_commit implementation failed")
        for item in queued:
            if not isinstance(item, Event):
                try:
                    item()
                except Exception:
                    log.exception("an after-commit action failed")

    @event.listens_for(factory, "after_transaction_create")
    def mark(session: Session, transaction: Any) -> None:
        if transaction.nested:
            # A savepoint: remember how many events came before it.
            marks = session.info.setdefault("crm_event_marks", {})
            marks[id(transaction)] = len(session.info.get("crm_events", ()))

    @event.listens_for(factory, "after_soft_rollback")
    def forget(session: Session, previous: Any) -> None:
        if previous.parent is not None and not previous.nested:
            return  # a flush's inner transaction: its parent's rollback follows
        if previous.nested:
            # Only what was announced inside the savepoint is undone with it.
            kept = session.info.get("crm_event_marks", {}).pop(id(previous), None)
            if kept is not None and "crm_events" in session.info:
                del session.info["crm_events"][kept:]
            return
        session.info.pop("crm_events", None)
        session.info.pop("crm_event_marks", None)

    return factory


def emit(session: Session, hook_name: str, **payload: Any) -> None:
    """Call event hook ``hook_name`` inside the session's transaction and queue it
    for ``crm_after_commit``."""
    hook = session.info["crm"].hook
    getattr(hook, hook_name)(session=session, **payload)
    session.info.setdefault("crm_events", []).append(Event(hook_name, payload))


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's transaction commits, after the events'
    ``crm_after_commit``; never if it rolls back (a rolled-back savepoint drops
    what was queued inside it). For side effects that leave the process, such
    as email. An exception is logged and does not undo the committed work."""
    session.info.setdefault("crm_events", []).append(action)


def any_of(session: Session, column: ColumnElement[Any],
           values: Sequence[str | int]) -> ColumnElement[bool]:
    """``column IN values`` with all the values bound as one parameter (an array
    on PostgreSQL, a JSON array on SQLite). Unlike ``column.in_(values)`` the
    statement has one shape whatever the count: it is compiled once, and
    thousands of values cost the driver one parameter instead of thousands."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    each = func.json_each(bindparam(None, jsoncodec.dumps(list(values)), type_=String))
    return column.in_(select(each.table_valued("value").c.value))


def json_text(session: Session, column: Any, key: str) -> ColumnElement[str]:
    """The JSON text of the value under ``key`` in the JSON object ``column``,
    its type kept: ``5`` is not ``"5"``, nor ``true`` ``1``. A missing key
    reads as NULL on PostgreSQL, as ``null`` on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(column[key], Text)
    # SQLite's JSON_EXTRACT reads true and false as 1 and 0: their type tells
    # them apart. A simple CASE asks it once a row; each call parses the JSON.
    kind = func.json_type(column, bindparam(None, key, type_=JSON.JSONIndexType))
    return case({"true": "true", "false": "false"}, value=kind,
                else_=cast(column[key], Text))


# JSON types as each database names them (PostgreSQL's json_typeof, SQLite's json_type).
_JSON_TYPES = {"postgresql": {"number": ("number",), "boolean": ("boolean",),
                              "string": ("string",)},
               "sqlite": {"number": ("integer", "real"), "boolean": ("true", "false"),
                          "string": ("text",)}}


def json_is(session: Session, column: Any, key: str, json_type: str) -> ColumnElement[bool]:
    """Whether the value under ``key`` in the JSON object ``column`` is a JSON
    ``json_type``: ``"number"``, ``"boolean"`` or ``"string"``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        kind = func.json_typeof(column[key])
    else:
        kind = func.json_type(column, bindparam(None, key, type_=JSON.JSONIndexType))
    return kind.in_(_JSON_TYPES[dialect][json_type])


# The largest integer every integer column stores on both databases: the
# models' ``int`` columns are PostgreSQL INTEGERs (SQLite's reach 2**63 - 1).
# Ids beyond it name nothing, and PostgreSQL refuses to bind one.
MAX_INT = 2**31 - 1
# PostgreSQL's SQLSTATE for "integer out of range" and its kin.
_OUT_OF_RANGE = "22003"


def out_of_range(exc: BaseException) -> bool:
    """Whether ``exc`` is the driver refusing a number beyond :data:`MAX_INT`:
    input that slipped past the schemas, a 422 and not a server fault."""
    if isinstance(exc, OverflowError):  # sqlite3 binding an int it cannot store
        return "SQLite INTEGER" in str(exc)
    return isinstance(exc, DataError) and getattr(exc.orig, "sqlstate", None) == _OUT_OF_RANGE


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying another writer holds the database (or
    committed after this transaction started reading): worth retrying, not a bug."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def writing(session: Session) -> Session:
    """Mark ``session``, before its first statement, as one that will write:
    on SQLite its transaction then takes the write lock when it begins."""
    session.connection(execution_options={WRITES: True})
    return session


def snapshot(session: Session) -> Session:
    """Make ``session``, before its first statement, read the database as it
    stood at that statement, whatever others commit meanwhile: for a read of
    many statements that must add up, such as an export page after page.
    PostgreSQL's REPEATABLE READ; a SQLite read transaction is one already."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    return session


def writer(engine: Engine) -> Engine:
    """``engine`` for sessions whose every transaction may write: on SQLite each
    takes the write lock when it begins, as :func:`writing` makes one do."""
    return engine.execution_options(**{WRITES: True})


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits at the end of the block or rolls back on error.
    It is expected to write (see :func:`writing`)."""
    with factory() as session, session.begin():
        writing(session)
        yield session


def command_sessions() -> sessionmaker[Session]:
    """Sessions for a plugin's ``crm`` command: the configured database with the
    enabled plugins loaded, as the core's own commands get them. A
    :class:`~crmcore.errors.CrmError` raised here (a broken plugin, a bad
    ``CRM_DATABASE_URL``) says what to fix."""
    from crmcore.app import build_runtime  # crmcore.app imports this module

    return build_runtime().sessions
