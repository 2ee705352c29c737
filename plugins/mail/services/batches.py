"""Working on many rows at once: statements of a bounded size, and inserts that
leave alone the rows already there."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

# Rows per statement: well under SQLite's bound-parameter limit.
CHUNK = 500


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size``, one statement's worth each."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def dialect_insert(session: Session) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING (SQLite and
    PostgreSQL, the two databases crmcore runs on)."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
