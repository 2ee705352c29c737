"""What a plugin's web views use of the core: the request's session, the acting
user, rendering inside the CRM's layout, and guards for staff and portal pages.

Templates extend ``web/base.html`` (the CRM's layout, navigation included) and
import ``web/_macros.html`` for the CSRF field. This module is part of the public
plugin API; the rest of ``crmcore.web`` is not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

from crmcore.app import db
from crmcore.web.common import (
    actor,
    allowed,
    error_messages,
    home_url,
    is_external_user,
    render,
    require_permission,
    role_of,
    split_list,
)
from crmcore.web.uploads import UploadProblem, save_upload, size_label

__all__ = [
    "UploadProblem",
    "actor",
    "allowed",
    "db",
    "error_messages",
    "home_url",
    "is_external_user",
    "portal_pages",
    "render",
    "require_permission",
    "save_upload",
    "size_label",
    "split_list",
    "staff_pages",
]


def _sign_in_first() -> Any:
    target = request.full_path.rstrip("?") if request.method == "GET" else "/"
    return redirect(url_for("web.login", next=target))


def staff_pages(blueprint: Blueprint, *, public: set[str] | None = None) -> None:
    """Require a signed-in internal user (admin, manager, sales, ...) on every view
    of ``blueprint`` except the endpoints in ``public``; portal users get 404."""
    _guard(blueprint, lambda role: role is not None and not role.external, public)


def portal_pages(blueprint: Blueprint, *roles: str, public: set[str] | None = None) -> None:
    """Require a signed-in user of one of the external ``roles`` on every view of
    ``blueprint`` except the endpoints in ``public``; anybody else gets 404."""
    wanted = set(roles)
    _guard(blueprint, lambda role: role is not None and role.name in wanted, public)


def _guard(blueprint: Blueprint, admits: Callable[[Any], bool],
           public: set[str] | None) -> None:
    open_endpoints = {f"{blueprint.name}.{name}" for name in public or ()}

    @blueprint.before_request
    def check() -> Any:
        if request.endpoint in open_endpoints:
            return None
        if not current_user.is_authenticated:
            return _sign_in_first()
        if not admits(role_of(current_user)):
            abort(404)  # the same answer as a page that does not exist
        return None
