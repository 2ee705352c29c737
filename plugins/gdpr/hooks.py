"""Hook implementations of the gdpr plugin."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmcore_plugins.gdpr import PERMISSION

from crmcore import Action, NavItem, Permission, hookimpl
from crmcore.models import User

if TYPE_CHECKING:
    import click
    import flask
    from sqlalchemy.orm import Session


@hookimpl
def crm_models() -> None:
    from crmcore_plugins.gdpr import models  # noqa: F401 - importing registers the tables


@hookimpl
def crm_migrations() -> dict[str, Path]:
    return {"gdpr": Path(__file__).parent / "migrations"}


@hookimpl
def crm_blueprints(app: flask.Flask) -> list[flask.Blueprint]:
    from crmcore_plugins.gdpr.views import blueprint

    return [blueprint]


@hookimpl
def crm_cli_commands() -> list[click.Command]:
    from crmcore_plugins.gdpr.cli import gdpr_group

    return [gdpr_group]


@hookimpl
def crm_permissions() -> list[Permission]:
    return [Permission(PERMISSION, "Anonymize and export people's data, touch records, "
                                   "set the GDPR settings and read the GDPR audit log",
                       ("admin",))]


@hookimpl
def crm_nav_items(user: User) -> list[NavItem]:
    return [NavItem("GDPR", "gdpr.age", order=85, permission=PERMISSION)]


@hookimpl
def crm_record_actions(record_type: str, record: Any, user: User) -> list[Action]:
    if record_type not in ("lead", "contact") or record.anonymized_at is not None:
        return []
    return [Action("Export personal data", f"gdpr.{record_type}_export", permission=PERMISSION),
            Action("Anonymize…", f"gdpr.{record_type}_anonymize", permission=PERMISSION)]


# -- merges: the merged-away records are the survivor's person, unless a user
# says they are different people (kept apart) -----------------------------


@hookimpl
def crm_leads_merged(session: Session, survivor_id: int, merged_ids: Sequence[int]) -> None:
    from crmcore_plugins.gdpr.services.merges import remember

    remember(session, "lead", survivor_id, merged_ids)


@hookimpl
def crm_contacts_merged(session: Session, survivor_id: int, merged_ids: Sequence[int]) -> None:
    from crmcore_plugins.gdpr.services.merges import remember

    remember(session, "contact", survivor_id, merged_ids)


@hookimpl
def crm_leads_purged(session: Session, lead_ids: Sequence[int]) -> None:
    from crmcore_plugins.gdpr.services.merges import forget_purged

    forget_purged(session, "lead", lead_ids)


@hookimpl
def crm_contacts_purged(session: Session, contact_ids: Sequence[int]) -> None:
    from crmcore_plugins.gdpr.services.merges import forget_purged

    forget_purged(session, "contact", contact_ids)


@hookimpl
def crm_leads_kept_apart(session: Session, pairs: Sequence[tuple[int, int]]) -> None:
    from crmcore_plugins.gdpr.services.merges import forget_kept_apart

    forget_kept_apart(session, "lead", pairs)


@hookimpl
def crm_contacts_kept_apart(session: Session, pairs: Sequence[tuple[int, int]]) -> None:
    from crmcore_plugins.gdpr.services.merges import forget_kept_apart

    forget_kept_apart(session, "contact", pairs)
