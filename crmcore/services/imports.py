"""Import of leads and contacts from CSV or Excel workbooks: validate
everything, then write in batches.

The file is streamed and worked on in batches, so memory stays flat whatever
its size:

1. **Check**: the encoding and header, every row through the fast validator
   (:mod:`crmcore.services.import_rows`), repeated addresses inside the file (a
   scratch SQLite table on disk remembers the addresses seen) and addresses
   already in the CRM. Problems are reported as (row, column, message). By
   default any problem stops the import before anything is written. Each
   batch's good rows, converted, are spooled to a scratch file.
2. **Write**: the spooled batches, each one transaction that inserts with
   batched Core statements, claims the key emails, announces one batch event
   to the plugins and records the job's progress (the file row the batch ends
   at). An interrupted import resumes after its last committed batch, reading
   the file again in the same batches, or is reverted.

A finished import can be reverted: records it created are deleted for good,
records it updated get their earlier values back.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import marshal
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crmcore import jsoncodec
from crmcore.auth.roles import can
from crmcore.db import any_of, emit, transaction, utcnow
from crmcore.errors import (
    Conflict,
    CrmError,
    Forbidden,
    NotFound,
    ValidationFailed,
    interrupted,
)
from crmcore.models import (
    EmailKey,
    ImportChange,
    ImportJob,
    ImportProblem,
    LeadStage,
    User,
)
from crmcore.services import records as rec
from crmcore.services.bulk import insert_rows
from crmcore.services.cells import DELIMITERS
from crmcore.services.custom_fields import definitions
from crmcore.services.import_rows import RECORD_ID, HeaderProblems, RowValidator, map_header
from crmcore.services.workbooks import is_workbook, sheet_rows

POLICIES = ("skip", "update", "report")
MATCHES = ("email", "id")
# What an import may change on an existing record, and so what revert restores.
REVERTIBLE = {"full_name", "first_name", "last_name", "emails", "phones", "company", "login",
              "partner", "location", "source", "stage_id", "owner_id", "tags", "street", "city",
              "postal_code", "country", "lifecycle_stage", "opt_outs", "custom"}
MAX_KEPT_ERRORS = 1000
# Kept with a good row's values from the check to the write: the row's line in
# the file, for a problem the write finds (no field is named so).
ROW = "#row"
# The encodings the import pages offer for a CSV, named as people know them.
ENCODINGS = (("utf-8-sig", "UTF-8 (also with BOM)"), ("latin-1", "Latin-1 (ISO 8859-1)"),
             ("cp1252", "Windows-1252"))
BATCH = 2000


@dataclass
class ImportOptions:
    """How to read and apply a file.

    :param mapping: CSV header -> field name (``-`` ignores the column).
    :param columns: instead of ``mapping``, the field of each column by
        position (``-`` ignores it), as the import page's mapping step gives
        it: columns of the same name may go to different fields.
    :param on_duplicate: for rows whose email is already in the CRM: ``skip``
        them, ``update`` the existing record (one the importing user may edit:
        a row naming another user's, or a binned one, is a problem), or
        ``report`` them as errors.
    :param match_by: how rows find the records they are: ``email``, by their
        first email; or ``id``, by the column named ``id`` (an export's), so
        that they may change the record's first email too; rows with no id are
        matched by email.
    :param skip_bad_rows: import the good rows even when some are bad.
    :param encoding: a CSV's text encoding (a workbook has none to give).
    :param sheet: the name of a workbook's sheet to read (its first if ``None``);
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


# -- reading -----------------------------------------------------------------------


def detect_delimiter(line: str) -> str:
    """The separator (a character) a header ``line`` uses: the one of
    :data:`DELIMITERS` it holds most of outside quoted names, a comma when it
    holds none (a file of one column)."""
    bare = re.sub(r'"[^"]*"?', "", line)
    counts = {char: bare.count(char) for char in DELIMITERS.values()}
    best = max(counts.values())
    return next((c for c, n in counts.items() if n == best), ",") if best else ","


def csv_rows(lines: Iterator[str], delimiter: str) -> Iterator[list[str]]:
    """A strict CSV reader over ``lines``, splitting on ``delimiter`` (a name of
    :data:`DELIMITERS`, or ``auto`` to take it from the first line)."""
    if delimiter == "auto":
        first = next(lines, "")
        char, lines = detect_delimiter(first), itertools.chain([first], lines)
    else:
        char = DELIMITERS[delimiter]
    return csv.reader(lines, delimiter=char, strict=True)


@contextmanager
def _open_rows(path: Path, options: ImportOptions
               ) -> Iterator[tuple[list[str], Iterator[list[str]]]]:
    """The header and an iterator over the data rows of a CSV or of a
    workbook's sheet (told apart by how the file starts; the encoding and
    delimiter apply to CSV only, the sheet to workbooks); problems with the file as a whole raise
    :class:`ValidationFailed` with a message naming them."""
    try:
        workbook = is_workbook(path)
        handle = None if workbook else open(  # noqa: SIM115
            path, encoding=options.encoding, errors="strict", newline="")
    except OSError as exc:
        raise ValidationFailed(f"Cannot read {path.name}: {exc.strerror}.",
                               {"file": [str(exc.strerror)]}) from None
    if handle is None:
        with sheet_rows(path, options.sheet) as (names, read, header, rows):
            try:
                yield header, rows
            except ValidationFailed as exc:
                if len(names) == 1 or "file" not in exc.errors:
                    raise
                # A first sheet of notes or totals is a likely cause: say which was read.
                others = ", ".join(f"“{name}”" for name in names if name != read)
                note = f" (Read from the sheet “{read}”; the workbook also has {others}.)"
                raise ValidationFailed(exc.detail + note, {
                    "file": [f"{m}{note}" for m in exc.errors["file"]]}) from None
        return
    if options.sheet is not None:
        handle.close()
        message = (f"The file is read as CSV, which has no sheets: the sheet "
                   f"“{options.sheet}” can be chosen only in an Excel workbook (.xlsx).")
        raise ValidationFailed(message, {"sheet": [message]})
    encoding = options.encoding
    with handle:
        # Strict: a stray or unclosed quote is reported with its line, instead
        # of being read as text that swallows the columns (or rows) after it.
        try:
            reader = csv_rows(_readable(handle, encoding), options.delimiter)
            header = next(reader, None)
        except csv.Error as exc:
            raise _file_error(exc, 1, encoding) from None
        except UnicodeError:  # UTF-16 without a BOM raises the base class
            raise _undecodable(path, encoding) from None
        if not header or not any(h.strip() for h in header):
            raise ValidationFailed("The file is empty or its first row (the header) is blank.",
                                   {"file": ["No header row."]})

        def rows() -> Iterator[list[str]]:
            # The line a record starts on: an unclosed quote fails only at the
            # end of the file, and the line to fix is where it opened.
            start = reader.line_num + 1
            try:
                for row in reader:
                    yield row
                    start = reader.line_num + 1
            except csv.Error as exc:
                raise _file_error(exc, start, encoding) from None
            except UnicodeError:
                raise _undecodable(path, encoding) from None

        yield header, rows()


def _readable(lines: Iterable[str], encoding: str) -> Iterator[str]:
    """The lines, refusing the file at the first holding NUL or, read as
    Latin-1, a control character (:func:`misread_as_latin1`)."""
    for number, line in enumerate(lines, start=1):
        message = (nul_in_file(number) if "\x00" in line
                   else misread_as_latin1(line, number, encoding))
        if message:
            raise ValidationFailed(message, {"file": [message]})
        yield line


# Latin-1 reads any byte; Windows-1252 text read so gives these control
# characters (U+0080 to U+009F) for its quotes, dashes and euro sign.
_C1_CONTROL = re.compile("[\x80-\x9f]")


def misread_as_latin1(line: str, number: int, encoding: str) -> str | None:
    """Why ``line`` (the file's line ``number``) cannot be Latin-1 text, if
    read so, or ``None``."""
    found = _C1_CONTROL.search(line) if encoding == "latin-1" else None
    if found is None:
        return None
    return (f"The file is not Latin-1 text (line {number}): it holds the control character "
            f"U+{ord(found.group()):04X} where Windows-1252 text has its quotes, dashes or "
            "euro sign; choose Windows-1252.")


def nul_in_file(line: int) -> str:
    """Why a file holding NUL, which no column stores, is refused: most often it
    is UTF-16 read in a one-byte encoding."""
    return (f"The file is not valid CSV (line {line}): it contains the NUL character "
            "(U+0000). A file saved as UTF-16 has one in every other character: "
            "save it as UTF-8.")


def _undecodable(path: Path, encoding: str) -> ValidationFailed:
    """The error naming the first line that does not decode. The file is
    decoded in large blocks, which say only where the block starts; only a
    broken file is read again, line by line, to find the line."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    number, raw = 0, b""
    with open(path, "rb") as handle:
        try:
            for number, raw in enumerate(handle, start=1):  # noqa: B007
                decoder.decode(raw)
        except UnicodeError as exc:
            return _file_error(exc, number, encoding)
    try:
        # The last line ends inside a character: decoded alone, it says where.
        raw.decode(encoding)
        decoder.decode(b"", final=True)
    except UnicodeError as exc:
        return _file_error(exc, number, encoding)
    return ValidationFailed(f"The file is not valid {encoding_label(encoding)} text.",
                            {"file": [f"Not valid {encoding_label(encoding)} text."]})


def encoding_label(encoding: str) -> str:
    """An encoding's name as people know it ("UTF-8", not "utf-8-sig")."""
    return dict(ENCODINGS).get(encoding, encoding)


def _file_error(exc: Exception, row: int, encoding: str) -> ValidationFailed:
    if isinstance(exc, UnicodeDecodeError):
        message = (f"The file is not valid {encoding_label(encoding)} text (line {row}, "
                   f"byte {exc.start + 1}); give the encoding it was saved in, or save it "
                   "as UTF-8.")
    elif isinstance(exc, UnicodeError):
        message = (f"The file is not valid {encoding_label(encoding)} text (line {row}): "
                   f"{exc}; give the encoding it was saved in, or save it as UTF-8.")
    else:
        reason = str(exc)
        if "unexpected end of data" in reason:
            reason = "a quoted cell is never closed"
        elif "field larger than field limit" in reason:
            reason = (f"a cell holds more than {csv.field_size_limit():,} characters, more "
                      "than any field takes (is a quote left open, swallowing the rows "
                      "after it?)")
        message = f"The file is not valid CSV (line {row}): {reason}."
    return ValidationFailed(message, {"file": [message]})


def _batches(rows: Iterator[list[str]], size: int) -> Iterator[list[tuple[int, list[str]]]]:
    numbered = ((n, row) for n, row in enumerate(rows, start=2) if "".join(row).strip())
    while batch := list(itertools.islice(numbered, size)):
        yield batch


# -- the check -------------------------------------------------------------------------


class _Scratch:
    """Disk, not memory, for what the check learns: the addresses met so far in
    the file (and, matching by id, the records, as ``#id``: an address always
    holds an ``@``), and each batch's good rows, converted, so that the write
    does not validate them again."""

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(suffix=".sqlite3", prefix="crm-import-")
        os.close(fd)
        self.db = sqlite3.connect(path)
        # Gone from the directory at once: SQLite keeps working on the open
        # file (it has no journal to open beside it), and a killed process
        # leaves nothing in the temporary directory.
        os.unlink(path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE seen (email TEXT PRIMARY KEY, row INTEGER) WITHOUT ROWID")
        # Written and read once, in order: a plain file without a name, which
        # lives as long as this object (close() closes it).
        self.spool = tempfile.TemporaryFile(prefix="crm-import-")  # noqa: SIM115
        # The file's column of each field a problem found by the write is
        # about (the check knows the header).
        self.columns: dict[str, str] = {}

    def keep(self, last_row: int, rows_through: int, values: list[dict[str, Any]]) -> None:
        """Spool a batch of good rows; ``last_row`` is the file row the batch
        ends at, as the write records it for a resume, and ``rows_through`` the
        data rows read up to there, for the progress."""
        # marshal, several times faster than JSON for these plain values; the
        # file is this process's own and dies with it. Each batch is one
        # length-prefixed block: marshal.load() on a file reads item by item.
        block = marshal.dumps((last_row, rows_through, values))
        self.spool.write(len(block).to_bytes(8, "little") + block)

    def good_batches(self) -> Iterator[tuple[int, int, list[dict[str, Any]]]]:
        """``(last row, rows through, values)`` per batch, in file order."""
        self.spool.seek(0)
        while size := self.spool.read(8):
            yield marshal.loads(self.spool.read(int.from_bytes(size, "little")))  # noqa: S302

    def first_rows(self, keys: Sequence[str]) -> dict[str, int]:
        return dict(self.db.execute(
            "SELECT email, row FROM seen WHERE email IN (SELECT value FROM json_each(?))",
            (jsoncodec.dumps(list(keys)),)))

    def add(self, pairs: Sequence[tuple[str, int]]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", pairs)

    def close(self) -> None:
        self.db.close()
        self.spool.close()


def _validator(session: Session, actor: User | None, kind: rec.Kind,
               header: list[str], options: ImportOptions) -> RowValidator:
    _refuse_external(session, actor)
    custom = definitions(session, kind.record_type)
    try:
        columns = map_header(kind.record_type, header, options.mapping, [d.name for d in custom],
                             by_id=options.match_by == "id", chosen=options.columns)
    except HeaderProblems as exc:
        # The mapping's problems under the option that gave it: by name or by position.
        given = "mapping" if options.columns is None else "columns"
        raise ValidationFailed(f"The header does not fit: {exc}", {
            given if cause == "mapping" else cause: problems
            for cause, problems in exc.by_cause.items()}) from None
    if options.fields is not None:
        refused = [c.header for c in columns
                   if not set(c.fills(kind.record_type)) <= set(options.fields)]
        if refused:
            message = f"These columns cannot be imported here: {', '.join(refused)}."
            raise ValidationFailed(f"The header does not fit: {message}", {"file": [message]})
    may_set_owner = can(session, actor, "records.reassign")
    # Anyone may name themselves, as the export of their own records does.
    owners = {email.lower(): user_id for user_id, email in session.execute(
        select(User.id, User.email).where(User.is_active.is_(True)))
        if may_set_owner or (actor is not None and user_id == actor.id)}
    stages = {n.lower(): i for i, n in session.execute(select(LeadStage.id, LeadStage.name))}
    # A mapping by name cannot reach a column with no name; one by position
    # (the import page's) maps it or ignores it, as asked.
    unnamed = ([i for i, name in enumerate(header) if not name.strip()]
               if options.columns is None else [])
    return RowValidator(kind.record_type, columns, custom, owners, stages, may_set_owner,
                        header_width=len(header), unnamed=unnamed)


def _refuse_external(session: Session, actor: User | None) -> None:
    """External users (an advertiser, a partner) create no core record as
    themselves: their plugin imports on their behalf (as the system)."""
    if rec.is_external(session, actor):
        raise Forbidden("External users import through their portal, not as themselves.")


@dataclass(frozen=True)
class _Holder:
    """The record an email already belongs to."""

    record_type: str
    record_id: int
    editable: bool  # of the kind imported, and one the importing user may update


def _existing(session: Session, actor: User | None, kind: rec.Kind, options: ImportOptions,
              emails: Sequence[str]) -> dict[str, _Holder]:
    if not emails:
        return {}
    found = session.execute(select(EmailKey.email, EmailKey.record_type, EmailKey.record_id)
                            .where(any_of(session, EmailKey.email, emails))).all()
    editable = _editable(session, actor, kind, [i for _, t, i in found if t == kind.record_type]
                         if options.on_duplicate == "update" else [])
    return {email: _Holder(t, i, t == kind.record_type and i in editable)
            for email, t, i in found}


def _editable(session: Session, actor: User | None, kind: rec.Kind,
              ids: Sequence[int]) -> set[int]:
    """The ``ids`` of records an import by ``actor`` may update: by the records'
    own rule, live ones, not anonymized (:func:`records.update`'s rule), and
    only one's own without records.view_all."""
    if not ids:
        return set()
    model = kind.model
    return set(session.scalars(rec.visible(session, actor, kind).with_only_columns(model.id)
                               .where(any_of(session, model.id, ids),
                                      model.anonymized_at.is_(None))))


def _moving(rows: Iterable[Mapping[str, Any]], editable: set[int]) -> dict[int, str]:
    """The first email each record named by id in a batch's ``rows`` gets:
    within a batch, records may trade addresses (the write releases every old
    key of a batch before it claims the new ones)."""
    return {values[RECORD_ID]: values["emails"][0] for values in rows
            if values.get(RECORD_ID) in editable and values.get("emails")}


def _classify(kind: rec.Kind, options: ImportOptions, values: Mapping[str, Any],
              existing: Mapping[str, _Holder], editable: set[int],
              moving: Mapping[int, str]) -> tuple[str, int | None, str, str]:
    """``(action, record_id, message, field)`` of a good row: create, update,
    skip, or an error about ``field`` (the row's ``emails`` or ``id``).
    ``editable``: of the ids rows name, those the import may update;
    ``moving``: the new first emails of the batch's records (:func:`_moving`)."""
    email = values["emails"][0] if values.get("emails") else None
    holder = existing.get(email) if email else None
    record_id = values.get(RECORD_ID)
    if record_id is not None:
        if record_id not in editable:
            return "error", None, (
                f"No {kind.record_type} #{record_id} that you may update (another user's, "
                f"one in the recycle bin, an anonymized one, or none at all): leave the id "
                f"empty to add the row as a new {kind.record_type}."), RECORD_ID
        released = (holder is not None and holder.record_type == kind.record_type
                    and moving.get(holder.record_id, email) != email)
        if holder and (holder.record_type, holder.record_id) != (kind.record_type, record_id) \
                and not released:
            return "error", None, (f"The email {email} already belongs to another lead or "
                                   "contact."), "emails"
        if options.on_duplicate == "report":
            return "error", None, (f"The {kind.record_type} #{record_id} is already in the "
                                   "CRM."), RECORD_ID
        holder = _Holder(kind.record_type, record_id, editable=True)
    if holder is None:
        return "create", None, "", ""
    if options.on_duplicate == "skip":
        return "skip", None, "", ""
    if options.on_duplicate == "update" and holder.record_type == kind.record_type:
        if holder.editable:
            return "update", holder.record_id, "", ""
        return "error", None, (f"The email {email} belongs to a {holder.record_type} you may "
                               "not update: another user's, or one in the recycle bin."), "emails"
    return "error", None, (options.known_email_message or f"The email {email} already "
                           f"belongs to a {holder.record_type} in the CRM."), "emails"


def check(session: Session, actor: User | None, kind: rec.Kind, path: Path,
          options: ImportOptions, progress: Callable[[int], None] | None = None,
          scratch: _Scratch | None = None,
          store: Callable[[list[tuple[int, str, str]]], None] | None = None) -> Report:
    """Read the whole file and report what an import would do and every problem.
    With ``scratch``, the good rows are kept there for the write; without (a
    dry run), the rows that would update records are compared with them too,
    to say how many would change nothing. ``store`` is given every problem
    found, batch by batch."""
    options.check()
    report = Report(store=store)
    seen = scratch or _Scratch()
    by_id = options.match_by == "id"
    try:
        with _open_rows(path, options) as (header, rows):
            validator = _validator(session, actor, kind, header, options)
            seen.columns = {field: _column(validator, field) for field in ("emails", RECORD_ID)}
            for batch in _batches(rows, options.batch_size):
                converted = [(n, *validator.convert(row)) for n, row in batch]
                emails = [v["emails"][0] for _, v, _ in converted if v.get("emails")]
                existing = _existing(session, actor, kind, options, emails)
                editable = _editable(session, actor, kind, [
                    v[RECORD_ID] for _, v, _ in converted if RECORD_ID in v])
                moving = _moving((v for _, v, problems in converted if not problems), editable)
                # Matching by id, a record may be named twice: by id, and by email.
                records = [f"#{i}" for i in (*editable, *(h.record_id for h in existing.values()
                                                          if h.editable))] if by_id else []
                earlier = seen.first_rows([*emails, *records])
                fresh: list[tuple[str, int]] = []
                good: list[dict[str, Any]] = []
                updates: list[tuple[int, dict[str, Any]]] = []
                actions = dict.fromkeys(("create", "update", "skip"), 0)
                for number, values, problems in converted:
                    for column, message in problems:
                        report.add_error(number, column, message)
                    email = values["emails"][0] if values.get("emails") else None
                    if email:
                        if email in earlier:
                            report.add_error(number, _column(validator, "emails"),
                                             f"The email {email} repeats row {earlier[email]}.")
                            continue
                        earlier[email] = number
                        fresh.append((email, number))
                    if problems:
                        continue
                    action, record_id, message, about = _classify(kind, options, values,
                                                                  existing, editable, moving)
                    if action == "error":
                        report.add_error(number, _column(validator, about), message)
                        continue
                    if action == "update" and by_id:
                        key = f"#{record_id}"
                        if key in earlier:
                            report.add_error(number, _column(validator, RECORD_ID), (
                                f"Row {earlier[key]} updates this {kind.record_type} "
                                f"(#{record_id}) already."))
                            continue
                        earlier[key] = number
                        fresh.append((key, number))
                    actions[action] += 1
                    if action == "update" and scratch is None:
                        updates.append((record_id, {k: v for k, v in values.items()  # type: ignore[arg-type]
                                                    if k != RECORD_ID}))
                    values[ROW] = number
                    good.append(values)
                report.total_rows += len(converted)
                report.to_create += actions["create"]
                report.to_update += actions["update"]
                report.to_leave += rec.count_unchanged(session, kind, updates, rekey=by_id)
                report.to_skip += actions["skip"]
                seen.add(fresh)
                report.flush()
                if scratch:
                    scratch.keep(batch[-1][0], report.total_rows, good)
                if progress:
                    progress(report.total_rows)
    finally:
        if scratch is None:
            seen.close()
    return report


def _column(validator: RowValidator, field: str) -> str:
    """The header of the (first) column filling ``field``, for a problem's column."""
    return next((c.header for c in validator.columns if c.field == field), field)


# -- the write ---------------------------------------------------------------------------


def start(session: Session, actor: User | None, kind: rec.Kind, path: Path, filename: str,
          options: ImportOptions) -> ImportJob:
    """Register an import job for a file already stored at ``path``."""
    _refuse_external(session, actor)
    options.check()
    job = ImportJob(record_type=kind.record_type, filename=filename[:255], path=str(path),
                    file_stamp=file_stamp(path), options=options.__dict__.copy(),
                    status="queued", created_by=actor.id if actor else None)
    session.add(job)
    session.flush()
    return job


def file_stamp(path: Path) -> str | None:
    """The file's size and modification time (ns), as make and rsync tell a
    changed file; None when it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def import_checked(session: Session, actor: User | None, job_id: int, *,
                   skip_bad_rows: bool = False) -> ImportJob:
    """A new import job for the file a dry run checked, with its options (and
    ``skip_bad_rows``, to leave out the rows it found bad), so that a large
    file need not be uploaded again. The caller commits, then dispatches it.

    A dry run starts one import: a second would create its records again.
    Its row stays locked until the caller commits, so that of two requests at
    once the second waits, then finds the first one's import."""
    checked = get_job(session, actor, job_id, lock=True)
    if checked.status != "checked":
        raise Conflict(f"Import #{checked.id} is not a finished dry run.")
    if (started := started_import(session, checked)) is not None:
        raise Conflict(f"Dry run #{checked.id} was imported already, as import #{started.id} "
                       f"({started.status}); importing it again would add its rows twice.")
    if not Path(checked.path).is_file():
        raise Conflict(f"The file of dry run #{checked.id} is gone; upload it again.")
    options = ImportOptions(**{**checked.options, "dry_run": False})
    options.skip_bad_rows = options.skip_bad_rows or skip_bad_rows
    job = start(session, actor, rec.KINDS[checked.record_type], Path(checked.path),
                checked.filename, options)
    checked.started_import_id = job.id
    return job


def started_import(session: Session, checked: ImportJob) -> ImportJob | None:
    """The import a dry run started, unless it was refused (``invalid``: it
    wrote nothing, so the file may be imported again, skipping bad rows)."""
    if checked.started_import_id is None:
        return None
    started = session.get(ImportJob, checked.started_import_id)
    return started if started is not None and started.status != "invalid" else None


def get_job(session: Session, actor: User | None, job_id: int, *,
            lock: bool = False) -> ImportJob:
    """The job ``actor`` may see; ``lock``: locked until the transaction ends,
    and read afresh, for a change that depends on its status."""
    job = session.get(ImportJob, job_id, with_for_update=lock,
                      populate_existing=lock)
    if job is None or not (actor is None or job.created_by == actor.id
                           or can(session, actor, "records.view_all")):
        raise NotFound("No such import.")
    return job


@dataclass(frozen=True)
class JobPage:
    """A page of imports, newest first; ``older`` is the ``before`` of the next
    page, None on the last."""

    jobs: list[ImportJob]
    older: int | None


def list_jobs(session: Session, actor: User | None, limit: int = 50,
              before: int | None = None) -> JobPage:
    """The jobs ``actor`` may see, newest first; ``before`` an id, for the next page."""
    query = select(ImportJob).order_by(ImportJob.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(ImportJob.id < before)
    if actor is not None and not can(session, actor, "records.view_all"):
        query = query.where(ImportJob.created_by == actor.id)
    found = list(session.scalars(query))
    return JobPage(found[:limit], found[limit - 1].id if len(found) > limit else None)


def run(sessions: sessionmaker[Session], job_id: int,
        progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Check the job's file, then write it batch by batch (or resume after the
    last committed batch). Returns the job as it ended.

    The check only reads: it holds no write lock (SQLite has one for the whole
    database), so the CRM stays usable while a large file is checked, and the
    job shows ``validating`` with the rows read so far."""
    with transaction(sessions) as session:
        claimed, job = _claim(session, job_id, "queued", "validating", "Checking the file.")
        resuming = not claimed and _claim(session, job_id, "resume_queued", "running",
                                          "Resuming: checking the file again.")[0]
        if not (claimed or resuming):
            raise Conflict(f"Import #{job.id} is {job.status}; nothing to run.")
        options = ImportOptions(**job.options)
    scratch = _Scratch() if claimed and not options.dry_run else None
    try:
        if claimed and (ended := _validate(sessions, job_id, options, scratch, progress)):
            return ended
        scratch = scratch or _recheck(sessions, job_id, options)
        _write(sessions, job_id, progress, scratch)
    except BaseException as exc:
        # Also when the process is asked to stop (Ctrl-C, a worker's SIGTERM):
        # the batch in flight rolled back, and the job may go on at once
        # rather than once it looks stalled.
        with transaction(sessions) as session:
            job = session.get(ImportJob, job_id)
            if job.status == "validating" and interrupted(exc):
                # Nothing written: a resume checks the file again, at once.
                job.progress_at = None
                job.message = "The check stopped: its process was stopped. Resume it."
            elif job.status == "validating":  # nothing written: nothing to resume or revert
                _refused(job, ValidationFailed(
                    f"The check stopped: {stopped_by(exc)}. Import the file again."))
            else:
                job.status = "failed"
                job.message = (f"Stopped after {job.rows_done} rows: {stopped_by(exc)}. "
                               + ("Resume it or revert it." if Path(job.path).exists()
                                  else "Its file is gone: revert it."))
        raise
    finally:
        if scratch:
            scratch.close()
    with sessions() as session:
        return session.get(ImportJob, job_id)  # type: ignore[return-value]


def stopped_by(exc: BaseException) -> str:
    """Why work stopped, for a job's message: a refusal's own words, else the
    error's type and text."""
    if interrupted(exc):
        return "its process was stopped"
    if isinstance(exc, CrmError):
        return exc.detail.rstrip(".")
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        # The driver's words, without the statement SQLAlchemy adds.
        exc = exc.orig
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}".rstrip(".")


HEARTBEAT_SECONDS = 5.0


def _validate(sessions: sessionmaker[Session], job_id: int, options: ImportOptions,
              scratch: _Scratch | None, progress: Callable[[ImportJob], None] | None
              ) -> ImportJob | None:
    """The check of a claimed job, in a session that only reads. Returns the job
    if it ended there (invalid, or checked for a dry run), else ``None`` with
    the job ``running`` and the good rows kept in ``scratch``. ``progress``
    hears of the rows read every few seconds."""
    refused = None
    with transaction(sessions) as session:
        # What a check stopped half-way found; this one finds it again.
        session.execute(delete(ImportProblem).where(ImportProblem.import_id == job_id))
        session.execute(update(ImportJob).where(ImportJob.id == job_id).values(error_count=0))
    with sessions() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        actor = session.get(User, job.created_by) if job.created_by else None
        kind, path = rec.KINDS[job.record_type], Path(job.path)
        try:
            report = check(session, actor, kind, path, options,
                           progress=_heartbeat(sessions, job_id, progress), scratch=scratch,
                           store=_problem_store(sessions, job_id))
        except ValidationFailed as exc:
            refused = exc
    with transaction(sessions) as session:
        job = session.get(ImportJob, job_id, with_for_update=True)
        assert job is not None
        if refused is not None:
            return _refused(job, refused)
        job.total_rows, job.error_count = report.total_rows, report.error_count
        job.errors = [list(e) for e in report.errors]
        if options.dry_run:
            return _checked(job, report)
        if report.error_count and not options.skip_bad_rows:
            job.status, job.finished_at = "invalid", utcnow()
            job.message = (f"{report.error_count} problem(s) found; nothing was imported. "
                           "Fix the rows, or import again skipping bad rows to leave them out.")
            return job
        job.status, job.progress_at = "running", utcnow()
        return None


def _problem_store(sessions: sessionmaker[Session], job_id: int
                   ) -> Callable[[list[tuple[int, str, str]]], None]:
    """Keep a check's problems with its job, each batch's in a short write
    transaction of its own (the check itself only reads), and count them on
    the job as they are found: a long check, or one stopped half-way, shows
    how many so far."""
    def store(problems: list[tuple[int, str, str]]) -> None:
        with transaction(sessions) as session:
            _keep_problems(session, job_id, problems)
            session.execute(update(ImportJob).where(ImportJob.id == job_id).values(
                error_count=ImportJob.error_count + len(problems)))

    return store


def _keep_problems(session: Session, job_id: int, problems: Sequence[Sequence[Any]]) -> None:
    insert_rows(session.connection(), ImportProblem.__table__,
                [{"row": row, "column_name": column, "message": message}
                 for row, column, message in problems], {"import_id": job_id})


def problems(session: Session, actor: User | None, job_id: int,
             page_size: int = 5000) -> Iterator[tuple[int, str, str]]:
    """Every problem of an import ``actor`` may see, in the order found:
    ``(row, column, message)``. A file refused whole has its one problem (row
    0); jobs from before every problem was kept give the ones they kept.

    :raises NotFound: before anything is read, like :func:`get_job`."""
    job = get_job(session, actor, job_id)
    kept = [tuple(e) for e in job.errors or []]
    page = (select(ImportProblem.id, ImportProblem.row, ImportProblem.column_name,
                   ImportProblem.message)
            .where(ImportProblem.import_id == job_id).order_by(ImportProblem.id)
            .limit(page_size))

    def read() -> Iterator[tuple[int, str, str]]:
        last, found = 0, False
        while rows := session.execute(page.where(ImportProblem.id > last)).all():
            found = True
            yield from ((row, column, message) for _, row, column, message in rows)
            last = rows[-1][0]
        if not found:
            yield from kept  # type: ignore[misc]

    return read()


def _heartbeat(sessions: sessionmaker[Session], job_id: int,
               progress: Callable[[ImportJob], None] | None = None, *, counting: bool = True
               ) -> Callable[[int], None]:
    """A check's progress callback: every few seconds a sign of life (so that
    a check whose process died is seen as stalled) and, ``counting``, the rows
    read so far as the job's total, which ``progress`` then hears of."""
    last = time.monotonic()

    def beat(rows: int) -> None:
        nonlocal last
        if time.monotonic() - last < HEARTBEAT_SECONDS:
            return
        with transaction(sessions) as session:
            session.execute(update(ImportJob).where(ImportJob.id == job_id).values(
                progress_at=utcnow(), **({"total_rows": rows} if counting else {})))
            job = session.get(ImportJob, job_id)
        if progress and counting:
            progress(job)
        last = time.monotonic()

    return beat


def _recheck(sessions: sessionmaker[Session], job_id: int, options: ImportOptions
             ) -> _Scratch:
    """A resume's good rows: the file checked again as the first check did it
    (whose rows went with its process), so that the rows it left out (a bad
    one, one repeating an earlier row's email) stay out, and the rows written
    before the stop are found again, as the file's own, not as records in the
    CRM. The job's problems stay as the first check reported them."""
    scratch = _Scratch()
    try:
        with sessions() as session:
            job = session.get(ImportJob, job_id)
            assert job is not None
            actor = session.get(User, job.created_by) if job.created_by else None
            check(session, actor, rec.KINDS[job.record_type], Path(job.path), options,
                  progress=_heartbeat(sessions, job_id, counting=False), scratch=scratch)
    except BaseException:
        scratch.close()
        raise
    return scratch


def _refused(job: ImportJob, exc: ValidationFailed) -> ImportJob:
    """End a job whose file as a whole cannot be read (encoding, CSV, sheet, header)."""
    job.status, job.message, job.finished_at = "invalid", exc.detail, utcnow()
    job.errors, job.error_count = [[0, next(iter(exc.errors), "file"), exc.detail]], 1
    return job


def _checked(job: ImportJob, report: Report) -> ImportJob:
    """End a dry run: its counts say what an import would do."""
    job.status, job.finished_at = "checked", utcnow()
    job.created_count, job.skipped_count = report.to_create, report.to_skip
    job.updated_count = report.to_update - report.to_leave
    job.unchanged_count = report.to_leave
    job.message = (f"Checked {report.total_rows} row(s): an import would "
                   f"{would_do(report)}; {report.error_count} problem(s). Nothing was written.")
    return job


def would_do(report: Report) -> str:
    """What a dry run found an import would do: "create 2, update 1, leave 3
    unchanged and skip 0"."""
    unchanged = f", leave {report.to_leave} unchanged" if report.to_leave else ""
    return (f"create {report.to_create}, update {report.to_update - report.to_leave}"
            f"{unchanged} and skip {report.to_skip}")


def check_file(session: Session, actor: User | None, kind: rec.Kind, path: Path,
               options: ImportOptions) -> None:
    """Refuse, before any job is made, options that do not hold and a file whose
    encoding, CSV or header does not fit (:class:`ValidationFailed` names the
    problem under ``file`` or the option: a header's problems that the mapping
    makes under ``mapping``, or ``columns`` if given). Reads only the start of
    the file."""
    options.check()
    with _open_rows(path, options) as (header, _rows):
        _validator(session, actor, kind, header, options)


def _claim(session: Session, job_id: int, waiting: str, working: str, message: str
           ) -> tuple[bool, ImportJob]:
    """Move a job from ``waiting`` to ``working`` with one conditional UPDATE,
    so that two workers (or a worker and a web process) never run the same
    work. Returns whether this call claimed it, and the job."""
    claimed = session.execute(update(ImportJob).where(
        ImportJob.id == job_id, ImportJob.status == waiting)
        .values(status=working, message=message, progress_at=utcnow())).rowcount == 1
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound("No such import.")
    return claimed, job


UPLOADS = Path("uploads") / "imports"
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
# Jobs that may still read their file: waiting, running, or resumable.
LIVE_STATES = ("queued", "validating", "running", "failed", "resume_queued")


def uploads_dir(instance: Path) -> Path:
    """Where the web UI keeps uploaded CSV files, inside the instance folder."""
    return instance / UPLOADS


def max_upload_bytes(config: Mapping[str, Any]) -> int:
    """The largest CSV file an import takes over HTTP: ``IMPORT_MAX_BYTES`` (200 MB
    unless set) or Flask's ``MAX_CONTENT_LENGTH``, whichever is smaller."""
    limits = [int(config.get("IMPORT_MAX_BYTES") or DEFAULT_MAX_BYTES)]
    if config.get("MAX_CONTENT_LENGTH"):
        limits.append(int(config["MAX_CONTENT_LENGTH"]))
    return min(limits)


def clean_uploads(sessions: sessionmaker[Session], instance: Path, days: float) -> list[Path]:
    """Delete uploaded files older than ``days`` that no live job still needs
    (files of finished, reverted or refused imports, and uploads never
    imported). Files outside the uploads folder, such as those given to
    ``crm leads import``, are never touched."""
    folder = uploads_dir(instance)
    if not folder.is_dir():
        return []
    with sessions() as session:
        needed = set(session.scalars(select(ImportJob.path)
                                     .where(ImportJob.status.in_(LIVE_STATES))))
    cutoff = time.time() - days * 86400
    removed = []
    for path in folder.glob("*.csv"):
        if str(path) not in needed and str(path.resolve()) not in needed \
                and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def next_queued(sessions: sessionmaker[Session]) -> tuple[int, str] | None:
    """The oldest job waiting for a worker, if any, as ``(id, status)``: the
    status says whether it waits to be imported (``queued``, or ``resume_queued``
    to continue) or reverted (``revert_queued``)."""
    with sessions() as session:
        row = session.execute(select(ImportJob.id, ImportJob.status)
                              .where(ImportJob.status.in_(
                                  ("queued", "resume_queued", "revert_queued")))
                              .order_by(ImportJob.id).limit(1)).first()
        return (row.id, row.status) if row else None


def _write(sessions: sessionmaker[Session], job_id: int,
           progress: Callable[[ImportJob], None] | None, scratch: _Scratch) -> None:
    with sessions() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        options = ImportOptions(**job.options)
        kind = rec.KINDS[job.record_type]
        actor_id, done_rows = job.created_by, job.processed_rows
        actor = session.get(User, actor_id) if actor_id else None
        checked_errors = job.error_count
    for last_row, rows_through, values in scratch.good_batches():
        if last_row <= done_rows:
            continue  # committed before an interruption
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with transaction(sessions) as session:
                    _one_batch_at_a_time(session)
                    job = session.get(ImportJob, job_id, with_for_update=True)
                    actor = session.get(User, actor_id) if actor_id else None
                    # A copy: writing a batch fills in its rows.
                    _write_batch(session, actor, kind, job, [dict(v) for v in values], options,
                                 scratch.columns)
                    job.processed_rows, job.rows_done = last_row, rows_through
                    job.progress_at, job.message = utcnow(), "Writing the checked rows."
                break
            except IntegrityError:
                # A user saved a record with one of the batch's emails after
                # the batch looked them up (PostgreSQL lets writers overlap).
                # Written again, the batch finds it, and skips, updates or
                # reports that row as asked.
                if attempt == WRITE_ATTEMPTS:
                    raise
        if progress:
            progress(job)
    with transaction(sessions) as session:
        # Fresh statistics, so that lists keep walking their sort indexes.
        session.execute(text(f"ANALYZE {kind.model.__tablename__}"))
        job = session.get(ImportJob, job_id)
        job.status, job.finished_at = "done", utcnow()
        # Every row was either written, found unchanged, skipped as a
        # duplicate or bad; a bad row may hold several problems.
        bad = (job.total_rows - job.created_count - job.updated_count - job.unchanged_count
               - job.skipped_count)
        unchanged = f"unchanged {job.unchanged_count}, " if job.unchanged_count else ""
        job.message = (f"Created {job.created_count}, updated {job.updated_count}, "
                       f"{unchanged}skipped {job.skipped_count}, left out {bad} bad row(s).")
        if job.error_count > checked_errors:
            job.message += (f" {job.error_count - checked_errors} of them were good when "
                            "checked, not when written: records were added or deleted "
                            "meanwhile (their problems say which).")


# Tries of a batch that collided with records written meanwhile.
WRITE_ATTEMPTS = 3
# The PostgreSQL advisory lock an import's batch holds while it is written.
BATCH_LOCK = 0x63726D01  # "crm" and 1


def _one_batch_at_a_time(session: Session) -> None:
    """Wait until no other import's batch is being written (PostgreSQL: an
    advisory lock until this transaction ends; SQLite's write lock does it
    already). Two imports of the same people would otherwise claim the same
    email keys at once, each batch looking them up before the other's commit:
    a unique violation, or a deadlock between the two."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(BATCH_LOCK)))


def _write_batch(session: Session, actor: User | None, kind: rec.Kind, job: ImportJob,
                 converted: list[dict[str, Any]], options: ImportOptions,
                 columns: Mapping[str, str]) -> None:
    """Write a batch of good rows as the check classified them, again against
    what the database holds now: rows whose email another record took since,
    or whose record went since, become problems with their row and column."""
    emails = [v["emails"][0] for v in converted if v.get("emails")]
    existing = _existing(session, actor, kind, options, emails)
    editable = _editable(session, actor, kind, [v[RECORD_ID] for v in converted
                                                if RECORD_ID in v])
    moving = _moving(converted, editable)
    creates: list[dict[str, Any]] = []
    updates: dict[int, dict[str, Any]] = {}
    update_rows: dict[int, tuple[int, str]] = {}
    batch_seen: set[str] = set()
    late: list[list[Any]] = []
    for values in converted:
        row = values.pop(ROW, 0)
        email = values["emails"][0] if values.get("emails") else None
        if email in batch_seen:
            continue  # a repeat inside the file, reported by the check
        action, record_id, message, about = _classify(kind, options, values, existing,
                                                      editable, moving)
        if email:
            batch_seen.add(email)
        if action == "create":
            values.update(options.defaults)
            creates.append(values)
        elif action == "update" and record_id not in updates:  # else reported by the check
            updates[record_id] = {k: v for k, v in values.items()  # type: ignore[index]
                                  if k != RECORD_ID}
            # The row and the field it found its record by.
            update_rows[record_id] = (row, RECORD_ID if RECORD_ID in values  # type: ignore[index]
                                      else "emails")
        elif action == "error":
            # Good when checked; since then another import or user took its email.
            late.append([row, columns.get(about, about),
                         f"{message.removesuffix('.')} (since this file was checked)."])
        else:
            job.skipped_count += 1
    if updates:
        # Locked as they are found: a record deleted since (a revert, the
        # recycle bin emptied) is a problem of its row, not an update.
        model = kind.model
        found = set(session.scalars(select(model.id).where(
            any_of(session, model.id, list(updates))).with_for_update()))
        for record_id in [i for i in updates if i not in found]:
            del updates[record_id]
            row, about = update_rows[record_id]
            late.append([row, columns.get(about, about), f"The {kind.record_type} "
                         f"#{record_id} was deleted since this file was checked."])
    if late:
        job.error_count += len(late)
        job.errors = [*(job.errors or []), *late][:MAX_KEPT_ERRORS]
        _keep_problems(session, job.id, late)
    if creates:
        ids = _insert(session, actor, kind, job, creates)
        keyed = [{"email": r["email_key"], "record_id": i}
                 for r, i in zip(creates, ids, strict=True) if r["email_key"]]
        insert_rows(session.connection(), EmailKey.__table__, keyed,
                    {"record_type": kind.record_type})
        job.created_count += len(ids)
        emit(session, kind.created, actor=actor, **kind.event_ids(ids))
    if updates:
        changed = _apply_updates(session, actor, kind, job, list(updates.items()),
                                 rekey=options.match_by == "id")
        job.updated_count += changed
        job.unchanged_count += len(updates) - changed


def _insert(session: Session, actor: User | None, kind: rec.Kind, job: ImportJob,
            rows: list[dict[str, Any]]) -> list[int]:
    """Write new records (``rows`` gain their keys and ids) with one
    executemany or COPY; returns their ids in row order.

    Ids are reserved first, so that leads are scored before they are written
    (one INSERT, no UPDATE after it) and nothing has to be read back."""
    now = utcnow()
    shared: dict[str, Any] = {"created_at": now, "updated_at": now, "touched_at": now,
                              "version": 1, "import_id": job.id,
                              "owner_id": actor.id if actor else None}
    if kind is rec.LEADS and any("stage_id" not in r for r in rows):
        shared["stage_id"] = rec._default_stage(session)
    ids = _reserve_ids(session, kind, job, len(rows))
    several: list[tuple[int, list[str], list[str]]] = []
    for row, record_id in zip(rows, ids, strict=True):
        row["id"] = record_id
        emails, phones = row.get("emails") or [], row.get("phones") or []
        row["email_key"] = emails[0] if emails else None
        row["phone_key"] = phones[0] if phones else None
        if len(emails) > 1 or len(phones) > 1:
            several.append((record_id, phones, emails))
        row.update(rec.name_keys(kind, row))
    if kind is rec.LEADS:
        rec.score_rows(session, rows, shared)
    insert_rows(session.connection(), kind.model.__table__, rows, shared)
    rec.write_other_keys(session, kind, several, new=True)
    return ids


def _reserve_ids(session: Session, kind: rec.Kind, job: ImportJob, count: int) -> list[int]:
    table = kind.model.__tablename__
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return list(connection.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                 "FROM generate_series(1, :count)"), {"table": table, "count": count}))
    # SQLite numbers rows after the highest id. A write first takes the
    # database's single write lock, so no one else can insert until commit.
    connection.execute(update(ImportJob).where(ImportJob.id == job.id)
                       .values(processed_rows=ImportJob.processed_rows))
    top = connection.scalar(select(func.max(kind.model.id))) or 0
    return list(range(top + 1, top + 1 + count))


def _apply_updates(session: Session, actor: User | None, kind: rec.Kind, job: ImportJob,
                   updates: list[tuple[int, dict[str, Any]]], rekey: bool) -> int:
    """Write the updates; returns how many records they changed (a row whose
    values its record holds already writes nothing, and a revert has nothing
    of it to give back)."""
    held = rec.apply_many(session, actor, kind, updates, f"Updated by import #{job.id}",
                          rekey=rekey)
    # What each record held in the fields the import gave, and what the import
    # wrote there, for a revert.
    insert_rows(session.connection(), ImportChange.__table__, [
        {"record_id": record_id, "before": _jsonable(before), "after": _jsonable(after)}
        for record_id, (before, after) in held.items()],
        {"import_id": job.id})
    return len(held)


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: rec._jsonable(v) for k, v in values.items()}


# -- revert ----------------------------------------------------------------------------


# A job in flight whose process wrote nothing for this long has lost it (the
# server restarted, the worker was killed); a batch takes about a second, and
# a check beats every HEARTBEAT_SECONDS.
STALLED_AFTER = timedelta(minutes=10)
IN_FLIGHT = ("validating", "running", "resume_queued", "revert_queued", "reverting")


def stalled(job: ImportJob) -> bool:
    """Whether a job in flight stopped moving: its process is gone."""
    return job.status in IN_FLIGHT and (
        job.progress_at is None or utcnow() - job.progress_at > STALLED_AFTER)


# What queue_revert and queue_resume are: (session, actor, job id) -> the job.
QueueWork = Callable[[Session, User | None, int], ImportJob]


def resumable(job: ImportJob) -> bool:
    """Whether an import that stopped may be continued (or, if it stopped while
    checking, checked again) now."""
    return job.status == "failed" or (
        job.status in ("validating", "running", "resume_queued") and stalled(job))


def queue_resume(session: Session, actor: User | None, job_id: int) -> ImportJob:
    """Ask for an import that stopped to be continued by background work
    (:func:`run`) after its last committed batch, or, if it stopped before
    writing, for its file to be checked again. The caller commits, then
    dispatches it. Only one process ever continues a job: a job still moving
    is refused."""
    job = get_job(session, actor, job_id, lock=True)
    if not resumable(job):
        if job.status in IN_FLIGHT:
            raise Conflict(f"Import #{job.id} is {job.status} and still moving; "
                           f"nothing to resume. {_taken_over_when(job)}")
        raise Conflict(f"Import #{job.id} is {job.status}: it did not stop half-way; "
                       "nothing to resume.")
    checked_nothing = job.status == "validating"
    stamp = file_stamp(Path(job.path))
    if not checked_nothing and job.file_stamp and stamp and stamp != job.file_stamp:
        # Its rows would no longer line up with the batches written.
        raise Conflict(f"The file of import #{job.id} changed since the import started: "
                       "resuming would skip or repeat rows. Revert the import and import "
                       "the file again.")
    job.status = "queued" if checked_nothing else "resume_queued"
    job.message = "Waiting to be checked again." if checked_nothing else "Waiting to be resumed."
    job.progress_at = utcnow()
    return job


def resume(sessions: sessionmaker[Session], actor: User | None, job_id: int,
           progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Queue the resume and run it here, in the caller's process (the CLI)."""
    with transaction(sessions) as session:
        queue_resume(session, actor, job_id)
    return run(sessions, job_id, progress)


def rows_written(job: ImportJob) -> int:
    """How many of the file's rows the import has gone through so far."""
    if job.status in ("done", "reverted"):
        return job.total_rows
    return min(job.rows_done, job.total_rows)


def revertible(job: ImportJob) -> bool:
    """Whether a revert may start (or, for a stopped one, finish) now: not for
    an import that wrote nothing."""
    wrote = bool(job.created_count or job.updated_count)
    return (job.status in ("done", "failed") and wrote) or (
        stalled(job) and job.status in ("running", "resume_queued", "revert_queued", "reverting"))


def queue_revert(session: Session, actor: User | None, job_id: int) -> ImportJob:
    """Ask for an import to be reverted by background work
    (:func:`run_revert`); the caller commits, then dispatches it."""
    job = get_job(session, actor, job_id, lock=True)
    if not revertible(job):
        raise Conflict(_why_not_revertible(job))
    job.status, job.message = "revert_queued", "Waiting to be reverted."
    job.reverted_by, job.progress_at = (actor.id if actor else None), utcnow()
    return job


def _why_not_revertible(job: ImportJob) -> str:
    if job.status == "reverted":
        return f"Import #{job.id} was already reverted."
    if job.status in ("revert_queued", "reverting"):
        return f"Import #{job.id} is being reverted. {_taken_over_when(job)}"
    if job.status in ("running", "resume_queued"):
        return (f"Import #{job.id} is still running; revert it when it has finished. "
                f"{_taken_over_when(job)}")
    return f"Import #{job.id} wrote nothing; there is nothing to revert."


def _taken_over_when(job: ImportJob) -> str:
    """When a job in flight whose process died (a restart, a killed worker)
    may be resumed or reverted: one process at a time works on a job."""
    if job.progress_at is None:
        return ""
    free = job.progress_at + STALLED_AFTER
    return (f"If its process has died, it can be taken over from {free:%Y-%m-%d %H:%M:%S} "
            f"UTC, {STALLED_AFTER.seconds // 60} minutes after it last moved.")


def revert(sessions: sessionmaker[Session], actor: User | None, job_id: int,
           progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Queue the revert and run it here, in the caller's process (the CLI)."""
    with transaction(sessions) as session:
        queue_revert(session, actor, job_id)
    return run_revert(sessions, job_id, progress)


def run_revert(sessions: sessionmaker[Session], job_id: int,
               progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Undo an import whose revert was queued: delete what it created, give
    back what it updated, as the user who asked for it.

    Like the import, it goes in batches of its own transaction each, so that
    a revert of a million rows holds neither the database's write lock nor
    memory for long, and plugins hear of each batch once
    (``crm_leads_purged``, ``crm_leads_updated``). A revert that stopped half
    way leaves the import ``reverting``; reverting it again finishes the work."""
    with transaction(sessions) as session:
        claimed, job = _claim(session, job_id, "revert_queued", "reverting", "Reverting.")
        if not claimed:
            raise Conflict(f"Import #{job_id} is {job.status}; nothing to revert.")
        resumed = job.reverted_count > 0
        actor = session.get(User, job.reverted_by) if job.reverted_by else None
        kind = rec.KINDS[job.record_type]
        # Matched by id, rows may have changed first emails: those come back too.
        rekey = job.options.get("match_by") == "id"
    try:
        removed, kept = _remove_created(sessions, actor, kind, job_id, progress)
        restored, left = _restore_updated(sessions, actor, kind, job_id, progress, rekey)
    except BaseException as exc:
        with transaction(sessions) as session:
            job = _advance(session, job_id, 0)
            job.progress_at = None  # stopped: it may be reverted again at once
            job.message = (f"The revert stopped after {job.reverted_count} record(s): "
                           f"{stopped_by(exc)}. Revert again to finish it.")
        raise
    with transaction(sessions) as session:
        job = _advance(session, job_id, 0)
        job.status, job.finished_at = "reverted", utcnow()
        job.message = (f"Reverted{' (resumed)' if resumed else ''}: deleted {removed} "
                       f"record(s), restored {restored}.")
        if kept:
            job.message += (f" Kept {kept} record(s) it created that were changed since "
                            "(edited, commented on, merged into) or that you may not edit.")
        if left:
            job.message += (f" Left {left} record(s) it updated as they are, wholly or in the "
                            "fields changed since, or that you may not edit.")
        return job


REVERT_BATCH = 2_000


def _advance(session: Session, job_id: int, count: int, *, restoring_from_start: bool = False
             ) -> ImportJob:
    """Count ``count`` more records reverted and note that the job moved on.
    Restores count on from the created records, all deleted by then."""
    job = session.get(ImportJob, job_id, with_for_update=True)
    assert job is not None
    job.reverted_count = count + (job.created_count if restoring_from_start
                                  else job.reverted_count)
    job.progress_at = utcnow()
    return job


def _remove_created(sessions: sessionmaker[Session], actor: User | None, kind: rec.Kind,
                    job_id: int, progress: Callable[[ImportJob], None] | None
                    ) -> tuple[int, int]:
    """Delete the records the import created, but those changed since (their
    version moved on: an edit, a comment, a merge into them) and those the
    reverting user may not edit. Returns how many were deleted and kept."""
    model = kind.model
    with sessions() as session:
        untouched = rec.visible(session, actor, kind, deleted=None).with_only_columns(
            model.id).where(model.import_id == job_id, model.version == 1).order_by(model.id)
    # Locked as they are read: an edit saved meanwhile is waited for and its
    # record kept (PostgreSQL reads the row again once the lock is free); an
    # edit started after waits, then finds the record gone. SQLite's write
    # transaction holds the database's lock already.
    untouched = untouched.with_for_update(of=model)
    removed, last = 0, 0
    while True:
        with transaction(sessions) as session:
            ids = list(session.scalars(untouched.where(model.id > last).limit(REVERT_BATCH)))
            rec.remove(session, actor, kind, ids)
            job = _advance(session, job_id, len(ids))
        if not ids:
            with sessions() as session:
                kept = session.scalar(select(func.count()).select_from(model)
                                      .where(model.import_id == job_id))
            return removed, kept or 0
        if progress:
            progress(job)
        removed, last = removed + len(ids), ids[-1]


def _restore_updated(sessions: sessionmaker[Session], actor: User | None, kind: rec.Kind,
                     job_id: int, progress: Callable[[ImportJob], None] | None,
                     rekey: bool) -> tuple[int, int]:
    """Give updated records their earlier values back, in the fields that
    still hold what the import wrote: a field someone changed since keeps
    today's value, and a record the reverting user may not edit is left
    alone. Returns how many records were restored (wholly or partly) and how
    many left (wholly or partly) as they are.

    Putting values back is idempotent, so a resumed revert simply goes
    through every batch again (its count starting again after the created
    records, all gone by now)."""
    # Newest first, so that a record changed twice ends with its oldest values.
    changes = (select(ImportChange.id, ImportChange.record_id, ImportChange.before,
                      ImportChange.after)
               .where(ImportChange.import_id == job_id).order_by(ImportChange.id.desc()))
    restored, left, last = 0, 0, None
    while True:
        with transaction(sessions) as session:
            batch = session.execute(changes.limit(REVERT_BATCH) if last is None else
                                    changes.where(ImportChange.id < last).limit(REVERT_BATCH)
                                    ).all()
            ids = [c.record_id for c in batch]
            current = _editable_values(session, actor, kind, ids)
            existing = set(session.scalars(select(kind.model.id).where(
                any_of(session, kind.model.id, ids)))) if ids else set()
            updates = []
            for change in batch:
                now = current.get(change.record_id)
                given = [k for k in change.before if k in REVERTIBLE]
                fields = [k for k in given if now is not None and (
                    change.after is None or k not in change.after
                    or rec._jsonable(now[k]) == change.after[k])]
                # Purged since: nothing to give back, nothing left as it is.
                left += change.record_id in existing and len(fields) < len(given)
                if fields:
                    updates.append((change.record_id, {k: change.before[k] for k in fields}))
            held = rec.apply_many(session, actor, kind, updates, f"Import #{job_id} reverted",
                                  restoring=True, rekey=rekey)
            job = _advance(session, job_id, len(batch), restoring_from_start=last is None)
        if not batch:
            return restored, left
        if progress:
            progress(job)
        restored += len(held)  # records purged since, or holding those values, are left out
        last = batch[-1].id


def _editable_values(session: Session, actor: User | None, kind: rec.Kind,
                     ids: Sequence[int]) -> dict[int, Any]:
    """The rows of the records ``ids`` that ``actor`` may edit, live or binned,
    locked (PostgreSQL) until the transaction ends: what is compared with
    what the import wrote must be what the revert then changes, not a value
    an edit saves in between (QA: 6 of 2,372 such edits were overwritten)."""
    if not ids:
        return {}
    model = kind.model
    query = rec.visible(session, actor, kind, deleted=None).with_only_columns(
        *model.__table__.columns).where(any_of(session, model.id, ids)).with_for_update(of=model)
    return {row.id: row._mapping for row in session.execute(query)}
