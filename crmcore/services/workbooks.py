"""Excel workbooks (.xlsx): an import reads one sheet's rows (the first that is
not hidden, unless it names another) as the text a CSV would hold; an export
writes a list as one sheet.

Reading streams the sheet (openpyxl's read-only mode), so memory does not grow
with its rows, but a workbook keeps its text in one shared table that is read
whole: :data:`MAX_SHARED_TEXT` bounds it, and a file beyond is refused with the
advice to save it as CSV. Values come as spreadsheets show them: formulas as
the value the file last saved for them, dates as ISO dates, whole numbers
without a decimal point, and with the leading zeros and text of a number format
of zeros (``00000``, Excel's "Zip Code", ``00000-0000``, ``"D-"00000``), as
ZIP codes and customer numbers are kept: 01067, not 1067. Other number formats
(decimals, thousands, percentages, currencies) are not applied: the number is
read as it is. A sheet holding a formula without a saved value (as
programs that do not work formulas out write them) is refused, naming the
cell, before anything is read.

An export writes every text cell as text, never as a formula. A cell starting
like a formula gets Excel's quote prefix, the style a ``'`` typed before it
gives: it shows as typed and stays text when someone edits it. Text is read
back exactly as written, so an export imports back as it is.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any, NamedTuple

from crmcore.errors import ValidationFailed
from crmcore.services.cells import FORMULA_STARTS, neutralize

# How a file starts: an .xlsx is a zip archive; Excel 97-2003 workbooks, and
# .xlsx files saved with a password, are compound documents.
ZIP_MAGIC = b"PK\x03\x04"
COMPOUND_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Bytes of the shared text table, unpacked. openpyxl holds it in memory at
# about six times its size: 32 MB (some 500,000 rows of distinct names and
# emails) keeps an import under 300 MB.
MAX_SHARED_TEXT = 32 * 1024 * 1024
# A worksheet's last row; the header takes the first.
MAX_SHEET_ROWS = 1_048_576
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Characters XML 1.0, and so a workbook, cannot hold (control characters).
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# A cell holding a formula and then no value, or an empty one (how programs
# that do not work formulas out write them). Names may carry a namespace prefix.
_FORMULA_WITHOUT_VALUE = re.compile(
    rb"<(?:\w+:)?c\b([^>]*)>\s*<(?:\w+:)?f\b[^>]*(?:/>|>[^<]*</(?:\w+:)?f>)\s*"
    rb"(?P<empty><(?:\w+:)?v\s*/>|<(?:\w+:)?v>\s*</(?:\w+:)?v>)?\s*</(?:\w+:)?c>")
_REFERENCE = re.compile(rb'\sr="([A-Z]{1,3}[0-9]{1,7})"')
_TEXT_TYPE = re.compile(rb'\st="str"')
_CELL_END = b"c>"


def is_workbook(path: Path) -> bool:
    """Whether ``path`` is a zip archive (an .xlsx, or another zip that
    :func:`sheet_rows` refuses with a message) or a compound document (an
    Excel 97-2003 workbook, refused likewise), rather than text."""
    with open(path, "rb") as handle:
        start = handle.read(len(COMPOUND_MAGIC))
    return start.startswith(ZIP_MAGIC) or start == COMPOUND_MAGIC


def cell_text(value: Any) -> str:
    """The text a CSV would hold for a cell's ``value``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        # A date cell holds a datetime at midnight: the date is what it shows.
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _refused(message: str) -> ValidationFailed:
    return ValidationFailed(message, {"file": [message]})


