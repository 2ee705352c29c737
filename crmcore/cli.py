"""The ``crm`` command line.

Commands build what they need themselves (:func:`crmcore.app.build_runtime` or a
full app), so a broken plugin or an unreachable database produces one clear
message instead of a traceback, and ``crm plugins`` keeps working to fix it.
"""

from __future__ import annotations

import os
import sys

import click

from crmcore import __version__
from crmcore.commands import utf8
from crmcore.errors import CrmError


class CrmGroup(click.Group):
    """The root group: core commands, then enabled plugins' commands. Plugin
    commands are looked up per invocation; a plugin that fails to load is
    reported and the core commands still work."""

    def _plugin_commands(self) -> dict[str, click.Command]:
        from crmcore.app import build_runtime

        try:
            runtime = build_runtime()
        except CrmError as exc:
            if sys.argv[1:2] not in (["plugins"], ["init"]):
                click.echo(f"warning: plugin commands unavailable: {exc.detail}", err=True)
            return {}
        found: dict[str, click.Command] = {}
        for result in runtime.hook.crm_cli_commands():
            for command in result or ():
                if command.name in self.commands or command.name in found:
                    click.echo(f"warning: command {command.name!r} is taken twice; "
                               "the later one is skipped", err=True)
                    continue
                found[command.name] = command
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self.commands.get(name) or self._plugin_commands().get(name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Bytes the terminal could not decode reach Python as surrogates, which
        # no database driver encodes: a name or an address holding them failed
        # deep in a command. A file's name in another encoding still works.
        for arg in args:
            if not utf8(arg) and not os.path.exists(arg):
                raise click.UsageError(f"{os.fsencode(arg)!r} is not valid UTF-8 text; "
                                       "is the terminal set to UTF-8?", ctx)
        return super().parse_args(ctx, args)


@click.group(cls=CrmGroup)
@click.version_option(__version__, prog_name="crmcore")
def cli() -> None:
    """crmcore: a plugin-based CRM.

    Configure with CRM_INSTANCE_PATH, CRM_DATABASE_URL, CRM_SECRET_KEY and CRM_PLUGINS.
    """


def main() -> None:
    cli(prog_name="crm")


def register_core_commands() -> None:
    from crmcore.commands import db, imports, plugins, records, server

    for module in (db, imports, plugins, records, server):
        for command in module.COMMANDS:
            cli.add_command(command)


register_core_commands()

