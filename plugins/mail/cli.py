"""``crm mail import PATH...``: fill the archive from mbox files, Maildirs,
single messages and folders of ``.eml`` files."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import click
from crmcore_plugins.mail.parsing import Found, MailReadError, read_path
from crmcore_plugins.mail.services.store import Refusal, limits, store_messages

from crmcore.db import command_sessions, transaction
from crmcore.errors import CrmError

# Messages per transaction: a long import keeps what it stored if stopped,
# and memory holds one batch, not the whole mailbox.
BATCH = 200


@click.group("mail")
def mail_group() -> None:
    """The mail archive."""


def _batches(found: Iterable[Found]) -> Iterator[list[Found]]:
    batch: list[Found] = []
    for item in found:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@mail_group.command("import")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(path_type=Path, exists=False))
def import_command(paths: tuple[Path, ...]) -> None:
    """Import mail from PATHS: mbox files, Maildir folders, .eml files or folders
    of .eml files (detected by their content). Importing the same mail again adds
    nothing. Exits with 1 when no message could be read."""
    try:
        sessions = command_sessions()
        with sessions() as probe:
            max_message, _ = limits(probe)
    except CrmError as exc:
        raise click.ClickException(exc.detail) from None
    stored = duplicates = 0
    refused: list[Refusal] = []
    for path in paths:
        try:
            for batch in _batches(read_path(path, max_message_bytes=max_message)):
                refused += [Refusal(f.label, f.error) for f in batch if f.error]
                readable = [(f.label, f.raw) for f in batch if f.raw is not None]
                if not readable:
                    continue
                with transaction(sessions) as session:
                    result = store_messages(
                        session, [raw for _, raw in readable], "import",
                        labels=[label for label, _ in readable])
                stored += result.stored
                duplicates += result.duplicates
                refused += result.refused
                for skipped in result.skipped_attachments:
                    click.echo(f"{skipped.label}: {skipped.reason}")
        except MailReadError as exc:
            refused.append(Refusal(str(path), exc.detail))
    for refusal in refused:
        click.echo(f"refused {refusal.label}: {refusal.reason}")
    click.echo(f"imported {stored}, already in the archive {duplicates}, "
               f"refused {len(refused)}")
    if stored + duplicates == 0:
        raise SystemExit(1)
