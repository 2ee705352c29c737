"""``crm init`` and ``crm db ...``.

Alembic is imported by the commands that migrate or read revisions, not at
module level: every ``crm`` command registers these, and would pay for it.
"""

from __future__ import annotations

import click

from crmcore.app import Runtime, build_runtime
from crmcore.commands import clear_errors
from crmcore.config import secret_key
from crmcore.db import check_connection
from crmcore.plugins import settings_path, write_enabled


def _migrate(runtime: Runtime, only: str | None = None) -> None:
    from crmcore import alembic_branches

    check_connection(runtime.engine)
    for name, applied in alembic_branches.upgrade_all(runtime.engine, runtime.hook, only).items():
        if applied:
            click.echo(f"{name}: applied {', '.join(applied)}")
        else:
            click.echo(f"{name}: up to date")


@click.command("init")
@clear_errors
def init() -> None:
    """Create the instance folder and database, and migrate. Safe to run again."""
    runtime = build_runtime()
    runtime.instance.mkdir(parents=True, exist_ok=True)
    secret_key(runtime.instance)
    if not settings_path(runtime.instance).exists():
        write_enabled(runtime.instance, runtime.plugins.order)
    _migrate(runtime)
    click.echo(f"instance ready in {runtime.instance}")


@click.group("db")
def db_group() -> None:
    """Database migrations for the core and every enabled plugin."""


@db_group.command("upgrade")
@click.option("--plugin", "only", metavar="NAME", help="Migrate this branch alone.")
@clear_errors
def upgrade(only: str | None) -> None:
    """Migrate the core, then each enabled plugin, to its latest revision."""
    _migrate(build_runtime(), only)


@db_group.command("current")
@clear_errors
def current() -> None:
    """Show each branch's revision and whether it is up to date."""
    from crmcore import alembic_branches

    runtime = build_runtime()
    check_connection(runtime.engine)
    for branch in alembic_branches.branches(runtime.hook):
        rev = alembic_branches.current(runtime.engine, branch)
        head = alembic_branches.head(branch)
        if rev is None:
            state = f"not migrated; head {head}" if head else "no migrations found"
        else:
            state = "up to date" if rev == head else f"behind (head {head})"
        click.echo(f"{branch.name}: {rev or 'none'} ({state})")


COMMANDS = [init, db_group]
