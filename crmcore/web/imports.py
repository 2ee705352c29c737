"""Import of leads and contacts from CSV or Excel: upload, map the columns, check or import,
follow the job, revert it. Thin views over :mod:`crmcore.services.imports`."""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, NamedTuple
from uuid import uuid4

from flask import abort, current_app, flash, redirect, request, url_for
from flask import session as web_session
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from crmcore import jobs
from crmcore.app import db
from crmcore.errors import Conflict, CrmError, ValidationFailed
from crmcore.responses import problems_download
from crmcore.services import custom_fields as custom_svc
from crmcore.services import imports as import_svc
from crmcore.services import workbooks
from crmcore.services.cells import DELIMITERS
from crmcore.services.import_rows import (
    ALIASES,
    RECORD_ID,
    REQUIRED,
    fields_named,
    header_key,
    map_header,
    required_from,
)
from crmcore.web.common import actor, bp, render, users_by_id
from crmcore.web.records import CONTACT_UI, LEAD_UI, Ui, ui_view
from crmcore.web.uploads import UploadProblem, save_upload, size_label

POLICIES = (("report", "Report them as errors"), ("skip", "Skip them"),
            ("update", "Update the existing record"))
BLANK_CELLS = (("keep", "Keep the record's value"),
               ("clear", "Clear the record's value (once every column of the field is blank)"))
MATCHES = (("email", "Their first email"),
           ("id", "Their id column (a file exported from this list), else first email"))
DELIMITER_CHOICES = (("auto", "Detect (comma, semicolon or tab)"), ("comma", "Comma"),
                     ("semicolon", "Semicolon (spreadsheets where the decimal mark is a comma)"),
                     ("tab", "Tab"))
SEPARATED_BY = {"comma": "commas", "semicolon": "semicolons", "tab": "tabs"}
TOKEN = re.compile(r"[0-9a-f]{32}")
# How many uploads a browser session can still map: enough for several tabs.
KEPT_TOKENS = 20
# Reading the header stops after this much text: a file without line breaks is
# not read whole into memory just to find its first row.
HEADER_MAX_BYTES = 1024 * 1024
HEADER_MAX_LINES = 100
# Rows under the header shown beside the columns to map.
SAMPLE_ROWS = 3
SHOWN_ERRORS = import_svc.MAX_KEPT_ERRORS
# A dry run of a larger file runs in the background, like an import, rather
# than keep the request (and a server process) for seconds. A workbook is
# packed: the same size holds more rows, each slower to read.
INLINE_CHECK_MAX_BYTES = 2 * 1024 * 1024
INLINE_CHECK_MAX_WORKBOOK_BYTES = 256 * 1024
ACTIVE = ("queued", "validating", "running", "resume_queued", "revert_queued", "reverting")


# -- the stored upload -----------------------------------------------------------------


def max_bytes() -> int:
    return import_svc.max_upload_bytes(current_app.config)


def upload_dir() -> Path:
    return import_svc.uploads_dir(Path(current_app.instance_path))


def upload_path(token: str) -> Path:
    if not TOKEN.fullmatch(token):
        raise UploadProblem("The upload is unknown or expired; upload the file again.")
    return upload_dir() / f"{token}.csv"


def store_upload(upload: FileStorage | None) -> tuple[str, str]:
    """Save the upload under a random name; ``(token, original filename)``."""
    token = uuid4().hex
    filename = save_upload(upload, upload_path(token), max_bytes())
    tokens = [t for t in web_session.get("import_uploads", []) if t != token]
    web_session["import_uploads"] = [*tokens, token][-KEPT_TOKENS:]
    return token, filename


def stored_upload(token: str) -> Path:
    """The stored file of an upload this browser session made."""
    path = upload_path(token)
    if token not in web_session.get("import_uploads", []) or not path.is_file():
        raise UploadProblem("The upload is unknown or expired; upload the file again.")
    return path


class NotInEncoding(UploadProblem):
    """A line of the file does not decode in the encoding chosen."""


