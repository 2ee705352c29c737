"""Users, and the caller's own account."""

from __future__ import annotations

from flask import Response, url_for
from sqlalchemy import select

from crmcore.api.blueprint import (
    CURSOR,
    PAGE_SIZE,
    actor,
    bp,
    doc,
    int_arg,
    json_body,
    json_response,
    query_args,
)
from crmcore.api.schemas import UserSchema
from crmcore.app import db
from crmcore.auth.roles import require
from crmcore.errors import NotFound
from crmcore.models import User
from crmcore.services import users as svc
from crmcore.services.users import update_profile


def _dump(user: User) -> dict[str, object]:
    return UserSchema().dump(user)  # type: ignore[no-any-return]


@bp.get("/users")
@doc("users", response="UserPage", query={"cursor": CURSOR, "limit": PAGE_SIZE})
def users_list() -> Response:
    """List users.

    Needs the users.manage permission.
    """
    args = query_args({"cursor", "limit"})
    session = db()
    require(session, actor(), "users.manage")
    limit = int_arg(args, "limit", 50)
    after = int_arg(args, "cursor", 0, low=0, high=2**62)
    users = list(session.scalars(select(User).where(User.id > after).order_by(User.id)
                                 .limit(limit + 1)))
    following = None
    if len(users) > limit:
        users = users[:limit]
        following = url_for("api.users_list", **{**args, "cursor": str(users[-1].id)})
    return json_response({"items": UserSchema(many=True).dump(users),
                          "links": {"self": url_for("api.users_list", **args),
                                    "next": following}})


@bp.post("/users")
@doc("users", body="UserCreateSchema", response="UserSchema", status=201,
     headers={"Location": "The new user."})
def users_create() -> Response:
    """Create a user.

    Needs users.manage. A user without a password signs in only through API tokens.
    """
    session = db()
    user = svc.create_user(session, actor(), json_body())
    session.commit()
    return json_response(_dump(user), 201, location=url_for("api.users_get", user_id=user.id))


@bp.get("/users/me")
@doc("users", response="UserSchema")
def users_me() -> Response:
    """The caller's own account."""
    query_args(())
    return json_response(_dump(actor()))


@bp.patch("/users/me")
@doc("users", body="ProfileInput", response="UserSchema")
def users_me_update() -> Response:
    """Change the caller's own display name.

    Role and active flag are for users.manage, through PATCH /users/{user_id}.
    """
    session = db()
    user = update_profile(session, actor(), json_body())
    session.commit()
    return json_response(_dump(user))


@bp.get("/users/<int:user_id>")
@doc("users", response="UserSchema")
def users_get(user_id: int) -> Response:
    """Read a user.

    Anyone may read their own account; other accounts need users.manage.
    """
    query_args(())
    session = db()
    if user_id != actor().id:
        require(session, actor(), "users.manage")
    return json_response(_dump(svc.get_user(session, user_id)))


@bp.patch("/users/<int:user_id>")
@doc("users", body="UserUpdateSchema", response="UserSchema")
def users_update(user_id: int) -> Response:
    """Change a user's name, role or active flag.

    Needs users.manage; deactivating a user ends their sessions and stops their tokens.
    Nobody deactivates themselves, and the last active user who can manage users
    is neither deactivated nor given a role that cannot (422).
    """
    session = db()
    require(session, actor(), "users.manage")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    svc.update_user(session, actor(), user, json_body())
    session.commit()
    return json_response(_dump(user))