@contextmanager
def sheet_rows(path: Path, sheet: str | None = None
               ) -> Iterator[tuple[list[str], str, list[str], Iterator[list[str]], list[str]]]:
    """``(sheet names, name read, header, data rows, hidden names)`` of the
    workbook's sheet named ``sheet`` (whatever its case, as Excel compares
    them), or of its first not hidden when ``None``. The names are the
    workbook's sheets of rows, in its order, hidden ones too; the hidden names
    are those of them hidden (or "very hidden") in Excel, which only a name
    reads: a hidden sheet is most often an old list or a lookup table, not the
    rows someone sees and means to import.
    Every cell comes as :func:`cell_text` gives it, trailing empty cells left
    off; an empty row comes as ``[]``, so that rows keep the sheet's numbers.

    The import takes a ``'`` off a cell starting like a formula, as a CSV
    export writes it (:func:`crmcore.services.cells.restore`); a workbook holds
    text as it is, so such a cell is given with the ``'`` that comes off.

    :raises ValidationFailed: under ``file``, when the file is not a workbook
        this reads, or the sheet read has no header row; under ``sheet``, when
        the workbook has no sheet of rows of that name."""
    import openpyxl  # on import only: it would slow every process's start

    with open(path, "rb") as handle:
        if handle.read(len(COMPOUND_MAGIC)) == COMPOUND_MAGIC:
            raise _refused("The file is an Excel 97-2003 workbook (.xls) or a workbook saved "
                           "with a password: save it as .xlsx (without a password) or as CSV.")
        handle.seek(0)
        try:
            with zipfile.ZipFile(handle) as archive:
                shared = next((i.file_size for i in archive.infolist()
                               if i.filename.lower() == "xl/sharedstrings.xml"), 0)
            if shared > MAX_SHARED_TEXT:
                raise _refused("The workbook holds more text than an import reads from a "
                               f"workbook ({MAX_SHARED_TEXT // (1024 * 1024)} MB): save it "
                               "as CSV.")
            # Given the open file, not its name: uploads are stored under names of
            # ours, whose extension openpyxl would refuse.
            workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except ValidationFailed:
            raise
        except Exception:  # noqa: BLE001 - openpyxl raises anything for a file it cannot read
            raise _refused("The file is not an Excel workbook (.xlsx): save it as .xlsx or "
                           "as CSV.") from None
        try:
            names = [s.title for s in workbook.worksheets]  # not chart sheets
            hidden = [s.title for s in workbook.worksheets if s.sheet_state != "visible"]
            read = _chosen(names, sheet, workbook.sheetnames, hidden)
            worksheet = workbook[read] if read else None
            if worksheet:
                unsaved = _formula_without_result(worksheet)
                if unsaved is not None:
                    raise _refused(
                        f"The cell {unsaved} holds a formula whose result the file does not "
                        "hold (a program wrote the formula without working it out): open the "
                        "workbook in a spreadsheet and save it, or save it as CSV.")
                # Rows as long as their cells, not padded to the size the file
                # claims (some tools claim all 16,384 columns).
                worksheet.reset_dimensions()
            values = _values(worksheet, _padded_styles(workbook)) if worksheet else iter(())
            header = _texts(next(values, ()), keep_quote=False)
            if not read or not any(h.strip() for h in header):
                which = (f"sheet “{read}”" if read and (sheet or read != names[0])
                         else "first sheet")
                raise _refused(f"The workbook's {which} is empty or its first row (the "
                               "header) is blank.")
            yield names, read, header, _rows(values), hidden
        finally:
            workbook.close()


def _formula_without_result(worksheet: Any) -> str | None:
    """The first cell of ``worksheet`` (read-only) holding a formula with no
    saved result, by its reference (``"a cell"`` if the file gives none), or None.

    openpyxl reads such a cell as empty, and an import would store nothing
    where the sheet shows a value. The sheet's XML is searched as bytes, by
    chunks, so this costs one decompression of the sheet; a sheet without
    formulas is passed over by a plain search for their element."""
    # The worksheet's part in the archive: openpyxl keeps no public name for it.
    with worksheet.parent._archive.open(worksheet._worksheet_path) as source:
        carried = b""
        while chunk := _read(source):
            text = carried + chunk
            # Searched up to the last cell's end; the rest goes with the next chunk.
            end = text.rfind(_CELL_END)
            if end < 0:
                carried = text
                continue
            text, carried = text[:end + len(_CELL_END)], text[end + len(_CELL_END):]
            if b"<f" not in text and b":f" not in text:
                continue
            for found in _FORMULA_WITHOUT_VALUE.finditer(text):
                attributes = found.group(1)
                # An empty value saved as text is a formula's empty result.
                if found.group("empty") and _TEXT_TYPE.search(attributes):
                    continue
                reference = _REFERENCE.search(attributes)
                return reference.group(1).decode() if reference else "a cell"
    return None