def _lines(handle: Any, encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    read = 0
    rest = ""  # decoded after the last line break
    for number in range(1, HEADER_MAX_LINES + 1):
        raw = handle.readline(HEADER_MAX_BYTES - read + 1)
        read += len(raw)
        if read > HEADER_MAX_BYTES:
            raise UploadProblem("The first row (the header) is too long; is this a CSV file?")
        try:
            text = rest + decoder.decode(raw)
        except UnicodeDecodeError:
            name = import_svc.encoding_label(encoding)
            raise NotInEncoding(f"The file is not valid {name} text (line {number}); "
                                "choose the encoding it was saved in, or save it as UTF-8."
                                ) from None
        # A line is read up to the byte "\n": UTF-16's line break has a second
        # byte, and the line ends with the next read.
        end = text.rfind("\n") + 1 if raw else len(text)
        line, rest = text[:end], text[end:]
        if "\x00" in line:
            raise UploadProblem(import_svc.nul_in_file(number))
        if misread := import_svc.misread_as_latin1(line, number, encoding):
            raise NotInEncoding(misread)
        if line:
            yield line
        if not raw:
            return
    raise UploadProblem("The first row (the header) is too long; is this a CSV file?")


class Head(NamedTuple):
    """What the mapping step shows of a file."""

    header: list[str]
    delimiter: str  # of a CSV: the one given, or the one "auto" found
    sheets: list[str] | None  # of a workbook: its sheets of rows, in order
    sheet: str | None  # of a workbook: the one read
    # The first rows under the header, read the same way: mojibake or cells in
    # the wrong columns show before anything is checked.
    samples: list[list[str]]
    # Why the samples stop early, when the encoding is why: a header in ASCII
    # reads in any encoding, the names under it may not.
    problem: str | None = None
    hidden_sheets: Sequence[str] = ()  # of a workbook: those read only when chosen


def read_header(path: Path, encoding: str, delimiter: str, sheet: str | None = None) -> Head:
    """The file's first row and up to :data:`SAMPLE_ROWS` rows under it: a
    CSV's read with ``encoding`` and ``delimiter``, a workbook's from the sheet
    named ``sheet`` (its first not hidden if ``None``)."""
    if workbooks.is_workbook(path):
        try:
            with workbooks.sheet_rows(path, sheet) as (sheets, read, header, rows, hidden):
                return Head(header, delimiter, sheets, read, _samples(rows)[0],
                            hidden_sheets=hidden)
        except ValidationFailed as exc:
            raise UploadProblem(exc.detail) from None
    with open(path, "rb") as handle:
        try:
            reader = import_svc.csv_rows(_lines(handle, encoding), delimiter)
            header = next(reader, None)
        except csv.Error as exc:
            raise UploadProblem(f"The header row is not valid CSV: {exc}.") from None
        if not header or not any(name.strip() for name in header):
            raise UploadProblem("The file is empty or its first row (the header) is blank.")
        samples, problem = _samples(reader)
    used = {char: name for name, char in DELIMITERS.items()}
    return Head(header, used[reader.dialect.delimiter], None, None, samples, problem)


def _samples(rows: Iterator[list[str]]) -> tuple[list[list[str]], str | None]:
    """Up to :data:`SAMPLE_ROWS` rows that are not blank, and the encoding
    problem that stopped them early. Other problems (a broken quote, a long
    cell) only end the samples: the check reports them with their rows."""
    samples: list[list[str]] = []
    try:
        for row in rows:
            if any(cell.strip() for cell in row):
                samples.append(row)
                if len(samples) == SAMPLE_ROWS:
                    break
    except NotInEncoding as exc:
        return samples, str(exc)
    except (UploadProblem, csv.Error, ValidationFailed):
        pass
    return samples, None


# -- the mapping -----------------------------------------------------------------------


def field_choices(ui: Ui) -> list[tuple[str, str]]:
    """``(field, label)`` for every importable field of the record type."""
    fields = [(name, name) for name in sorted(set(ALIASES[ui.kind.record_type].values()))]
    for definition in custom_svc.definitions(db(), ui.kind.record_type):
        name = f"custom.{definition.name}"
        fields.append((name, f"{definition.label} ({name})"))
    return fields


def named_fields(ui: Ui, header: Sequence[str]) -> list[list[str]]:
    """The fields each column's name fits, as an import without a mapping
    reads it (:func:`fields_named`): an alias, a field's own name, a custom
    field's name or label."""
    custom = custom_svc.definitions(db(), ui.kind.record_type)
    return [fields_named(ui.kind.record_type, column, custom) for column in header]


def guessed(ui: Ui, header: Sequence[str]) -> list[str]:
    """The field each column likely fills; ``-`` (ignore) when no field fits,
    or several do: which one is for the user to choose (the page says so)."""
    return [named[0] if len(named) == 1 else "-" for named in named_fields(ui, header)]


def header_problem(ui: Ui, header: Sequence[str], selected: Sequence[str],
                   options: Mapping[str, Any]) -> str | None:
    try:
        map_header(ui.kind.record_type, header, {},
                   custom_svc.definitions(db(), ui.kind.record_type),
                   by_id=options.get("match_by") == "id", chosen=selected)
    except ValueError as exc:
        return str(exc)
    return None


def options_from_form() -> dict[str, Any]:
    encoding = request.form.get("encoding", "utf-8-sig")
    delimiter = request.form.get("delimiter", "auto")
    policy = request.form.get("on_duplicate", "report")
    blank_cells = request.form.get("blank_cells", "keep")
    match_by = request.form.get("match_by", "email")
    if (encoding not in dict(import_svc.ENCODINGS)
            or delimiter not in dict(DELIMITER_CHOICES)
            or policy not in dict(POLICIES) or blank_cells not in dict(BLANK_CELLS)
            or match_by not in dict(MATCHES)):
        abort(400)
    return {"encoding": encoding, "delimiter": delimiter, "on_duplicate": policy,
            "blank_cells": blank_cells, "match_by": match_by,
            "skip_bad_rows": request.form.get("skip_bad_rows") == "1",
            "sheet": request.form.get("sheet") or None}


def upload_page(ui: Ui, options: Mapping[str, Any] | None = None, message: str | None = None,
                status: int = 200) -> Any:
    return render("web/import_upload.html", status, ui=ui, encodings=import_svc.ENCODINGS,
                  delimiters=DELIMITER_CHOICES, policies=POLICIES, blanks=BLANK_CELLS,
                  matches=MATCHES,
                  options=options or {"encoding": "utf-8-sig", "delimiter": "auto",
                                      "on_duplicate": "report", "blank_cells": "keep",
                                      "match_by": "email"},
                  message=message, limit=size_label(max_bytes()))


def mapping_page(ui: Ui, token: str, filename: str, head: Head,
                 selected: Sequence[str], options: Mapping[str, Any], intent: str,
                 message: str | None = None, report: import_svc.Report | None = None,
                 status: int = 200) -> Any:
    choices = field_choices(ui)
    header = head.header
    problem = header_problem(ui, header, selected, options)
    # A column left to ignore whose name fits several fields says which.
    columns = [(name, chosen, [row[index] for row in head.samples if index < len(row)],
                named if chosen == "-" and len(named) > 1 else [])
               for index, (name, chosen, named) in enumerate(
                   zip(header, selected, named_fields(ui, header), strict=True))]
    return render("web/import_mapping.html", status, ui=ui, token=token, filename=filename,
                  columns=columns, choices=choices,
                  id_column=next((i for i, name in enumerate(header)
                                  if header_key(name) == RECORD_ID), None),
                  options=options, policies=POLICIES, blanks=BLANK_CELLS, matches=MATCHES,
                  sheets=head.sheets,
                  hidden_sheets=head.hidden_sheets,
                  encodings=import_svc.ENCODINGS, delimiters=DELIMITER_CHOICES[1:],
                  encoding_name=import_svc.encoding_label(options["encoding"]),
                  separated_by=SEPARATED_BY.get(options["delimiter"]),
                  sample_problem=head.problem, intent=intent, message=message,
                  problem=problem, report=report, required=REQUIRED[ui.kind.record_type],
                  required_from=required_from(ui.kind.record_type),
                  hidden_errors=(report.error_count - len(report.errors[:SHOWN_ERRORS]))
                  if report else 0, shown_errors=SHOWN_ERRORS)


# -- views -------------------------------------------------------------------------------


def upload_view(ui: Ui) -> Any:
    if request.method != "POST":
        return upload_page(ui)
    # Refuse an oversize body before it is read, when the import limit is the smaller.
    request.max_content_length = max_bytes()
    options = options_from_form()
    intent = "import" if request.form.get("action") == "import" else "check"
    try:
        token, filename = store_upload(request.files.get("file"))
    except UploadProblem as exc:
        return upload_page(ui, options, str(exc), exc.status)
    # Excel's "Unicode Text" is read as the UTF-16 it is, and the page says so.
    options["encoding"] = import_svc.file_encoding(upload_path(token), options["encoding"])
    try:
        head = read_header(upload_path(token), options["encoding"], options["delimiter"])
    except UploadProblem as exc:
        upload_path(token).unlink(missing_ok=True)
        return upload_page(ui, options, str(exc), 422)
    # What "auto" found, and the sheet read, are shown and kept from here on.
    options["delimiter"], options["sheet"] = head.delimiter, head.sheet
    return mapping_page(ui, token, filename, head, guessed(ui, head.header),
                        options, intent)


def _selected(ui: Ui, header: Sequence[str]) -> tuple[list[str], str | None]:
    """The field chosen for each column on the mapping form, and what says
    which columns' fields no longer exist (a custom field deleted since the
    page was shown): those columns are set to ignore, the others keep theirs."""
    choices = {name for name, _ in field_choices(ui)}
    selected = [request.form.get(f"map-{index}", "-") for index in range(len(header))]
    gone = [index for index, value in enumerate(selected) if value != "-" and value not in choices]
    if not gone:
        return selected, None
    problems = [f"Column “{header[index].strip() or index + 1}”: the field {selected[index]} "
                "no longer exists (deleted since this page was shown)." for index in gone]
    for index in gone:
        selected[index] = "-"
    return selected, " ".join([*problems, "Those columns are set to ignore: choose again."])


def mapping_view(ui: Ui) -> Any:
    token = request.form.get("token", "")
    filename = request.form.get("filename", "")[:255] or "import.csv"
    intent = "import" if request.form.get("action") == "import" else "check"
    options = options_from_form()
    # How the columns on the form were read: a CSV's encoding and separator,
    # a workbook's sheet.
    read_as = {"encoding": request.form.get("encoding_read"),
               "delimiter": request.form.get("delimiter_read"),
               "sheet": request.form.get("sheet_read")}
    try:
        path = stored_upload(token)
    except UploadProblem as exc:
        return upload_page(ui, options, str(exc), 422)
    try:
        head = read_header(path, options["encoding"], options["delimiter"], options["sheet"])
    except UploadProblem as exc:
        if read_as["encoding"] in dict(import_svc.ENCODINGS) and read_as["delimiter"] in DELIMITERS:
            # Another encoding or separator chosen that does not read: the
            # columns stay as they were read, with the reason.
            with suppress(UploadProblem):
                options.update(encoding=read_as["encoding"], delimiter=read_as["delimiter"])
                head = read_header(path, options["encoding"], options["delimiter"])
                selected, gone = _selected(ui, head.header)
                return mapping_page(ui, token, filename, head, selected, options, "check",
                                    " ".join(filter(None, [str(exc), gone])), status=422)
        return upload_page(ui, options, str(exc), 422)
    header = head.header
    options["delimiter"], options["sheet"] = head.delimiter, head.sheet
    if ((head.sheets is not None and head.sheet != read_as["sheet"])
            or (head.sheets is None and (options["encoding"], head.delimiter)
                != (read_as["encoding"], read_as["delimiter"]))):
        # Read otherwise, other columns: map them before anything is checked.
        return mapping_page(ui, token, filename, head, guessed(ui, header),
                            options, "check")
    selected, gone = _selected(ui, header)
    if gone:
        return mapping_page(ui, token, filename, head, selected, options, intent, gone,
                            status=422)
    if request.form.get("action") == "read":  # read as it already was
        return mapping_page(ui, token, filename, head, selected, options, "check")
    # By position: columns of the same name may go to different fields.
    options["columns"] = selected
    if header_problem(ui, header, selected, options):
        # Refused here rather than left to fail as an "invalid" job: the page
        # says why, once.
        return mapping_page(ui, token, filename, head, selected, options, intent, status=422)
    session = db()
    inline_check = intent == "check" and path.stat().st_size <= (
        INLINE_CHECK_MAX_BYTES if head.sheets is None else INLINE_CHECK_MAX_WORKBOOK_BYTES)
    try:
        service_options = import_svc.ImportOptions(**options, dry_run=intent == "check")
        if inline_check:
            # A dry run only reads: it ends the request's transaction, which
            # may write (on SQLite it holds the write lock), and reads the
            # file's records in a session of its own, holding no writer up.
            user = actor()
            session.commit()
            with current_app.extensions["crm"].sessions() as reading:
                report = import_svc.check(reading, user, ui.kind, path, service_options)
            if report.error_count <= SHOWN_ERRORS:
                return mapping_page(ui, token, filename, head, selected, options, intent,
                                    report=report)
            # More problems than a page shows: a dry run's job keeps every one,
            # for its page to offer as a download.
        job = import_svc.start(session, actor(), ui.kind, path, filename, service_options)
        job_id = job.id
        session.commit()
    except CrmError as exc:
        session.rollback()
        # What the detail says already (a header's problems, by cause) is not repeated.
        details = [m for field, messages in exc.errors.items() if field != "file"
                   for m in (messages if isinstance(messages, list) else [messages])
                   if str(m) not in exc.detail]
        return mapping_page(ui, token, filename, head, selected, options, intent,
                            " ".join([exc.detail, *map(str, details)]), status=422)
    web_session["import_uploads"] = [t for t in web_session.get("import_uploads", [])
                                     if t != token]
    jobs.dispatch_import(current_app.extensions["crm"].sessions, job_id)
    flash(f"Dry run #{job_id} started: nothing will be written." if intent == "check"
          else f"Import #{job_id} started.", "info")
    return redirect(url_for("web.import_job", job_id=job_id), 303)


def register_routes(ui: Ui) -> None:
    """The import pages for leads and contacts: web.leads_import and
    web.leads_import_mapping (web.contacts_import ... for contacts)."""
    for rule, endpoint, view, methods in (
            (f"/{ui.plural}/import", f"{ui.plural}_import", upload_view, ["GET", "POST"]),
            (f"/{ui.plural}/import/mapping", f"{ui.plural}_import_mapping", mapping_view,
             ["POST"])):
        bp.add_url_rule(rule, endpoint, ui_view(view, ui, endpoint, __name__), methods=methods)


register_routes(LEAD_UI)
register_routes(CONTACT_UI)


@bp.get("/imports")
def imports() -> Any:
    before = request.args.get("before", type=int)
    page = import_svc.list_jobs(db(), actor(), before=before)
    return render("web/imports.html", jobs=page.jobs, older=before is not None,
                  stalled={j.id for j in page.jobs if import_svc.stalled(j)},
                  people=users_by_id(j.created_by for j in page.jobs),
                  next_url=url_for("web.imports", before=page.older) if page.older else None)


@bp.get("/imports/<int:job_id>/problems.csv")
def import_problems(job_id: int) -> Any:
    return problems_download(actor(), job_id)


@bp.get("/imports/<int:job_id>")
def import_job(job_id: int) -> Any:
    session = db()
    job = import_svc.get_job(session, actor(), job_id)
    stalled = import_svc.stalled(job)
    return render("web/import_job.html", job=job, active=job.status in ACTIVE and not stalled,
                  started=import_svc.started_import(session, job),
                  stalled=stalled, revertible=import_svc.revertible(job),
                  resumable=import_svc.resumable(job),
                  progress_done=import_svc.rows_written(job),
                  revert_total=job.created_count + job.updated_count,
                  people=users_by_id([job.created_by, job.reverted_by]), shown_errors=SHOWN_ERRORS,
                  hidden_errors=max(job.error_count - len(job.errors or []), 0),
                  list_url=url_for("web.leads" if job.record_type == "lead"
                                   else "web.contacts"))


def _queue(queue: import_svc.QueueWork, dispatch: jobs.Dispatch, job_id: int, done: str
           ) -> Any:
    """Queue background work on a job (``queue`` raises NotFound, the 404 page,
    or Conflict, flashed), start it, and go back to the job's page."""
    session = db()
    try:
        queue(session, actor(), job_id)
        session.commit()
    except Conflict as exc:
        session.rollback()
        flash(exc.detail, "error")
    else:
        dispatch(current_app.extensions["crm"].sessions, job_id)
        flash(done, "info")
    return redirect(url_for("web.import_job", job_id=job_id), 303)


@bp.post("/imports/<int:job_id>/revert")
def import_revert(job_id: int) -> Any:
    return _queue(import_svc.queue_revert, jobs.dispatch_revert, job_id,
                  f"Import #{job_id} is being reverted.")


@bp.post("/imports/<int:job_id>/resume")
def import_resume(job_id: int) -> Any:
    return _queue(import_svc.queue_resume, jobs.dispatch_import, job_id,
                  f"Import #{job_id} is being resumed.")


@bp.post("/imports/<int:job_id>/import")
def import_checked(job_id: int) -> Any:
    """Import the file a dry run checked, without uploading it again."""
    session = db()
    try:
        job = import_svc.import_checked(session, actor(), job_id,  # NotFound: the 404 page
                                        skip_bad_rows=request.form.get("skip_bad_rows") == "1")
        new_id = job.id
        session.commit()
    except Conflict as exc:
        session.rollback()
        flash(exc.detail, "error")
        return redirect(url_for("web.import_job", job_id=job_id), 303)
    jobs.dispatch_import(current_app.extensions["crm"].sessions, new_id)
    flash(f"Import #{new_id} started.", "info")
    return redirect(url_for("web.import_job", job_id=new_id), 303)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc: RequestEntityTooLarge) -> Any:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.endpoint in ("web.leads_import", "web.contacts_import"):
        limit = max_bytes()
    detail = (f"The upload is larger than {size_label(int(limit))}." if limit
              else "The upload is too large.")
    return render("web/error.html", 413, title="File too large",
                  detail=detail + " Split the file into smaller ones and import each.")
