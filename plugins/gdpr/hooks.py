"""Hook implementations of the gdpr plugin."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmcore_plugins.gdpr import PERMISSION

from crmcore import Action, NavItem, Permission, hookimpl
from crmcore.models import User

if TYPE_CHECKING:
    import click
    import flask



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
