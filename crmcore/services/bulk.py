"""Inserting thousands of rows below the ORM, for imports and other batch writes.

SQLAlchemy's per-row parameter processing costs more than the write itself, so
rows are turned into plain tuples here, each value as its column type would
bind it (JSON as text; on SQLite, UTC timestamps as the text SQLAlchemy
stores), and written with one executemany on SQLite or one COPY on PostgreSQL
(where an executemany is a round trip per row).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Table
from sqlalchemy.exc import IntegrityError

from crmcore import jsoncodec
from crmcore.db import UtcDateTime

_MISSING = object()


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]],
                shared: Mapping[str, Any] | None = None) -> None:
    """Insert ``rows`` into ``table``. A column a row lacks takes its value from
    ``shared`` (what every row of the batch has in common, such as timestamps),
    else the column's Python default; values shared by the whole batch are
    converted once, not once per row.

    :raises sqlalchemy.exc.IntegrityError: when a row breaks a key or constraint."""
    if not rows:
        return
    sqlite = connection.dialect.name == "sqlite"
    names, params = _tuples(table, rows, shared or {}, sqlite)
    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in names)
    # Names come from the metadata, quoted; every value is bound or copied.
    if sqlite:
        marks = ", ".join("?" for _ in names)
        connection.exec_driver_sql(
            f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})",  # noqa: S608
            params)
        return
    raw = connection.connection.dbapi_connection
    statement = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            for values in params:
                copy.write_row(values)
    except connection.dialect.loaded_dbapi.IntegrityError as exc:
        # As SQLAlchemy raises it for any other statement, on either database.
        raise IntegrityError(statement, None, exc) from exc


def _tuples(table: Table, rows: Sequence[Mapping[str, Any]], shared: Mapping[str, Any],
            sqlite: bool) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and one tuple per row. Only the columns some row sets are
    looked up row by row; the rest are worked out once for the batch."""
    present = set().union(*rows)
    plain: list[tuple[str, Any]] = []
    converted: list[tuple[str, Callable[[Any], Any], Any]] = []
    fixed: list[tuple[str, Any]] = []
    for column in table.columns:
        key = column.key
        if key not in present and key not in shared and column.primary_key:
            continue  # numbered by the database
        convert = _converter(column.type, sqlite)
        value = shared.get(key, _MISSING)
        if value is _MISSING:
            default = column.default
            value = None if default is None else (
                default.arg(None) if default.is_callable else default.arg)  # type: ignore[attr-defined]
        if value is not None and convert is not None:
            value = convert(value)
        if key not in present:
            fixed.append((key, value))
        elif convert is None:
            plain.append((key, value))
        else:
            converted.append((key, convert, value))
    tail = tuple(value for _, value in fixed)

    def row_tuple(row: Mapping[str, Any]) -> tuple[Any, ...]:
        get = row.get
        return (tuple([get(key, otherwise) for key, otherwise in plain])
                + tuple([otherwise if (value := get(key, _MISSING)) is _MISSING
                         else value if value is None else convert(value)
                         for key, convert, otherwise in converted])
                + tail)

    names = [key for key, _ in plain] + [key for key, _, _ in converted] + [k for k, _ in fixed]
    return names, [row_tuple(row) for row in rows]


def _converter(column_type: Any, sqlite: bool) -> Callable[[Any], Any] | None:
    if isinstance(column_type, JSON):
        return jsoncodec.dumps
    if sqlite and isinstance(column_type, UtcDateTime):
        return sqlite_timestamp
    return None


def sqlite_timestamp(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DATETIME stores, for a UTC time."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
