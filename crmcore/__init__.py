"""crmcore: a plugin-based CRM framework.

The public plugin API is what this package exports: ``hookimpl`` to mark hook
implementations, ``PluginInfo`` to describe a plugin, and the value types that
hooks pass and return. Everything else is internal and may change.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

from crmcore.types import (
    Action,
    BinRow,
    BinType,
    Event,
    NavItem,
    Permission,
    Person,
    PersonalField,
    PersonExport,
    PluginInfo,
    Role,
    TimelineItem,
    Widget,
)

try:
    __version__ = version("crmcore")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

hookimpl = pluggy.HookimplMarker("crm")

__all__ = [
    "Action",
    "BinRow",
    "BinType",
    "TimelineItem",
    "Event",
    "NavItem",
    "Permission",
    "Person",
    "PersonalField",
    "PersonExport",
    "PluginInfo",
    "Role",
    "Widget",
    "__version__",
    "hookimpl",
]
