"""CSV export of any filtered list, streamed page by page.

Cells that a spreadsheet would read as a formula (starting with ``=``, ``+``,
``-``, ``@``, a tab, a carriage return or NUL) are prefixed with ``'`` (OWASP's
advice against CSV injection), so opening an export never runs anything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy.orm import Session

from crmcore.models import User
from crmcore.services.custom_fields import definitions
from crmcore.services.records import Kind, Page, list_records

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")

COLUMNS = {
    "lead": ("id", "full_name", "emails", "phones", "company", "login", "partner", "location",
             "source", "stage_id", "owner_id", "score", "tags", "last_contacted_at",
             "created_at"),
    "contact": ("id", "first_name", "last_name", "emails", "phones", "company", "street",
                "city", "postal_code", "country", "lifecycle_stage", "opt_outs", "owner_id",
                "tags", "created_at"),
}


def neutralize(value: str) -> str:
    """Make a cell safe to open in a spreadsheet."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = "; ".join(map(str, value))
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    return neutralize(str(value))


def export_csv(session: Session, actor: User | None, kind: Kind,
               filters: Mapping[str, Any] | None = None, sort: str = "-created_at",
               page_size: int = 200) -> Iterator[str]:
    """The CSV of every record ``actor`` sees that matches ``filters``, including
    custom fields, as an iterator of chunks (one per page). Bad filters raise
    here, before anything is streamed."""
    first = list_records(session, actor, kind, filters, sort, None, page_size)
    return _chunks(session, actor, kind, filters, sort, page_size, first)


def _chunks(session: Session, actor: User | None, kind: Kind,
            filters: Mapping[str, Any] | None, sort: str, page_size: int,
            page: Page) -> Iterator[str]:
    custom = [d.name for d in definitions(session, kind.record_type)]
    columns = COLUMNS[kind.record_type]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*columns, *(f"custom.{name}" for name in custom)])
    while True:
        for record in page.items:
            writer.writerow([_cell(getattr(record, c)) for c in columns]
                            + [_cell((record.custom or {}).get(n)) for n in custom])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if page.next_cursor is None:
            return
        page = list_records(session, actor, kind, filters, sort, page.next_cursor, page_size)
