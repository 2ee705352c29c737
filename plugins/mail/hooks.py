"""Hook implementations of the mail plugin, imported only when it is enabled.

Event hooks run inside the caller's transaction and work on the whole batch
at once: a CSV import of thousands of leads costs a few queries here, not one
per lead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmcore_plugins.mail.services.demo import load_demo
from crmcore_plugins.mail.services.links import drop_links, link_records, move_links
from crmcore_plugins.mail.services.privacy import erase_person, export_person
from crmcore_plugins.mail.services.reading import timeline_rows

from crmcore import Action, NavItem, PersonalField, PersonExport, TimelineItem, hookimpl

if TYPE_CHECKING:
    import click
    import flask
    from sqlalchemy.orm import Session

    from crmcore.models import User
    from crmcore.types import Person


@hookimpl
def crm_models() -> None:
    from crmcore_plugins.mail import models  # noqa: F401 - importing registers the tables


@hookimpl
def crm_migrations() -> dict[str, Path]:
    return {"mail": Path(__file__).parent / "migrations"}


@hookimpl
def crm_blueprints(app: flask.Flask) -> list[flask.Blueprint]:
    from crmcore_plugins.mail.views import blueprint

    return [blueprint]


@hookimpl
def crm_cli_commands() -> list[click.Command]:
    from crmcore_plugins.mail.cli import mail_group

    return [mail_group]


@hookimpl
def crm_nav_items(user: User) -> list[NavItem]:
    return [NavItem("Mail", "mail.messages", order=60)]


@hookimpl
def crm_record_actions(record_type: str, record: Any, user: User) -> list[Action]:
    if record_type in ("lead", "contact"):
        return [Action("Emails", f"mail.{record_type}_messages")]
    return []


@hookimpl
def crm_timeline_items(session: Session, record_type: str, record_id: int
                       ) -> list[TimelineItem]:
    # TimelineItem carries no URL: the body stays plain text, and the record's
    # "Emails" action leads to the message pages.
    rows = timeline_rows(session, record_type, record_id)
    return [TimelineItem(date or created_at, "email",
                         f"{subject or '(no subject)'} — {sender or '?'} → {', '.join(to) or '?'}")
            for subject, sender, to, date, created_at in rows]


# -- events -------------------------------------------------------------------------------


def _emails_changed(changes: Mapping[int, Mapping[str, tuple[Any, Any]]]) -> list[int]:
    return [record_id for record_id, fields in changes.items() if "emails" in fields]


@hookimpl
def crm_leads_created(session: Session, lead_ids: Sequence[int]) -> None:
    link_records(session, "lead", lead_ids)


@hookimpl
def crm_contacts_created(session: Session, contact_ids: Sequence[int]) -> None:
    link_records(session, "contact", contact_ids)


@hookimpl
def crm_leads_updated(session: Session,
                      changes: Mapping[int, Mapping[str, tuple[Any, Any]]]) -> None:
    changed = _emails_changed(changes)
    if changed:
        link_records(session, "lead", changed)


@hookimpl
def crm_contacts_updated(session: Session,
                         changes: Mapping[int, Mapping[str, tuple[Any, Any]]]) -> None:
    changed = _emails_changed(changes)
    if changed:
        link_records(session, "contact", changed)


@hookimpl
def crm_leads_restored(session: Session, lead_ids: Sequence[int]) -> None:
    # Mail archived while the lead was in the recycle bin was not linked to it.
    link_records(session, "lead", lead_ids)


@hookimpl
def crm_contacts_restored(session: Session, contact_ids: Sequence[int]) -> None:
    link_records(session, "contact", contact_ids)


@hookimpl
def crm_leads_purged(session: Session, lead_ids: Sequence[int]) -> None:
    drop_links(session, "lead", lead_ids)


@hookimpl
def crm_contacts_purged(session: Session, contact_ids: Sequence[int]) -> None:
    drop_links(session, "contact", contact_ids)


@hookimpl
def crm_leads_merged(session: Session, survivor_id: int, merged_ids: Sequence[int]) -> None:
    move_links(session, "lead", survivor_id, merged_ids)


@hookimpl
def crm_contacts_merged(session: Session, survivor_id: int, merged_ids: Sequence[int]) -> None:
    move_links(session, "contact", survivor_id, merged_ids)


# -- personal data ------------------------------------------------------------------------


@hookimpl
def crm_personal_data() -> list[PersonalField]:
    return [
        PersonalField("mail_message", "body", "Email subjects and texts"),
        PersonalField("mail_message", "addresses", "Email addresses in archived emails"),
        PersonalField("mail_message", "attachments", "Email attachments"),
    ]


@hookimpl
def crm_person_export(session: Session, person: Person) -> list[PersonExport]:
    return export_person(session, person)


@hookimpl
def crm_person_erase(session: Session, actor: User | None, person: Person,
                     fields: frozenset[str]) -> None:
    erase_person(session, person, fields)


# -- demo ---------------------------------------------------------------------------------


@hookimpl
def crm_demo_data(session: Session, users: Mapping[str, User], password: str) -> list[str]:
    stored = load_demo(session, users["sales"])
    return [f"  mail archive: {stored} demo email(s) on the first leads' timelines"]
