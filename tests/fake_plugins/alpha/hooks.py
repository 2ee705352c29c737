"""A plugin that implements every hook, recording event calls in ``calls``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Blueprint, current_app, jsonify
from marshmallow import fields, validate
from sqlalchemy import String, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from crmcore import (
    Action,
    BinRow,
    BinType,
    NavItem,
    Permission,
    PersonalField,
    PersonExport,
    Role,
    TimelineItem,
    Widget,
    hookimpl,
)
from crmcore.db import Base
from crmcore.errors import Vetoed
from crmcore.models import Lead

calls: list[tuple[str, object]] = []


class AlphaItem(Base):
    __tablename__ = "alpha_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50))
    lead_id: Mapped[int | None]
    deleted_at: Mapped[datetime | None]


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


# What crm_api_schemas answers; a test swaps it for a name the core uses.
API_SCHEMAS: dict = {"AlphaPing": {"type": "object",
                                   "properties": {"greeting": {"type": "string"}}}}


@hookimpl
def crm_api_schemas(app):
    return API_SCHEMAS


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


@hookimpl
def crm_lead_score_parts(session, leads):
    return {lead.id: 7 for lead in leads if (lead.plugin_data or {}).get("alpha_campaign")}


@hookimpl
def crm_record_actions(record_type, record, user):
    return [Action("Alpha action", "alpha.ping"),
            Action("Alpha secret", "alpha.ping", permission="alpha.use")]


@hookimpl
def crm_timeline_items(session, record_type, record_id):
    items = session.scalars(select(AlphaItem).where(AlphaItem.lead_id == record_id))
    when = datetime(2000, 1, 1, tzinfo=UTC)
    return [TimelineItem(when, "alpha", f"alpha item {i.label}") for i in items]


@hookimpl
def crm_conversion_steps(lead, contact_id, user):
    return [Action("Make an alpha quote", "alpha.ping", method="POST")]


def _bin_list(session, actor):
    rows = session.scalars(select(AlphaItem).where(AlphaItem.deleted_at.is_not(None)))
    return [BinRow(r.id, r.label, r.deleted_at) for r in rows]


def _bin_restore(session, actor, ids):
    return session.execute(update(AlphaItem).where(AlphaItem.id.in_(ids),
                                                   AlphaItem.deleted_at.is_not(None))
                           .values(deleted_at=None)).rowcount


def _bin_purge(session, actor, ids):
    items = session.scalars(select(AlphaItem).where(AlphaItem.id.in_(ids),
                                                    AlphaItem.deleted_at.is_not(None))).all()
    for item in items:
        session.delete(item)
    return len(items)


@hookimpl
def crm_recycle_bin_types():
    return [BinType("alpha_item", "Alpha items", _bin_list, _bin_restore, _bin_purge)]


@hookimpl
def crm_leads_merged(session, actor, survivor_id, merged_ids):
    session.execute(update(AlphaItem).where(AlphaItem.lead_id.in_(merged_ids))
                    .values(lead_id=survivor_id))
    calls.append(("crm_leads_merged", (survivor_id, list(merged_ids))))


@hookimpl
def crm_contacts_merged(session, actor, survivor_id, merged_ids):
    calls.append(("crm_contacts_merged", (survivor_id, list(merged_ids))))


@hookimpl
def crm_leads_kept_apart(session, actor, pairs):
    calls.append(("crm_leads_kept_apart", list(pairs)))


@hookimpl
def crm_contacts_kept_apart(session, actor, pairs):
    calls.append(("crm_contacts_kept_apart", list(pairs)))


@hookimpl
def crm_personal_data():
    return [PersonalField("alpha_item", "label", "Alpha item label")]


def _items(session, person):
    if person.record_type != "lead":
        return []
    return list(session.scalars(select(AlphaItem).where(AlphaItem.lead_id == person.record_id)))


@hookimpl
def crm_person_export(session, person):
    items = _items(session, person)
    return [PersonExport("alpha", [item.label for item in items],
                         {f"alpha-{item.id}.txt": item.label.encode() for item in items})]


@hookimpl
def crm_person_erase(session, actor, person, fields):
    if current_app and current_app.config.get("ALPHA_ERASE_FAILS"):
        raise RuntimeError("alpha cannot erase")
    if "alpha_item.label" in fields:
        for item in _items(session, person):
            item.label = "erased"


@hookimpl
def crm_demo_data(session, users, password):
    if not session.scalar(select(AlphaItem).where(AlphaItem.label == "demo")):
        session.add(AlphaItem(label="demo", lead_id=None))
    return [f"  alpha demo: ask {users['admin'].email}"]


@hookimpl
def crm_leads_purged(session, actor, lead_ids):
    # Plugins delete their rows before the records go: the leads are still there.
    still = session.scalar(select(func.count()).select_from(Lead).where(Lead.id.in_(lead_ids)))
    calls.append(("crm_leads_purged", (list(lead_ids), still)))


@hookimpl
def crm_contacts_purged(session, actor, contact_ids):
    calls.append(("crm_contacts_purged", list(contact_ids)))