def _read(source: IO[bytes]) -> bytes:
    """The next chunk of a sheet's XML; none where the archive is damaged,
    which reading its rows then reports with the last row read."""
    try:
        return source.read(1 << 20)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile):
        return b""


def _chosen(names: Sequence[str], wanted: str | None, every: Sequence[str],
            hidden: Sequence[str]) -> str | None:
    """The sheet of ``names`` to read: the one called ``wanted``, else the first
    not ``hidden`` (``None`` if there is none). Where every sheet of rows is
    hidden (the one shown is a chart), the first: it is that or nothing."""
    if wanted is None:
        return next((name for name in names if name not in hidden), names[0] if names else None)
    key = wanted.strip().casefold()
    found = next((name for name in names if name.casefold() == key), None)
    if found:
        return found
    if any(name.casefold() == key for name in every):
        message = f"The sheet “{wanted}” holds a chart, not rows: choose a sheet of rows."
    else:
        listed = ", ".join(f"“{name}”" for name in names) or "none"
        message = f"The workbook has no sheet “{wanted}”; its sheets of rows: {listed}."
    raise ValidationFailed(message, {"sheet": [message]})


# A part of a number format: quoted text, a character after a backslash, a
# [tag], a digit placeholder 0, or any other character (";" ends a section).
_FORMAT_PART = re.compile(r'"([^"]*)"|\\(.)|\[([^\]]*)\]|(0)|(.)', re.S)
# Characters a number format shows as they are without quotes.
_SHOWN_AS_IS = frozenset("$+(:^'{<=-/)&~}> ")
# Tags that change no character shown: a colour, or a locale without a currency.
_NO_TEXT_TAG = re.compile(r"[A-Za-z]+[0-9]*|\$-[0-9A-Fa-f]+")


class _Padding(NamedTuple):
    """A number format of zeros: the text before each digit and after the last."""

    texts: tuple[str, ...]
    zero_too: bool  # whether it shows 0 too (a format of three sections has its own)

    def shown(self, number: int) -> str:
        """``number`` as the format shows it: at least as many digits as it has
        zeros, those beyond going before the first, as Excel does."""
        digits = str(number).rjust(len(self.texts) - 1, "0")
        first = len(digits) - len(self.texts) + 2
        parts = [self.texts[0], digits[:first]]
        for text, digit in zip(self.texts[1:-1], digits[first:], strict=True):
            parts += [text, digit]
        parts.append(self.texts[-1])
        return "".join(parts)


def _padding(code: str) -> _Padding | None:
    """The padding of a number format whose positive numbers show as two
    zeros or more among text (``00000``, ``000-00-0000``), or None: any other
    format (decimals, ``#``, conditions, dates) is left to openpyxl's reading."""
    texts: list[str] = []
    text, sections = "", 1
    for quoted, escaped, tag, zero, other in _FORMAT_PART.findall(code):
        if other == ";":
            sections += 1
        elif sections > 1:
            continue  # the sections of negative numbers, zero and text
        elif zero:
            texts.append(text)
            text = ""
        elif tag:
            if not _NO_TEXT_TAG.fullmatch(tag):
                return None
        elif other:
            if other not in _SHOWN_AS_IS:
                return None
            text += other
        else:
            text += quoted or escaped
    if len(texts) < 2:
        return None
    return _Padding((*texts, text), zero_too=sections < 3)


