"""The ``crm`` command line.

Commands build what they need themselves (:func:`crmcore.app.build_runtime` or a
full app), so a broken plugin or an unreachable database produces one clear
message instead of a traceback, and ``crm plugins`` keeps working to fix it.
"""

from __future__ import annotations

import sys

import click

from crmcore import __version__
from crmcore.errors import CrmError


class CrmGroup(click.Group):
    """The root group; adds enabled plugins' commands on first use. A plugin that
    fails to load is reported once and the core commands still work."""

    _plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from crmcore.app import build_runtime

        try:
            runtime = build_runtime()
        except CrmError as exc:
            if not any(arg in ("plugins", "--help", "init") for arg in sys.argv[1:2]):
                click.echo(f"warning: plugin commands unavailable: {exc.detail}", err=True)
            return
        for result in runtime.hook.crm_cli_commands():
            for command in result or ():
                if command.name in self.commands:
                    click.echo(f"warning: command {command.name!r} is already taken; skipped",
                               err=True)
                    continue
                self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        found = super().get_command(ctx, name)
        if found is None:
            self._load_plugin_commands()
            found = super().get_command(ctx, name)
        return found


@click.group(cls=CrmGroup)
@click.version_option(__version__, prog_name="crmcore")
def cli() -> None:
    """crmcore: a plugin-based CRM.

    Configure with CRM_INSTANCE_PATH, CRM_DATABASE_URL, CRM_SECRET_KEY and CRM_PLUGINS.
    """


def main() -> None:
    cli(prog_name="crm")


def register_core_commands() -> None:
    from crmcore.commands import db, plugins, records, server

    for module in (db, plugins, records, server):
        for command in module.COMMANDS:
            cli.add_command(command)


register_core_commands()

