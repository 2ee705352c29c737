"""The core's own hook implementations, registered like a plugin's under the name
``core`` and called before any plugin's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crmcore import hookimpl
from crmcore.types import Permission, Role

INTERNAL_ROLES = ("admin", "manager", "sales")


@hookimpl
def crm_roles() -> list[Role]:
    return [
        Role("admin", "Administrator"),
        Role("manager", "Manager"),
        Role("sales", "Sales"),
    ]


@hookimpl
def crm_permissions() -> list[Permission]:
    return [
        Permission("records.view_all", "See and edit every lead and contact, not only own ones",
                   ("admin", "manager")),
        Permission("records.reassign", "Change the owner of leads and contacts",
                   ("admin", "manager")),
        Permission("users.manage", "Create, edit and deactivate users", ("admin",)),
        Permission("settings.manage", "Configure stages, custom fields and plugins", ("admin",)),
        Permission("recycle_bin.purge", "Delete records from the recycle bin for good",
                   ("admin",)),
    ]


@hookimpl
def crm_lead_score_parts(session: Any, leads: Sequence[Any]) -> dict[int, int]:
    """Points for reachability: an email, a phone, a company."""
    return {lead.id: 10 * bool(lead.emails) + 10 * bool(lead.phones) + 5 * bool(lead.company)
            for lead in leads}
