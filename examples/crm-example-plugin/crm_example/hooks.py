"""Hook implementations, imported only when the plugin is enabled.

Each function's name is a hook from ``crmcore.hookspecs`` (see docs/hooks.md);
it may take any subset of that hook's arguments, by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from crmcore import NavItem, hookimpl
from crmcore.models import User

if TYPE_CHECKING:
    import flask
    from sqlalchemy.orm import Session


@hookimpl
def crm_models() -> None:
    from crm_example import models  # noqa: F401 - importing registers the tables


@hookimpl
def crm_migrations() -> dict[str, Path]:
    return {"example": Path(__file__).parent / "migrations"}


@hookimpl
def crm_blueprints(app: flask.Flask) -> list[flask.Blueprint]:
    from crm_example.views import blueprint

    return [blueprint]


@hookimpl
def crm_user_created(session: Session, actor: User | None, user_ids: Sequence[int]) -> None:
    # Inside the caller's transaction: add rows to its session and never commit.
    # If the user's creation rolls back, so do these notes. One query for the
    # whole batch, however many users were created.
    from crm_example.models import ExampleNote

    emails = session.scalars(select(User.email).where(User.id.in_(user_ids)).order_by(User.id))
    session.add_all([ExampleNote(body=f"Welcome, {email}!") for email in emails])


@hookimpl
def crm_nav_items(user: User) -> list[NavItem]:
    return [NavItem("Notes", "example.notes")]