def _padded_styles(workbook: Any) -> dict[int, _Padding]:
    """The workbook's cell styles (by index) whose number format pads numbers
    with zeros. openpyxl keeps the styles under names of its own; no built-in
    format pads."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS_MAX_SIZE

    found: dict[int, _Padding] = {}
    for index, style in enumerate(workbook._cell_styles):
        if style.numFmtId >= BUILTIN_FORMATS_MAX_SIZE:
            padding = _padding(workbook._number_formats[style.numFmtId - BUILTIN_FORMATS_MAX_SIZE])
            if padding:
                found[index] = padding
    return found


def _values(worksheet: Any, padded: dict[int, _Padding]) -> Iterator[Sequence[Any]]:
    """The rows' values, numbers in a padding format as it shows them. Cells,
    which say their style, cost more than values (200k rows of six columns:
    9.0 s against 8.2 s): they are read only from a workbook that has such a
    format."""
    if not padded:
        return worksheet.iter_rows(values_only=True)
    return ([_shown(cell, padded) for cell in row] for row in worksheet.iter_rows())


def _shown(cell: Any, padded: dict[int, _Padding]) -> Any:
    value = cell.value
    # Not a bool (an int too), nor a negative or fractional number, which the
    # format would show with a sign or rounded: those are read as they are.
    if (type(value) is int or (type(value) is float and value.is_integer())) and value >= 0:
        padding = padded.get(cell._style_id)  # openpyxl names no other way to it
        if padding and (value or padding.zero_too):
            return padding.shown(int(value))
    return value


def _texts(values: Sequence[Any], keep_quote: bool = True) -> list[str]:
    cells = [cell_text(v) for v in values]
    while cells and not cells[-1]:
        cells.pop()
    return [neutralize(c) for c in cells] if keep_quote else cells


def _rows(values: Iterator[Sequence[Any]]) -> Iterator[list[str]]:
    number = 1
    try:
        for number, row in enumerate(values, start=2):  # noqa: B007
            yield _texts(row)
    except (ValueError, KeyError, OSError, EOFError, zlib.error, zipfile.BadZipFile,
            SyntaxError) as exc:
        # SyntaxError: the XML parser's error for a broken sheet; EOFError and
        # zlib's error: a cut or damaged archive.
        raise _refused(f"The workbook cannot be read after row {number}: {exc}.") from None


def write_sheet(target: IO[bytes], title: str, header: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> None:
    """Write a workbook of one sheet, ``title``, to ``target``: the header in
    bold and frozen, then ``rows``. Numbers (not booleans) become number cells,
    ``None`` an empty cell, anything else its ``str()`` as text; rows are
    written as they come, so memory stays flat (openpyxl's write-only mode).

    :raises ValidationFailed: when the rows do not fit in a worksheet (what
        ``target`` then holds is no use)."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def text(value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, _UNWRITABLE.sub("\ufffd", value))
        cell.data_type = "s"  # never a formula, whatever it starts with
        cell.quotePrefix = value.startswith(FORMULA_STARTS)
        return cell

    def cell(value: Any) -> Any:
        if type(value) is str:
            # Most text goes as it is: openpyxl writes a str as text unless it
            # starts with "=", and a cell object costs as much as the writing.
            return (text(value) if value.startswith(FORMULA_STARTS)
                    or _UNWRITABLE.search(value) else value)
        if value is None or (type(value) in (int, float) and abs(value) < 2**53):
            return value  # a number beyond a double's precision stays text
        return text(str(value))

    titles = []
    for name in header:
        head = text(name)
        head.font = bold
        titles.append(head)
    sheet.append(titles)
    too_long = False
    try:
        for count, row in enumerate(rows, start=2):
            if count > MAX_SHEET_ROWS:
                too_long = True
                break
            sheet.append([cell(v) for v in row])
    finally:
        # Also when the rows fail: saving removes the sheet's temporary file.
        workbook.save(target)
    if too_long:
        raise too_many_rows()


def too_many_rows() -> ValidationFailed:
    """The refusal of a list longer than a worksheet holds."""
    return ValidationFailed(
        "The list has more rows than a worksheet holds.",
        {"format": [f"At most {MAX_SHEET_ROWS - 1:,} rows fit in a worksheet: "
                    "narrow the list or export CSV."]})
