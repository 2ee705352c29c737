"""Export of any filtered list as CSV, streamed page by page, or as an Excel
workbook (:mod:`crmcore.services.workbooks`).

Every cell is safe to open in a spreadsheet (:mod:`crmcore.services.cells`),
and the file imports back as it is: its columns are the import's, with stage
and owner by name, plus the columns the CRM keeps itself (id, score, dates),
which an import leaves out.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import IO, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from crmcore.errors import ValidationFailed
from crmcore.models import LeadStage, User
from crmcore.services import workbooks
from crmcore.services.cells import DELIMITERS, neutralize
from crmcore.services.custom_fields import definitions
from crmcore.services.records import Kind, Page, count_records, list_records

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


def _text(value: Any) -> str:
    """A value as the text of its cell: lists joined by ``; ``, dates in ISO."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(map(str, value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _cell(value: Any) -> str:
    # Most cells are text: checked first.
    return neutralize(value if type(value) is str else _text(value))


def _sheet_cell(value: Any) -> Any:
    # Numbers stay numbers in a workbook, whose text cells are never formulas.
    return value if value is None or type(value) in (int, float, str) else _text(value)


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
    pages = _pages(session, actor, kind, filters, sort, page_size)
    chunks = _csv_chunks(pages, DELIMITERS[delimiter])
    return itertools.chain(["\ufeff"], chunks) if byte_order_mark else chunks


def export_xlsx(session: Session, actor: User | None, kind: Kind, target: IO[bytes],
                filters: Mapping[str, Any] | None = None, sort: str = "-created_at",
                page_size: int = 200) -> None:
    """Write what :func:`export_csv` exports to ``target`` as an Excel workbook
    of one sheet. A workbook is whole only once written, so this returns when
    it is; memory stays flat all the same.

    :raises ValidationFailed: bad filters, or more records than a worksheet
        holds (:data:`~crmcore.services.workbooks.MAX_SHEET_ROWS`)."""
    # Counted first (as far as a sheet goes): a list of millions is refused
    # in a second, not once a million rows are written (minutes, longer than
    # a server gives a request). The pages read the same snapshot.
    if count_records(session, actor, kind, filters,
                     at_most=workbooks.MAX_SHEET_ROWS) >= workbooks.MAX_SHEET_ROWS:
        raise workbooks.too_many_rows()
    pages = _pages(session, actor, kind, filters, sort, page_size)
    header = next(pages)
    rows = ([_sheet_cell(v) for v in row] for page in pages for row in page)
    workbooks.write_sheet(target, f"{kind.record_type.capitalize()}s", header, rows)


def attributes(kind: Kind) -> list[str]:
    """The record attributes an export of ``kind`` reads."""
    return [BY_NAME[c][0] if c in BY_NAME else c for c in COLUMNS[kind.record_type]] + ["custom"]


def _pages(session: Session, actor: User | None, kind: Kind,
           filters: Mapping[str, Any] | None, sort: str, page_size: int
           ) -> Iterator[list[Any]]:
    """The header, then each page's rows of values. The first page is read, and
    so the filters checked, before this returns."""
    page = list_records(session, actor, kind, filters, sort, None, page_size, attributes(kind))
    custom = [d.name for d in definitions(session, kind.record_type)]
    columns = COLUMNS[kind.record_type]
    getters = [_by_name(session, *BY_NAME[c]) if c in BY_NAME else attrgetter(c)
               for c in columns]

    def pages(page: Page) -> Iterator[list[Any]]:
        yield [*columns, *(f"custom.{name}" for name in custom)]
        while True:
            yield [[get(record) for get in getters]
                   + [(record.custom or {}).get(n) for n in custom] for record in page.items]
            if page.next_cursor is None:
                return
            page = list_records(session, actor, kind, filters, sort, page.next_cursor,
                                page_size, attributes(kind))

    return pages(page)


def problems_csv(problems: Iterable[Sequence[Any]], page_size: int = 1000) -> Iterator[str]:
    """An import's problems, ``(row, column, message)`` each, as CSV chunks
    (a header, then a chunk a page), cells safe for spreadsheets: a message
    quotes the cell it is about."""
    rows = iter(problems)

    def page() -> list[Sequence[Any]]:
        return list(itertools.islice(rows, page_size))

    # The first page even when empty: it carries the header out.
    pages = itertools.chain([["row", "column", "problem"], page()], iter(page, []))
    return _csv_chunks(pages, ",")


def _csv_chunks(pages: Iterator[list[Any]], delimiter: str) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(next(pages))
    for rows in pages:
        writer.writerows([_cell(v) for v in row] for row in rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
