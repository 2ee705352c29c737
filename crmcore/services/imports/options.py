"""What an import is asked to do (:class:`ImportOptions`) and what it found
(:class:`Report`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crmcore.errors import ValidationFailed
from crmcore.services.cells import DELIMITERS

POLICIES = ("skip", "update", "report")


MATCHES = ("email", "id")

# What a blank cell of a mapped column does to a record a row updates.
BLANK_CELLS = ("keep", "clear")

MAX_KEPT_ERRORS = 1000


# Kept with a good row's values from the check to the write: the row's line in
# the file, for a problem the write finds (no field is named so).
ROW = "#row"
# Kept with them under ``blank_cells="clear"``: the fields the row's blank
# cells clear if it updates a record (input names: stage_id, custom.budget).
BLANK = "#blank"

BATCH = 2000


@dataclass
class ImportOptions:
    """How to read and apply a file.

    :param mapping: CSV header -> field name (``-`` ignores the column).
    :param columns: instead of ``mapping``, the field of each column by
        position (``-`` ignores it), as the import page's mapping step gives
        it: columns of the same name may go to different fields.
    :param on_duplicate: for rows whose email is already in the CRM (a
        record's first, or another address of one): ``skip`` them, ``update``
        the existing record (one the importing user may edit: a row naming
        another user's, or a binned one, or another address several such
        records hold, is a problem), or ``report`` them as errors.
    :param match_by: how rows find the records they are: ``email``, by their
        first email; or ``id``, by the column named ``id`` (an export's), so
        that they may change the record's first email too (not both its name
        and every email: such a row is someone else, a problem); rows with no
        id are matched by email.
    :param blank_cells: what a blank cell does to a record the row updates:
        ``keep`` its value, or ``clear`` it (as the API's update empties a
        field: text "", lists [], an owner or a custom field null), once
        every column filling that field is blank; a field the record must
        have (its name, a lead's stage, a required custom field, the first
        email) is a problem of the row. Columns not in the file clear
        nothing, and a created record is created as ever.
    :param skip_bad_rows: import the good rows even when some are bad.
    :param encoding: a CSV's text encoding (a workbook has none to give).
    :param sheet: the name of a workbook's sheet to read (its first not hidden if ``None``);
        a CSV given one is refused, having no sheets.
    :param delimiter: what separates a CSV's cells: ``comma``, ``semicolon``,
        ``tab``, or ``auto``: the one the header row holds most of (outside
        quotes), a comma if none.
    :param fields: when set, the only fields the file may fill; a column mapped
        to any other field is refused before anything is read. For plugins that
        import on someone's behalf (an advertiser may not choose the owner).
    :param defaults: values every created record gets, winning over the file's
        (``source``, ``tags``, ``plugin_data``); set by code, never from input.
    :param known_email_message: what a row whose email the CRM already holds is
        told under the ``report`` policy; by default it names the kind of record
        that holds it, which someone outside the company need not learn.
    :param dry_run: a job that only checks the file: it ends ``checked``, its
        counts saying what an import would create, update and skip.
    """

    mapping: dict[str, str] = field(default_factory=dict)
    columns: list[str] | None = None
    on_duplicate: str = "report"
    match_by: str = "email"
    blank_cells: str = "keep"
    skip_bad_rows: bool = False
    encoding: str = "utf-8-sig"
    delimiter: str = "auto"
    sheet: str | None = None
    batch_size: int = BATCH
    fields: list[str] | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    known_email_message: str | None = None
    dry_run: bool = False

    def check(self) -> None:
        errors = {}
        if self.on_duplicate not in POLICIES:
            errors["on_duplicate"] = [f"One of: {', '.join(POLICIES)}."]
        if self.match_by not in MATCHES:
            errors["match_by"] = [f"One of: {', '.join(MATCHES)}."]
        if self.blank_cells not in BLANK_CELLS:
            errors["blank_cells"] = [f"One of: {', '.join(BLANK_CELLS)}."]
        try:
            "".encode(self.encoding)
        except LookupError:
            errors["encoding"] = [f"Unknown encoding {self.encoding!r}."]
        if self.delimiter != "auto" and self.delimiter not in DELIMITERS:
            errors["delimiter"] = [f"One of: auto, {', '.join(DELIMITERS)}."]
        if self.sheet is not None and not (self.sheet.strip() and len(self.sheet) <= 31):
            errors["sheet"] = ["A sheet's name: 1 to 31 characters."]
        if not 1 <= self.batch_size <= 50_000:
            errors["batch_size"] = ["Between 1 and 50000."]
        if errors:
            raise ValidationFailed("Bad import options.", errors)


@dataclass
class Report:
    """What a check or an import found."""

    total_rows: int = 0
    to_create: int = 0
    to_update: int = 0
    to_leave: int = 0  # of ``to_update``, rows whose records hold their values already
    to_skip: int = 0
    error_count: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    # Where every problem goes, a batch at a time (a job's table), beside the
    # first MAX_KEPT_ERRORS kept in ``errors``.
    store: Callable[[list[tuple[int, str, str]]], None] | None = None
    unstored: list[tuple[int, str, str]] = field(default_factory=list)

    def add_error(self, row: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append((row, column, message))
        if self.store is not None:
            self.unstored.append((row, column, message))

    def flush(self) -> None:
        """Give ``store`` the problems found since it last had them."""
        if self.store is not None and self.unstored:
            self.store(self.unstored)
            self.unstored = []

