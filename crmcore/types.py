"""Value types of the plugin API: what plugins declare and what hooks pass and return.

They are small frozen dataclasses so that a hook's contract is visible in one
place and a plugin cannot mutate what another plugin receives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PluginInfo:
    """What a plugin declares about itself; its entry point names this object.

    The object lives in the plugin package's ``__init__`` and must be cheap to
    import: the manager reads it for every installed plugin (to list plugins and
    check requirements), but imports ``hooks`` only for enabled plugins.

    :param name: the plugin's name, equal to its entry-point name; also its
        Alembic branch, blueprint name and table prefix.
    :param description: one line shown by ``crm plugins list``.
    :param hooks: dotted path of the module holding the hook implementations.
    :param requires: names of plugins that must be enabled for this one to run.
    :param settings: a marshmallow ``Schema`` class; its fields' ``load_default``
        values are the defaults and its validators check what a deployer sets.
    :param version: the plugin's version; defaults to its distribution's.
    """

    name: str
    description: str
    hooks: str
    requires: tuple[str, ...] = ()
    settings: type | None = None
    version: str | None = None


@dataclass(frozen=True)
class Role:
    """A user role. Internal roles see the CRM; external roles see only their portal.

    :param permissions: permission names granted to the role.

    :param home: for an external role, the endpoint its users land on after
        signing in (their plugin's portal).
    """

    name: str
    label: str
    external: bool = False
    permissions: frozenset[str] = frozenset()
    home: str | None = None


@dataclass(frozen=True)
class Permission:
    """A named permission, and the roles that hold it unless an admin changes that."""

    name: str
    description: str
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class NavItem:
    """An entry in the web UI's navigation bar."""

    label: str
    endpoint: str
    order: int = 100
    permission: str | None = None


@dataclass(frozen=True)
class Widget:
    """A dashboard panel. ``html`` is trusted markup the plugin rendered itself,
    with its own templates, which escape record data."""

    title: str
    html: str
    order: int = 100


@dataclass(frozen=True)
class Event:
    """A domain event raised inside a transaction and replayed after commit.

    :param name: the in-transaction hook that announced it, e.g. ``crm_leads_created``.
    :param payload: the hook's keyword arguments other than the session.
    """

    name: str
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """A button on a record page (convert, send message, create task, ...).

    The core builds its URL with ``url_for(endpoint, record_id=<id>)``; ``method``
    ``"POST"`` renders a form with a CSRF token, ``"GET"`` a link.
    """

    label: str
    endpoint: str
    method: str = "GET"
    permission: str | None = None


@dataclass(frozen=True)
class TimelineItem:
    """A timeline entry a plugin keeps in its own tables (an email, a payment)."""

    created_at: datetime
    kind: str
    body: str
    actor: str = ""


@dataclass(frozen=True)
class BinRow:
    """One deleted plugin record as the recycle bin lists it."""

    id: int
    label: str
    deleted_at: datetime


@dataclass(frozen=True)
class BinType:
    """A kind of plugin record that goes to the recycle bin.

    :param list_deleted: ``(session, actor) -> rows`` of deleted records ``actor`` may see.
    :param restore: ``(session, actor, ids) -> count`` brings records back whole.
    :param purge: ``(session, actor, ids) -> count`` deletes them for good.
    """

    record_type: str
    label: str
    list_deleted: Callable[..., Sequence[BinRow]]
    restore: Callable[..., int]
    purge: Callable[..., int]


# -- personal data ---------------------------------------------------------------------


@dataclass(frozen=True)
class PersonalField:
    """A field that holds personal data, declared through ``crm_personal_data``.

    :param record_type: the kind of record that holds it (``"lead"``, ``"contact"``,
        ``"mail_message"``, ...).
    :param name: the field's name within that record type; ``"{record_type}.{name}"``
        is the key an admin selects and :func:`crm_person_erase` receives.
    :param label: what the admin's settings page shows.
    :param mandatory: always erased when a person is anonymized (the name).
    """

    record_type: str
    name: str
    label: str
    mandatory: bool = False

    @property
    def key(self) -> str:
        return f"{self.record_type}.{self.name}"


@dataclass(frozen=True)
class Person:
    """One person as the privacy hooks see them: the lead or contact that stands
    for them and the identifiers other records are matched by.

    :param record_type: ``"lead"`` or ``"contact"``.
    :param record_id: that record's id.
    :param emails: the person's email addresses, lower-cased.
    :param phones: the person's phone numbers (E.164, followed by ``;ext=`` and
        the extension if it has one).
    :param names: the person's names as written on the record.
    """

    record_type: str
    record_id: int
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class PersonExport:
    """What one owner holds about a person, returned by ``crm_person_export``.

    :param section: a heading for this part of the export (the plugin's name or
        a record type).
    :param data: JSON-serialisable data.
    :param files: attachments as ``{file name: bytes}``; they go into the ZIP
        export beside the JSON.
    """

    section: str
    data: Any
    files: Mapping[str, bytes] = field(default_factory=dict)
