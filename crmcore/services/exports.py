"""CSV export of any filtered list, streamed page by page.

Every cell is safe to open in a spreadsheet (:mod:`crmcore.services.cells`),
and the file imports back as it is: its columns are the import's, with stage
and owner by name, plus the columns the CRM keeps itself (id, score, dates),
which an import leaves out.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterator, Mapping
from operator import attrgetter
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from crmcore.errors import ValidationFailed
from crmcore.models import LeadStage, User
from crmcore.services.cells import DELIMITERS, neutralize
from crmcore.services.custom_fields import definitions
from crmcore.services.records import Kind, Page, list_records

COLUMNS = {
    "lead": ("id", "full_name", "emails", "phones", "company", "login", "partner", "location",
             "source", "stage", "owner", "score", "tags", "last_contacted_at", "created_at"),
    "contact": ("id", "first_name", "last_name", "emails", "phones", "company", "street",
                "city", "postal_code", "country", "lifecycle_stage", "opt_outs", "owner",
                "tags", "created_at"),
}


# Stage and owner go out by the names an import reads back.
BY_NAME = {"stage": ("stage_id", select(LeadStage.id, LeadStage.name)),
           "owner": ("owner_id", select(User.id, User.email))}


def _by_name(session: Session, attr: str, names: Select[tuple[int, str]]
             ) -> Callable[[Any], str | None]:
    """What reads the name of the row ``attr`` points at (one query per export)."""
    table: dict[int, str] = dict(session.execute(names).all())  # type: ignore[arg-type]
    return lambda record: table.get(getattr(record, attr))


def _cell(value: Any) -> str:
    if type(value) is str:  # most cells: checked first
        return neutralize(value)
    if value is None:
        return ""
    if isinstance(value, list):
        value = "; ".join(map(str, value))
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    return neutralize(str(value))


def export_csv(session: Session, actor: User | None, kind: Kind,
               filters: Mapping[str, Any] | None = None, sort: str = "-created_at",
               page_size: int = 200, delimiter: str = "comma",
               byte_order_mark: bool = False) -> Iterator[str]:
    """The CSV of every record ``actor`` sees that matches ``filters``, including
    custom fields, as an iterator of chunks (one per page), its cells separated
    by ``delimiter`` (a name of :data:`DELIMITERS`). Bad filters or a bad
    delimiter raise here, before anything is streamed.

    :param byte_order_mark: start with U+FEFF, by which spreadsheets (Excel
        above all) know the text is UTF-8 rather than read accents in the
        system's code page. Programs reading the file may not expect it."""
    if delimiter not in DELIMITERS:
        raise ValidationFailed("Unknown delimiter.",
                               {"delimiter": [f"One of: {', '.join(DELIMITERS)}."]})
    first = list_records(session, actor, kind, filters, sort, None, page_size, attributes(kind))
    chunks = _chunks(session, actor, kind, filters, sort, page_size, first,
                     DELIMITERS[delimiter])
    return itertools.chain(["\ufeff"], chunks) if byte_order_mark else chunks


def attributes(kind: Kind) -> list[str]:
    """The record attributes an export of ``kind`` reads."""
    return [BY_NAME[c][0] if c in BY_NAME else c for c in COLUMNS[kind.record_type]] + ["custom"]


def _chunks(session: Session, actor: User | None, kind: Kind,
            filters: Mapping[str, Any] | None, sort: str, page_size: int,
            page: Page, delimiter: str) -> Iterator[str]:
    custom = [d.name for d in definitions(session, kind.record_type)]
    columns = COLUMNS[kind.record_type]
    getters = [_by_name(session, *BY_NAME[c]) if c in BY_NAME else attrgetter(c)
               for c in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow([*columns, *(f"custom.{name}" for name in custom)])
    while True:
        for record in page.items:
            writer.writerow([_cell(get(record)) for get in getters]
                            + [_cell((record.custom or {}).get(n)) for n in custom])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if page.next_cursor is None:
            return
        page = list_records(session, actor, kind, filters, sort, page.next_cursor, page_size,
                            attributes(kind))
