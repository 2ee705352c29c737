"""Finding, enabling and loading plugins.

A plugin is an entry point in the group ``crm.plugins`` that names a
:class:`crmcore.PluginInfo`. Which plugins run is decided per install:

1. ``CRM_PLUGINS`` (a comma list, ``all`` or ``none``) when set, else
2. the ``enabled`` list in ``<instance>/plugins.toml`` (written by
   ``crm plugins enable|disable``), else
3. every installed plugin.

Only the enabled plugins' hook modules are imported. They are loaded in a
deterministic order (a plugin after the plugins it requires, ties broken by
name) and their hooks are called in that order, after the core's own.
"""

from __future__ import annotations

import logging
import os
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import tomli_w
from marshmallow import ValidationError

from crmcore import hookspecs
from crmcore.errors import PluginError
from crmcore.types import PluginInfo

ENTRY_POINT_GROUP = "crm.plugins"
SETTINGS_FILE = "plugins.toml"
CORE = "core"

log = logging.getLogger("crmcore.plugins")


@dataclass
class LoadedPlugin:
    """An enabled plugin after its hook module was imported and registered."""

    info: PluginInfo
    version: str
    module: ModuleType
    settings: dict[str, Any] = field(default_factory=dict)


# -- discovery ----------------------------------------------------------------------


def installed(extra: Mapping[str, PluginInfo] | None = None) -> dict[str, PluginInfo | EntryPoint]:
    """Every installed plugin by name: entry points (not yet loaded) plus ``extra``
    descriptors given directly, which is how tests register throwaway plugins."""
    found: dict[str, PluginInfo | EntryPoint] = {
        ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)
    }
    found.update(extra or {})
    return dict(sorted(found.items()))


def describe(name: str, source: PluginInfo | EntryPoint) -> tuple[PluginInfo, str]:
    """Load a plugin's descriptor (cheap: its package ``__init__`` only) and version."""
    if isinstance(source, PluginInfo):
        return source, source.version or "0"
    try:
        info = source.load()
    except Exception as exc:
        raise PluginError(f"plugin {name!r} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not isinstance(info, PluginInfo):
        raise PluginError(
            f"plugin {name!r}: entry point {source.value!r} must name a crmcore.PluginInfo, "
            f"not {type(info).__name__}"
        )
    if info.name != name:
        raise PluginError(f"plugin {name!r}: its PluginInfo is named {info.name!r}")
    dist_version = source.dist.version if source.dist else "0"
    return info, info.version or dist_version


# -- enablement ---------------------------------------------------------------------


def settings_path(instance: Path) -> Path:
    return instance / SETTINGS_FILE


def read_settings_file(instance: Path) -> dict[str, Any]:
    path = settings_path(instance)
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise PluginError(f"{path} is not valid TOML: {exc}") from None


def write_enabled(instance: Path, names: Iterable[str]) -> None:
    """Store the enabled list, keeping any plugin settings already in the file."""
    data = read_settings_file(instance)
    data["enabled"] = sorted(names)
    instance.mkdir(parents=True, exist_ok=True)
    tmp = settings_path(instance).with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(data))
    tmp.replace(settings_path(instance))


def requested(instance: Path, known: Iterable[str], env: str | None = None) -> list[str]:
    """The plugin names this install asks for, before requirements are checked."""
    known = list(known)
    raw = os.environ.get("CRM_PLUGINS") if env is None else env
    if raw is not None:
        value = raw.strip()
        if value.lower() == "all":
            return known
        if value.lower() in ("none", ""):
            return []
        names = [n.strip() for n in value.split(",") if n.strip()]
        source = "CRM_PLUGINS"
    else:
        data = read_settings_file(instance)
        if "enabled" not in data:
            return known
        names = list(data["enabled"])
        source = str(settings_path(instance))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise PluginError(
            f"{source} names unknown plugin(s) {', '.join(sorted(unknown))}; "
            f"installed plugins are: {', '.join(known) or '(none)'}"
        )
    return names


