"""Administration: users, lead stages, custom fields and plugins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from sqlalchemy import select

from crmcore.app import db
from crmcore.errors import CrmError
from crmcore.models import LeadStage, User
from crmcore.models.records import CUSTOM_FIELD_TYPES
from crmcore.services import custom_fields, stages
from crmcore.services import users as user_service
from crmcore.web.common import (
    actor,
    all_stages,
    bp,
    error_messages,
    render,
    require_permission,
    split_list,
)


def _users_page(errors: dict[str, list[str]] | None = None, values: dict[str, str] | None = None,
                message: str | None = None, status: int = 200) -> Any:
    roles = current_app.extensions["crm"].roles.roles
    return render("web/admin_users.html", status, users=list(
        _all_users()), roles=roles, errors=errors or {}, values=values or {}, message=message)


def _all_users() -> Any:
    return db().scalars(select(User).order_by(User.email))


@bp.get("/admin/users")
def admin_users() -> Any:
    require_permission("users.manage")
    return _users_page()


@bp.post("/admin/users")
def admin_users_create() -> Any:
    require_permission("users.manage")
    values = {k: request.form.get(k, "").strip() for k in ("email", "name", "role", "password")}
    data: dict[str, Any] = {k: v for k, v in values.items() if v}
    session = db()
    try:
        user = user_service.create_user(session, actor(), data)
        session.commit()
    except CrmError as exc:
        session.rollback()
        values.pop("password")
        return _users_page(error_messages(exc), values, exc.detail, exc.status)
    flash(f"The user {user.email} was created.", "info")
    return redirect(url_for("web.admin_users"), 303)


@bp.post("/admin/users/<int:user_id>/active")
def admin_users_active(user_id: int) -> Any:
    require_permission("users.manage")
    active = request.form.get("active") == "1"
    return _change_user(user_id, {"is_active": active}, lambda user: (
        f"{user.email} is now {'active' if active else 'deactivated'}."))


@bp.post("/admin/users/<int:user_id>/role")
def admin_users_role(user_id: int) -> Any:
    require_permission("users.manage")
    role = request.form.get("role", "")
    roles = current_app.extensions["crm"].roles.roles
    label = roles[role].label if role in roles else role
    return _change_user(user_id, {"role": role},
                        lambda user: f"The role of {user.email} is now {label}.")


def _change_user(user_id: int, change: dict[str, Any], done: Callable[[User], str]) -> Any:
    """Apply ``change`` to a user and flash what ``done`` says of them, or why not."""
    session = db()
    user = user_service.get_user(session, user_id)
    try:
        user_service.update_user(session, actor(), user, change)
        session.commit()
    except CrmError as exc:
        session.rollback()
        # The field's own message says more than the summary ("Unknown role; choose…").
        messages = [m for field in error_messages(exc).values() for m in field]
        flash(messages[0] if messages else exc.detail, "error")
    else:
        flash(done(user), "info")
    return redirect(url_for("web.admin_users"), 303)


# -- stages ---------------------------------------------------------------------------


def save_stage(stage: LeadStage | None, form: Any) -> LeadStage:
    """Create or edit a lead stage from form input; raises CrmError."""
    data = {k: form.get(k, "").strip() for k in ("name", "position", "kind")
            if form.get(k, "").strip()}
    if stage is None:
        return stages.create_stage(db(), actor(), data)
    return stages.update_stage(db(), actor(), stage, data)


def _stages_page(errors: dict[str, list[str]] | None = None, message: str | None = None,
                 status: int = 200, edit_id: int | None = None) -> Any:
    return render("web/admin_stages.html", status, stages=all_stages(), errors=errors or {},
                  message=message, edit_id=edit_id, form=request.form)


@bp.get("/admin/stages")
def admin_stages() -> Any:
    require_permission("settings.manage")
    return _stages_page()


@bp.post("/admin/stages")
def admin_stages_create() -> Any:
    require_permission("settings.manage")
    return _save_stage_view(None)


@bp.post("/admin/stages/<int:stage_id>")
def admin_stages_edit(stage_id: int) -> Any:
    require_permission("settings.manage")
    return _save_stage_view(stages.get_stage(db(), stage_id))


def _save_stage_view(stage: LeadStage | None) -> Any:
    session = db()
    try:
        saved = save_stage(stage, request.form)
        session.commit()
    except CrmError as exc:
        session.rollback()
        return _stages_page(error_messages(exc), exc.detail, exc.status,
                            stage.id if stage else None)
    flash(f"The stage {saved.name} was saved.", "info")
    return redirect(url_for("web.admin_stages"), 303)


@bp.get("/admin/plugins")
def admin_plugins() -> Any:
    require_permission("settings.manage")
    plugins = current_app.extensions["crm"].plugins
    rows = [{"name": name, "version": plugins.versions.get(name, ""),
             "description": info.description, "enabled": name in plugins.order,
             "requires": info.requires,
             "hooks": plugins.hooks_of(name) if name in plugins.order else []}
            for name, info in sorted(plugins.infos.items())]
    return render("web/admin_plugins.html", plugins=rows)


# -- custom fields ------------------------------------------------------------------------


def _custom_fields_page(errors: dict[str, list[str]] | None = None, message: str | None = None,
                        status: int = 200, edit_id: int | None = None) -> Any:
    session = db()
    sections = [(record_type, label, custom_fields.definitions(session, record_type))
                for record_type, label in (("lead", "Leads"), ("contact", "Contacts"))]
    return render("web/admin_custom_fields.html", status, sections=sections,
                  field_types=CUSTOM_FIELD_TYPES, errors=errors or {}, message=message,
                  edit_id=edit_id, form=request.form)


def _custom_field_data(form: Any, creating: bool) -> dict[str, Any]:
    """Form input as the service takes it: choices comma-separated, required a checkbox."""
    keys = ("record_type", "name", "label", "field_type", "position") if creating \
        else ("label", "position")
    data: dict[str, Any] = {k: form.get(k, "").strip() for k in keys if form.get(k, "").strip()}
    choices = split_list(form.get("choices"))
    if choices or not creating and "choices" in form:
        data["choices"] = choices
    data["required"] = form.get("required") == "1"
    return data


@bp.get("/admin/custom-fields")
def admin_custom_fields() -> Any:
    require_permission("settings.manage")
    return _custom_fields_page()


@bp.post("/admin/custom-fields")
def admin_custom_fields_create() -> Any:
    require_permission("settings.manage")
    return _save_custom_field_view(None)


@bp.post("/admin/custom-fields/<int:field_id>")
def admin_custom_fields_edit(field_id: int) -> Any:
    require_permission("settings.manage")
    return _save_custom_field_view(field_id)


def _save_custom_field_view(field_id: int | None) -> Any:
    """Add a custom field (``field_id`` None) or save the one with that id."""
    session = db()
    try:
        data = _custom_field_data(request.form, field_id is None)
        if field_id is None:
            field = custom_fields.create_field(session, actor(), data)
        else:
            field = custom_fields.update_field(session, actor(), field_id, data)
        session.commit()
    except CrmError as exc:
        session.rollback()
        if field_id is not None and exc.status == 404:
            raise
        return _custom_fields_page(error_messages(exc), exc.detail, exc.status, field_id)
    flash(f"The field {field.label} was {'added' if field_id is None else 'saved'}.", "info")
    return redirect(url_for("web.admin_custom_fields"), 303)


@bp.post("/admin/custom-fields/<int:field_id>/delete")
def admin_custom_fields_delete(field_id: int) -> Any:
    require_permission("settings.manage")
    session = db()
    custom_fields.delete_field(session, actor(), field_id)  # NotFound: the 404 page
    session.commit()
    flash("The field was removed from forms; values already stored stay in the records, "
          "and a field added again under its name must fit them.", "info")
    return redirect(url_for("web.admin_custom_fields"), 303)
