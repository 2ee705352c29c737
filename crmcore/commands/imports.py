"""``crm leads import``, ``crm contacts import`` and ``crm imports ...``."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from crmcore.app import build_runtime
from crmcore.commands import clear_errors, utf8
from crmcore.db import transaction
from crmcore.errors import interrupted
from crmcore.models import ImportJob
from crmcore.services import imports
from crmcore.services import records as rec
from crmcore.services.cells import DELIMITERS
from crmcore.services.exports import problems_csv
from crmcore.services.users import user_by_email


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        header, sep, field = pair.rpartition("=")
        if not sep or not header:
            raise click.BadParameter(f"{pair!r}: use HEADER=FIELD", param_hint="--map")
        mapping[header] = field
    return mapping


def _show_problems(errors: Iterable[Sequence[Any]], total: int = 0,
                   job_id: int | None = None) -> None:
    """Print problems; with ``total`` beyond them, say how many more there are
    and, for a job, how to list them all."""
    shown = 0
    for row, column, message in errors:
        click.echo(f"  row {row}, column {column}: {message}", err=True)
        shown += 1
    if total > shown:
        where = f": `crm imports problems {job_id}` lists them all" if job_id else ""
        click.echo(f"  ... and {total - shown} more{where}", err=True)


def import_command(kind: rec.Kind) -> click.Command:
    plural = f"{kind.record_type}s"

    @click.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--map", "pairs", multiple=True, metavar="HEADER=FIELD",
                  help="Map a column to a field (- to ignore it). Repeatable. "
                       "Unmapped columns match by name, a custom field's label too (a "
                       "name that fits two fields must be mapped): several may fill a "
                       "list (Email, Email 2); a lead's First Name and Last Name join "
                       "into its full_name, a contact's Name splits into first and last "
                       "name (\"Lovelace, Ada\", \"Jan van der Berg\", \"King Jr.\").")
    @click.option("--on-duplicate", type=click.Choice(imports.POLICIES), default="report",
                  show_default=True, help="Rows whose email is already in the CRM. An "
                  "update leaves a field whose cell is blank as it is, unless "
                  "--blank-cells clear.")
    @click.option("--blank-cells", type=click.Choice(imports.BLANK_CELLS), default="keep",
                  show_default=True,
                  help="What a blank cell does to a record a row updates: keep its value, "
                       "or clear it (once every column filling the field is blank; a "
                       "blank phone clears the phones of a record found by email too). "
                       "A field the record must have (name, a lead's stage, a required "
                       "custom field, the first email) is a problem of the row; columns "
                       "not in the file, and created records, are as ever.")
    @click.option("--match-by", type=click.Choice(imports.MATCHES), default="email",
                  show_default=True,
                  help="How rows find their records: by first email, or by the id column "
                       "of an export (a row may then change the first email).")
    @click.option("--skip-bad-rows", is_flag=True,
                  help="Import the good rows even when some are bad.")
    @click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
    @click.option("--encoding", default="utf-8-sig", show_default=True,
                  help="The text encoding of a CSV.")
    @click.option("--delimiter", type=click.Choice(["auto", *DELIMITERS]),
                  default="auto", show_default=True,
                  help="What separates a CSV's cells; auto takes what the header row uses.")
    @click.option("--sheet", metavar="NAME",
                  help="The workbook's sheet to read (by default its first that is not "
                       "hidden; a hidden sheet is read only when named).")
    @click.option("--as", "as_email", metavar="EMAIL",
                  help="Import as this user (owner of new records, checked permissions).")
    @clear_errors
    def command(file: Path, pairs: tuple[str, ...], on_duplicate: str, blank_cells: str,
                match_by: str, skip_bad_rows: bool, dry_run: bool, encoding: str, delimiter: str,
                sheet: str | None, as_email: str | None) -> None:
        if not utf8(str(file.resolve())):
            # The job records where the file is, to resume; no column stores this.
            raise click.ClickException(f"The file's path is not valid UTF-8 "
                                       f"({os.fsencode(file.resolve())!r}): rename the file.")
        options = imports.ImportOptions(mapping=_mapping(pairs), on_duplicate=on_duplicate,
                                        blank_cells=blank_cells, match_by=match_by,
                                        skip_bad_rows=skip_bad_rows, encoding=encoding,
                                        delimiter=delimiter, sheet=sheet)
        runtime = build_runtime()
        with runtime.sessions() as session:
            actor = user_by_email(session, as_email) if as_email else None
            if dry_run:
                # Every problem, as each batch is checked.
                report = imports.check(session, actor, kind, file, options,
                                       progress=lambda n: click.echo(f"checked {n} rows",
                                                                     err=True),
                                       store=_show_problems)
                click.echo(f"{report.total_rows} rows: would {imports.would_do(report)}; "
                           f"{report.error_count} problem(s)")
                if report.error_count:
                    raise SystemExit(1)
                return
        with transaction(runtime.sessions) as session:
            actor = session.merge(actor) if actor else None
            job_id = imports.start(session, actor, kind, file.resolve(), file.name, options).id

        def progress(job: ImportJob) -> None:
            done = (f"checked {job.total_rows} rows" if job.status == "validating"
                    else _rows_done(job))
            click.echo(f"import #{job.id}: {done}", err=True)

        try:
            job = imports.run(runtime.sessions, job_id, progress)
        except BaseException as exc:
            if not interrupted(exc):
                raise
            _stopped(runtime.sessions, job_id)
        _finish(job)

    command.help = (f"Import {plural} from FILE: a CSV (or tab-separated text) or an Excel "
                    "workbook (.xlsx), whose first sheet is read unless --sheet names another "
                    "(hidden sheets are passed over unless named). "
                    "Every row is checked first; by default any problem stops the import "
                    "before anything is written.")
    return command


def _rows_done(job: ImportJob) -> str:
    """How far the writing is: rows gone through, not rows written, which the
    rows skipped or left out as bad are not (the end says what each became)."""
    return f"{imports.rows_written(job)} of {job.total_rows} rows done"


def _stopped(sessions: Any, job_id: int) -> NoReturn:
    """Say where an import stopped by Ctrl-C stands and how to go on."""
    with sessions() as session:
        job = imports.get_job(session, None, job_id)
    ways = [f"`crm imports {verb} {job_id}`" for verb, may in (
        ("resume", imports.resumable(job)),
        ("revert", imports.revertible(job))) if may]
    click.echo(f"import #{job_id} {job.status}: {job.message}"
               + (f" ({' or '.join(ways)})" if ways else ""), err=True)
    raise SystemExit(130)


def _finish(job: ImportJob) -> None:
    if job.status == "invalid":
        click.echo(f"import #{job.id}: {job.message}", err=True)
        # A file refused whole has that one problem, listed as row 0, whose
        # message is the job's, just shown.
        rows = [e for e in job.errors if e[0] != 0]
        _show_problems(rows, job.error_count - (len(job.errors) - len(rows)), job.id)
        raise SystemExit(1)
    click.echo(f"import #{job.id} {job.status}: {job.message}")
    if job.error_count:
        _show_problems(job.errors, job.error_count, job.id)


@click.group("leads")
def leads_group() -> None:
    """Leads from the command line."""


@click.group("contacts")
def contacts_group() -> None:
    """Contacts from the command line."""


leads_group.add_command(import_command(rec.LEADS))
contacts_group.add_command(import_command(rec.CONTACTS))


@click.group("imports")
def imports_group() -> None:
    """Imports: list, resume and revert."""


@imports_group.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="How many imports to list.")
@click.option("--before", type=click.IntRange(1), help="List the imports older than this one.")
@clear_errors
def list_imports(limit: int, before: int | None) -> None:
    """The latest imports with their state and counts, newest first."""
    runtime = build_runtime()
    with runtime.sessions() as session:
        page = imports.list_jobs(session, None, limit, before)
        if not page.jobs:
            click.echo("No older imports." if before else "No imports yet.")
        for job in page.jobs:
            stopped = ", stopped" if imports.stalled(job) else ""
            would = "would be " if job.status == "checked" else ""  # a dry run's counts
            click.echo(f"#{job.id} {job.record_type}s {job.filename} [{job.status}{stopped}] "
                       f"rows {job.total_rows}, {would}created {job.created_count}, "
                       f"updated {job.updated_count}, skipped {job.skipped_count}, "
                       f"problems {job.error_count}")
        if page.older:
            click.echo(f"Older imports: crm imports list --before {page.older}")


@imports_group.command("problems")
@click.argument("job_id", type=int)
@clear_errors
def list_problems(job_id: int) -> None:
    """Every problem an import found, as CSV (row, column, problem) on
    standard output: `crm imports problems 12 > problems.csv`."""
    runtime = build_runtime()
    with runtime.sessions() as session:
        for chunk in problems_csv(imports.problems(session, None, job_id)):
            click.echo(chunk, nl=False)


@imports_group.command("resume")
@click.argument("job_id", type=int)
@clear_errors
def resume(job_id: int) -> None:
    """Continue an interrupted import after its last written batch (or check
    its file again, if it stopped before writing)."""
    runtime = build_runtime()
    _finish(imports.resume(runtime.sessions, None, job_id,
                           lambda job: click.echo(_rows_done(job), err=True)))


@imports_group.command("revert")
@click.argument("job_id", type=int)
@clear_errors
def revert(job_id: int) -> None:
    """Undo an import: delete what it created, restore what it updated.
    Run it again to finish a revert that was interrupted."""
    runtime = build_runtime()
    job = imports.revert(runtime.sessions, None, job_id, lambda job: click.echo(
        f"{job.reverted_count} of {job.created_count + job.updated_count} records reverted",
        err=True))
    click.echo(f"import #{job.id}: {job.message}")


COMMANDS = [leads_group, contacts_group, imports_group]


@imports_group.command("clean")
@click.option("--days", default=7.0, show_default=True,
              help="Keep uploads younger than this many days.")
@clear_errors
def clean(days: float) -> None:
    """Delete uploaded CSV files that no running or resumable import needs."""
    runtime = build_runtime()
    removed = imports.clean_uploads(runtime.sessions, runtime.instance, days)
    click.echo(f"removed {len(removed)} uploaded file(s)")


@click.command("worker")
@click.option("--once", is_flag=True, help="Stop when the queue is empty.")
@clear_errors
def worker(once: bool) -> None:
    """Run background work (queued imports and reverts) when CRM_BACKGROUND=worker."""
    from crmcore.jobs import work

    def stop(_signum: int, _frame: Any) -> None:
        # As Ctrl-C does: the batch in flight rolls back and its job is marked
        # stopped, to be resumed or reverted at once (a service manager's stop
        # would otherwise leave it looking busy for ten minutes).
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    runtime = build_runtime()
    count = work(runtime.sessions, once=once, echo=click.echo)
    click.echo(f"ran {count} job(s)")


COMMANDS.append(worker)
