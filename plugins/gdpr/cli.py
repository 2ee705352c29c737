"""``crm gdpr sweep`` and ``crm gdpr export``: the retention sweep (for cron) and
subject access exports from the command line. Both act as the system (no user)
and are recorded in the audit log."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
from crmcore_plugins.gdpr.services.export import export_email, to_json, to_zip
from crmcore_plugins.gdpr.services.sweep import sweep

from crmcore.db import command_sessions, transaction
from crmcore.errors import CrmError


def _clear_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A CrmError is a message for the person at the terminal and exit status 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CrmError as exc:
            details = [f"  {name}: {' '.join(map(str, msgs if isinstance(msgs, list) else [msgs]))}"
                       for name, msgs in exc.errors.items()]
            raise click.ClickException("\n".join([exc.detail, *details])) from None

    return wrapper


@click.group("gdpr")
def gdpr_group() -> None:
    """GDPR: retention sweep and subject access exports."""


@gdpr_group.command("sweep")
@click.option("--dry-run", is_flag=True, help="List what would be anonymized; change nothing.")
@_clear_errors
def sweep_command(dry_run: bool) -> None:
    """Anonymize leads and contacts untouched for longer than the retention policy.

    Meant for cron: running it twice, or twice at once, anonymizes each record once.
    Exits with status 1 when a plugin failed to erase a record (the others are done).
    """
    report = sweep(command_sessions(), dry_run=dry_run)
    for line in report.lines():
        click.echo(line)
    if report.failed:
        sys.exit(1)


@gdpr_group.command("export")
@click.option("--email", required=True, help="The person's email address.")
@click.option("--zip", "zip_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a ZIP (JSON and files) here instead of JSON to standard output.")
@_clear_errors
def export_command(email: str, zip_path: Path | None) -> None:
    """Export everything the CRM holds about the person with EMAIL (GDPR Art. 15, 20)."""
    with transaction(command_sessions()) as session:
        export = export_email(session, None, email, via="cli")
        if zip_path is None:
            click.echo(to_json(export).decode())
        else:
            # Inside the transaction: if the file cannot be written, the audit
            # log does not claim an export happened.
            try:
                zip_path.write_bytes(to_zip(export))
            except OSError as exc:
                raise click.ClickException(f"Cannot write {zip_path}: {exc.strerror}.") from None
            click.echo(f"wrote {zip_path} ({len(export.records)} record"
                       f"{'s' if len(export.records) != 1 else ''})", err=True)
