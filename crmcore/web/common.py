"""The web blueprint and the helpers its views share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.routing import BuildError

from crmcore.app import db
from crmcore.auth.roles import can
from crmcore.errors import CrmError
from crmcore.models import LeadStage, User
from crmcore.schemas.records import phone_text
from crmcore.services import users as user_service
from crmcore.types import Action, NavItem, Role

bp = Blueprint("web", __name__)

PUBLIC_ENDPOINTS = {"web.login"}
# What an external (portal) user may use of the core's pages: their own account.
EXTERNAL_ENDPOINTS = {"web.logout", "web.account_password", "static"}


def actor() -> User:
    """The signed-in user as a plain model object, for services."""
    return current_user._get_current_object()  # type: ignore[no-any-return]


def allowed(permission: str) -> bool:
    return current_user.is_authenticated and can(db(), actor(), permission)


def require_permission(permission: str) -> None:
    if not allowed(permission):
        abort(403)


@bp.before_request
def require_login() -> Any:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        target = request.full_path.rstrip("?") if request.method == "GET" else "/"
        return redirect(url_for("web.login", next=target))
    role = current_app.extensions["crm"].roles.roles.get(current_user.role)
    if role is not None and not role.external:
        return None
    # External roles see their plugin's portal, not the CRM: the CRM's pages do
    # not exist for them (404 reveals nothing), the front page leads home.
    if request.endpoint in EXTERNAL_ENDPOINTS:
        return None
    if request.endpoint == "web.dashboard" and role is not None and role.home:
        return redirect(url_for(role.home))
    abort(404)


def role_of(user: User) -> Role | None:
    return current_app.extensions["crm"].roles.roles.get(user.role)  # type: ignore[no-any-return]


def is_external_user(user: Any) -> bool:
    """Whether ``user`` is signed in with an external (portal) role."""
    if not getattr(user, "is_authenticated", False):
        return False
    role = role_of(user)
    return role is None or role.external


def home_url(user: Any) -> str:
    """Where ``user`` starts: the dashboard, or an external role's portal."""
    role = role_of(user) if getattr(user, "is_authenticated", False) else None
    if role is not None and role.external and role.home:
        return url_for(role.home)
    return url_for("web.dashboard")


def safe_next(target: str | None) -> str:
    """``target`` when it is a same-origin relative path, else ``/``."""
    if not target or len(target) > 2000:
        return "/"
    decoded = target
    for _ in range(3):  # %252F%252F... decodes in layers
        decoded = unquote(decoded)
    for candidate in (target, decoded):
        if not candidate.startswith("/") or candidate.startswith("//"):
            return "/"
        if "\\" in candidate or any(ord(ch) < 32 or ord(ch) == 127 for ch in candidate):
            return "/"
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return "/"
    return target


def split_list(text: str | None) -> list[str]:
    """Comma- (or newline-) separated text as a list of trimmed, non-empty items."""
    raw = (text or "").replace("\n", ",")
    return [item.strip() for item in raw.split(",") if item.strip()]


def error_messages(exc: CrmError) -> dict[str, list[str]]:
    """A CrmError's field errors flattened to ``{field: [message, ...]}``."""
    out: dict[str, list[str]] = {}
    for field, messages in exc.errors.items():
        if field == "custom" and isinstance(messages, Mapping):
            # Custom fields arrive nested: {"custom": {"budget": [...]}}.
            for name, inner in messages.items():
                out[f"custom.{name}"] = list(_flatten_messages(inner))
        else:
            out[field] = list(_flatten_messages(messages))
    return out


def _flatten_messages(messages: Any) -> Iterable[str]:
    if isinstance(messages, str):
        yield messages
    elif isinstance(messages, Mapping):
        for key, value in messages.items():
            for message in _flatten_messages(value):
                yield f"item {int(key) + 1}: {message}" if str(key).isdigit() else message
    elif isinstance(messages, Iterable):
        for value in messages:
            yield from _flatten_messages(value)
    else:
        yield str(messages)


def all_stages() -> list[LeadStage]:
    return list(db().scalars(select(LeadStage).order_by(LeadStage.position, LeadStage.id)))


def users_by_id(ids: Iterable[int | None] | None = None) -> dict[int, User]:
    """Users by id: those in ``ids``, or every user when ``ids`` is None; one query."""
    return user_service.users_by_id(db(), ids)


def action_links(actions: Iterable[Action], record_id: int) -> list[dict[str, str]]:
    """Plugin actions as ``{label, url, method}``; an endpoint that does not build is
    skipped (and logged) rather than breaking the page."""
    out = []
    for action in actions:
        try:
            url = url_for(action.endpoint, record_id=record_id)
        except BuildError:
            current_app.logger.warning("action %r names unknown endpoint %r",
                                       action.label, action.endpoint)
            continue
        out.append({"label": action.label, "url": url,
                    "method": "POST" if action.method.upper() == "POST" else "GET"})
    return out


def nav_items() -> list[dict[str, Any]]:
    """Core and plugin navigation entries the user may use, sorted by order."""
    if not current_user.is_authenticated:
        return []
    items = [] if is_external_user(current_user) else [
        NavItem("Dashboard", "web.dashboard", 10),
        NavItem("Leads", "web.leads", 20),
        NavItem("Contacts", "web.contacts", 30),
        NavItem("Imports", "web.imports", 40),
        NavItem("Recycle bin", "web.recycle_bin", 80),
        NavItem("Admin", "web.admin_users", 90, "users.manage"),
    ]
    hook = current_app.extensions["crm"].hook
    for result in hook.crm_nav_items(user=actor()):
        items.extend(result or ())
    out = []
    for item in sorted(items, key=lambda i: (i.order, i.label)):
        if item.permission and not allowed(item.permission):
            continue
        try:
            url = url_for(item.endpoint)
        except BuildError:
            current_app.logger.warning("nav item %r names unknown endpoint %r",
                                       item.label, item.endpoint)
            continue
        out.append({"label": item.label, "url": url,
                    "active": request.endpoint == item.endpoint})
    return out


@bp.app_template_filter("when")
def format_when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M")


bp.add_app_template_filter(phone_text)


@bp.app_template_filter("change_lines")
def change_lines(changes: Mapping[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """A timeline entry's changes as ``(field, old, new)`` lines by field name.
    A column of named values (custom fields, plugin fields) is stored whole,
    before and after: it gives a line per name whose value changed, so that
    the values show rather than the names."""
    lines: list[tuple[str, Any, Any]] = []
    for field, (old, new) in sorted((changes or {}).items()):
        if isinstance(old, Mapping) or isinstance(new, Mapping):
            old, new = old or {}, new or {}
            lines += sorted((name, old.get(name), new.get(name)) for name in {*old, *new}
                            if old.get(name) != new.get(name))
        else:
            lines.append((field, old, new))
    return lines


@bp.app_context_processor
def inject() -> dict[str, Any]:
    return {"nav_items": nav_items, "allowed": allowed, "home_url": home_url,
            "is_external_user": is_external_user}


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status
