"""Reading an import's file: a CSV in a given encoding and delimiter, or a
workbook's sheet, as a header and numbered rows; a file that cannot be read
is refused whole, naming the line and the problem. Also where uploaded files
are kept, and their cleaning."""

from __future__ import annotations

import codecs
import csv
import itertools
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crmcore.errors import ValidationFailed
from crmcore.models import ImportJob
from crmcore.services.cells import DELIMITERS
from crmcore.services.imports.options import ImportOptions
from crmcore.services.workbooks import is_workbook, sheet_rows

# The encodings the import pages offer for a CSV, named as people know them.
ENCODINGS = (("utf-8-sig", "UTF-8 (also with BOM)"), ("latin-1", "Latin-1 (ISO 8859-1)"),
             ("cp1252", "Windows-1252"), ("utf-16", "UTF-16 (Excel's Unicode Text)"))
# How UTF-16 text starts, as Excel's "Unicode Text" (tab-separated) does:
# its byte order mark, little- or big-endian.
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def file_encoding(path: Path, encoding: str) -> str:
    """The encoding to read the file at ``path`` in: UTF-16 where ``encoding``
    is UTF-8 (the default) and the file starts with UTF-16's byte order mark,
    bytes that UTF-8 text never holds; else ``encoding``. The other encodings
    read those bytes as characters, so a choice of one is kept."""
    if codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
        return encoding
    with open(path, "rb") as handle:
        return "utf-16" if handle.read(2) in _UTF16_BOMS else encoding


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
def open_rows(path: Path, options: ImportOptions
               ) -> Iterator[tuple[list[str], Iterator[list[str]]]]:
    """The header and an iterator over the data rows of a CSV or of a
    workbook's sheet (told apart by how the file starts; the encoding, which
    :func:`file_encoding` may correct, and delimiter apply to CSV only, the
    sheet to workbooks); problems with the file as a whole raise
    :class:`ValidationFailed` with a message naming them."""
    try:
        workbook = is_workbook(path)
        encoding = options.encoding if workbook else file_encoding(path, options.encoding)
        handle = None if workbook else open(  # noqa: SIM115
            path, encoding=encoding, errors="strict", newline="")
    except OSError as exc:
        raise ValidationFailed(f"Cannot read {path.name}: {exc.strerror}.",
                               {"file": [str(exc.strerror)]}) from None
    if handle is None:
        with sheet_rows(path, options.sheet) as (names, read, header, rows, hidden):
            try:
                yield header, rows
            except ValidationFailed as exc:
                if len(names) == 1 or "file" not in exc.errors:
                    raise
                # A first sheet of notes or totals is a likely cause: say which was read.
                note = sheet_note(names, read, hidden, named=options.sheet is not None)
                # Said once, after the file's problems: the CLI prints those the
                # detail does not hold, and the note appended to each is not.
                raise ValidationFailed(f"{exc.detail} ({note})", {
                    "file": [*exc.errors["file"], note]}) from None
        return
    if options.sheet is not None:
        handle.close()
        message = (f"The file is read as CSV, which has no sheets: the sheet "
                   f"“{options.sheet}” can be chosen only in an Excel workbook (.xlsx).")
        raise ValidationFailed(message, {"sheet": [message]})
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


def sheet_note(names: Sequence[str], read: str, hidden: Sequence[str], named: bool) -> str:
    """What says which of the workbook's sheets ``names`` an import read and
    which others it has, hidden ones as such: ``read`` was ``named`` by the
    import, or is the first not hidden."""
    def listed(sheets: Sequence[str]) -> str:
        return ", ".join(f"“{name}”" for name in sheets)

    visible = [name for name in names if name != read and name not in hidden]
    passed = [name for name in names if name != read and name in hidden]
    kind = "hidden sheet" if read in hidden else "sheet"
    first = "" if named or names[0] == read else ", the first not hidden"
    others = [listed(visible)] if visible else []
    if passed:
        # Hidden sheets are read only by name: say so, lest their rows be sought in vain.
        others.append(f"the hidden sheet{'s' if len(passed) > 1 else ''} {listed(passed)}"
                      + ("" if named else ", read only when named"))
    return f"Read from the {kind} “{read}”{first}; the workbook also has {' and '.join(others)}."


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


def numbered_batches(rows: Iterator[list[str]], size: int) -> Iterator[list[tuple[int, list[str]]]]:
    numbered = ((n, row) for n, row in enumerate(rows, start=2) if "".join(row).strip())
    while batch := list(itertools.islice(numbered, size)):
        yield batch


def file_stamp(path: Path) -> str | None:
    """The file's size and modification time (ns), as make and rsync tell a
    changed file; None when it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return f"{stat.st_size}:{stat.st_mtime_ns}"


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

