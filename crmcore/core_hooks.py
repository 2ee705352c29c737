"""The core's own hook implementations, registered like a plugin's under the name
``core`` and called before any plugin's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crmcore import hookimpl
from crmcore.services import personal_data
from crmcore.types import Permission, Person, PersonalField, PersonExport, Role

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


@hookimpl
def crm_personal_data() -> list[PersonalField]:
    return personal_data.fields()


@hookimpl
def crm_person_export(session: Any, person: Person) -> list[PersonExport]:
    return personal_data.export(session, person)


@hookimpl
def crm_person_erase(session: Any, actor: Any, person: Person, fields: frozenset[str]) -> None:
    personal_data.erase(session, person, fields)
