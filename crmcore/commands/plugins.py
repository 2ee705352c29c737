"""``crm plugins list|enable|disable|hooks``."""

from __future__ import annotations

import os

import click

from crmcore.app import build_runtime
from crmcore.commands import clear_errors
from crmcore.config import instance_path
from crmcore.errors import CrmError, PluginError
from crmcore.plugins import (
    describe,
    installed,
    read_settings_file,
    requested,
    resolve,
    write_enabled,
)
from crmcore.types import PluginInfo


@click.group("plugins")
def plugins_group() -> None:
    """Which plugins run on this install."""


def _infos() -> dict[str, PluginInfo]:
    return {name: describe(name, src)[0] for name, src in installed().items()}


def _enabled_in_file(known: list[str]) -> set[str]:
    # `enable` and `disable` edit the file; CRM_PLUGINS, when set, is left alone.
    return set(read_settings_file(instance_path()).get("enabled", known))


@plugins_group.command("list")
@clear_errors
def list_plugins() -> None:
    """Show every installed plugin: version, state, requirements and hooks."""
    sources = installed()
    try:
        enabled = set(requested(instance_path(), list(sources)))
    except PluginError as exc:
        click.echo(f"warning: {exc.detail}", err=True)
        enabled = set()
    hooks: dict[str, list[str]] = {}
    try:
        runtime = build_runtime()
        hooks = {name: runtime.plugins.hooks_of(name) for name in runtime.plugins.order}
    except CrmError as exc:
        click.echo(f"warning: the enabled plugins do not load: {exc.detail}", err=True)
    if not sources:
        click.echo("no plugins installed")
    for name, source in sources.items():
        try:
            info, version = describe(name, source)
        except PluginError as exc:
            click.echo(f"{name}  BROKEN  {exc.detail}")
            continue
        state = "enabled" if name in enabled else "disabled"
        click.echo(f"{name} {version}  [{state}]  {info.description}")
        if info.requires:
            click.echo(f"    requires: {', '.join(info.requires)}")
        if name in hooks:
            click.echo(f"    hooks: {', '.join(hooks[name]) or '(none)'}")


@plugins_group.command("enable")
@click.argument("name")
@clear_errors
def enable(name: str) -> None:
    """Enable plugin NAME and migrate its branch."""
    infos = _infos()
    if name not in infos:
        raise PluginError(f"unknown plugin {name!r}; installed plugins are: "
                          f"{', '.join(infos) or '(none)'}")
    enabled = _enabled_in_file(list(infos))
    if name in enabled:
        click.echo(f"{name} is already enabled")
        return
    resolve(enabled | {name}, infos)
    write_enabled(instance_path(), enabled | {name})
    click.echo(f"enabled {name}")
    _warn_env_override()
    from crmcore import alembic_branches  # as in crmcore.commands.db: only when migrating

    runtime = build_runtime({"PLUGINS": ",".join(sorted(enabled | {name}))})
    core, *plugin_branches = alembic_branches.branches(runtime.hook)
    if alembic_branches.current(runtime.engine, core) is None:
        click.echo("the database is not initialized yet; run `crm init`")
        return
    for branch in plugin_branches:
        if branch.name == name:
            applied = alembic_branches.upgrade(runtime.engine, branch)
            click.echo(f"{name}: applied {', '.join(applied) or 'nothing'}")


@plugins_group.command("disable")
@click.argument("name")
@clear_errors
def disable(name: str) -> None:
    """Disable plugin NAME. Its tables and data are kept."""
    infos = _infos()
    if name not in infos:
        raise PluginError(f"unknown plugin {name!r}; installed plugins are: "
                          f"{', '.join(infos) or '(none)'}")
    enabled = _enabled_in_file(list(infos))
    if name not in enabled:
        click.echo(f"{name} is already disabled")
        return
    dependents = sorted(n for n in enabled if name in infos[n].requires)
    if dependents:
        raise PluginError(f"cannot disable {name!r}: {', '.join(dependents)} require(s) it")
    write_enabled(instance_path(), enabled - {name})
    click.echo(f"disabled {name}; its tables and data are kept")
    _warn_env_override()


def _warn_env_override() -> None:
    if "CRM_PLUGINS" in os.environ:
        click.echo("note: CRM_PLUGINS is set and overrides the plugins file", err=True)


@plugins_group.command("hooks")
def hooks() -> None:
    """Print the hook reference, generated from the hook specifications."""
    from crmcore.hookdocs import render_markdown

    click.echo(render_markdown(), nl=False)


COMMANDS = [plugins_group]
