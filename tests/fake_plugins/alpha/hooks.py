"""A plugin that implements every hook, recording event calls in ``calls``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Blueprint, current_app, jsonify
from marshmallow import fields, validate
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from crmcore import NavItem, Permission, Role, Widget, hookimpl
from crmcore.db import Base
from crmcore.errors import Vetoed

calls: list[tuple[str, object]] = []


class AlphaItem(Base):
    __tablename__ = "alpha_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50))


bp = Blueprint("alpha", __name__, url_prefix="/alpha")


@bp.get("/ping")
def ping():
    return jsonify(greeting=current_app.extensions["crm"].plugins.settings("alpha")["greeting"])


@click.command("alpha-hello")
def hello() -> None:
    """Say hello from alpha."""
    click.echo("hello from alpha")


@hookimpl
def crm_models():
    calls.append(("crm_models", None))


@hookimpl
def crm_migrations():
    return {"alpha": Path(__file__).parent / "migrations"}


@hookimpl
def crm_blueprints(app):
    return [bp]


@hookimpl
def crm_cli_commands():
    return [hello]


@hookimpl
def crm_roles():
    return [Role("alpha_partner", "Alpha partner", external=True)]


@hookimpl
def crm_permissions():
    return [Permission("alpha.use", "Use alpha", ("admin", "alpha_partner"))]


@hookimpl
def crm_app_created(app):
    app.jinja_env.globals["alpha_loaded"] = True


@hookimpl
def crm_nav_items(user):
    return [NavItem("Alpha", "alpha.ping", order=50)]


@hookimpl
def crm_dashboard_widgets(session, user):
    return [Widget("Alpha widget", "<p>alpha <b>widget</b></p>")]


@hookimpl
def crm_schema_fields(record_type):
    if record_type == "lead":
        return {"alpha_campaign": fields.String(validate=validate.Length(max=10))}
    return None


@hookimpl
def crm_user_created(session, actor, user_ids):
    calls.append(("crm_user_created", user_ids))


@hookimpl
def crm_leads_created(session, actor, lead_ids):
    if current_app and current_app.config.get("ALPHA_VETO"):
        raise Vetoed("alpha refuses new leads")
    calls.append(("crm_leads_created", lead_ids))


@hookimpl
def crm_leads_updated(session, actor, changes):
    calls.append(("crm_leads_updated", changes))


@hookimpl
def crm_leads_stage_changed(session, actor, changes):
    calls.append(("crm_leads_stage_changed", changes))


@hookimpl
def crm_lead_converted(session, actor, lead_id, contact_id):
    calls.append(("crm_lead_converted", (lead_id, contact_id)))


@hookimpl
def crm_leads_deleted(session, actor, lead_ids):
    calls.append(("crm_leads_deleted", lead_ids))


@hookimpl
def crm_leads_restored(session, actor, lead_ids):
    calls.append(("crm_leads_restored", lead_ids))


@hookimpl
def crm_contacts_created(session, actor, contact_ids):
    calls.append(("crm_contacts_created", contact_ids))


@hookimpl
def crm_contacts_updated(session, actor, changes):
    calls.append(("crm_contacts_updated", changes))


@hookimpl
def crm_contacts_deleted(session, actor, contact_ids):
    calls.append(("crm_contacts_deleted", contact_ids))


@hookimpl
def crm_contacts_restored(session, actor, contact_ids):
    calls.append(("crm_contacts_restored", contact_ids))


@hookimpl
def crm_after_commit(events):
    calls.append(("crm_after_commit", [e.name for e in events]))