def resolve(names: Iterable[str], infos: Mapping[str, PluginInfo]) -> list[str]:
    """Order ``names`` so that each plugin follows those it requires.

    Refuses a requirement that is not installed or not enabled, and a cycle,
    with a message naming the plugins involved.
    """
    enabled = set(names)
    for name in sorted(enabled):
        missing = [r for r in infos[name].requires if r not in enabled]
        if missing:
            state = ["not installed" if r not in infos else "not enabled" for r in missing]
            detail = ", ".join(f"{r} ({s})" for r, s in zip(missing, state, strict=True))
            raise PluginError(f"plugin {name!r} requires {detail}")
    order: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            cycle = visiting[visiting.index(name) :] + [name]
            raise PluginError(f"circular plugin requirements: {' -> '.join(cycle)}")
        visiting.append(name)
        for dep in sorted(infos[name].requires):
            visit(dep)
        visiting.pop()
        order.append(name)

    for name in sorted(enabled):
        visit(name)
    return order


# -- loading ------------------------------------------------------------------------


def plugin_settings(info: PluginInfo, instance: Path) -> dict[str, Any]:
    """A plugin's settings: schema defaults, then the settings file, then
    ``CRM_<PLUGIN>_<SETTING>`` environment variables; validated by its schema."""
    if info.settings is None:
        return {}
    schema = info.settings()
    raw: dict[str, Any] = dict(read_settings_file(instance).get("settings", {}).get(info.name, {}))
    prefix = f"CRM_{info.name.upper()}_"
    for key in schema.fields:
        env_value = os.environ.get(prefix + key.upper())
        if env_value is not None:
            raw[key] = env_value
    try:
        return schema.load(raw)
    except ValidationError as exc:
        fields = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.messages.items())
        raise PluginError(f"plugin {info.name!r} has invalid settings: {fields}") from None


class PluginSet:
    """The plugin manager of one application: enabled plugins, loaded and registered."""

    def __init__(self, instance: Path, extra: Mapping[str, PluginInfo] | None = None,
                 enabled: str | None = None) -> None:
        self.instance = instance
        self.pm = pluggy.PluginManager("crm")
        self.pm.add_hookspecs(hookspecs)
        self.sources = installed(extra)
        infos = {name: describe(name, src) for name, src in self.sources.items()}
        self.infos = {name: info for name, (info, _) in infos.items()}
        self.versions = {name: version for name, (_, version) in infos.items()}
        self.order = resolve(requested(instance, self.infos, enabled), self.infos)
        self.loaded: dict[str, LoadedPlugin] = {}
        for name in self.order:
            self.loaded[name] = self._load(name)
        # pluggy calls the last registered implementation first: register in
        # reverse so that calls follow load order, with the core ahead of all.
        for name in reversed(self.order):
            self._register(name, self.loaded[name].module)
        self._register(CORE, import_module("crmcore.core_hooks"))
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"plugin {self.pm.get_name(exc.plugin)!r} implements an unknown hook: {exc}"
            ) from None
        if os.environ.get("CRM_TRACE_HOOKS"):
            trace_hook_calls(self.pm)

    def _load(self, name: str) -> LoadedPlugin:
        info = self.infos[name]
        try:
            module = import_module(info.hooks)
        except Exception as exc:
            raise PluginError(
                f"plugin {name!r} failed to import {info.hooks}: {type(exc).__name__}: {exc}"
            ) from exc
        return LoadedPlugin(info, self.versions[name], module, plugin_settings(info, self.instance))

    def _register(self, name: str, module: ModuleType) -> None:
        try:
            self.pm.register(module, name=name)
        except Exception as exc:
            raise PluginError(
                f"plugin {name!r} failed to register: {type(exc).__name__}: {exc}"
            ) from exc

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def hooks_of(self, name: str) -> list[str]:
        """The hook names a loaded plugin implements."""
        plugin = self.pm.get_plugin(name)
        return sorted(h.name for h in self.pm.get_hookcallers(plugin) or []) if plugin else []

    def settings(self, name: str) -> dict[str, Any]:
        return self.loaded[name].settings


def trace_hook_calls(pm: pluggy.PluginManager) -> None:
    """Log every hook call with its implementations and how long it took."""
    trace = logging.getLogger("crmcore.hooks")
    started: list[float] = []

    def before(hook_name: str, impls: list[Any], kwargs: Mapping[str, Any]) -> None:
        started.append(time.perf_counter())

    def after(outcome: Any, hook_name: str, impls: list[Any], kwargs: Mapping[str, Any]) -> None:
        elapsed = (time.perf_counter() - started.pop()) * 1000
        names = ", ".join(i.plugin_name for i in reversed(impls)) or "(none)"
        trace.info("hook %s -> [%s] %.3f ms", hook_name, names, elapsed)

    pm.add_hookcall_monitoring(before, after)
