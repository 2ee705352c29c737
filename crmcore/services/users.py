"""Users, passwords and API tokens."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crmcore.auth.passwords import hash_password, needs_rehash, password_problem, verify_password
from crmcore.auth.roles import registry, require
from crmcore.auth.tokens import new_token, token_hash
from crmcore.db import emit, transaction, utcnow
from crmcore.errors import Conflict, NotFound, ValidationFailed
from crmcore.models import ApiToken, User
from crmcore.schemas.base import load
from crmcore.schemas.users import (
    ProfileInput,
    UserCreateSchema,
    UserUpdateSchema,
    normalize_email,
)

MANAGE = "users.manage"


def _check_role(session: Session, role: str) -> None:
    roles = registry(session).roles
    if role not in roles:
        raise ValidationFailed(
            "Unknown role.", {"role": [f"Unknown role; choose one of: {', '.join(roles)}."]}
        )


def create_user(session: Session, actor: User | None, data: Mapping[str, Any]) -> User:
    """Create a user; ``actor`` needs ``users.manage`` (``None`` is the CLI)."""
    require(session, actor, MANAGE)
    values = load(UserCreateSchema(), data)
    _check_role(session, values["role"])
    password = values.pop("password")
    user = User(**values, password_hash=hash_password(password) if password else None)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"A user with the email {values['email']} already exists.",
                       {"email": ["Already in use."]}) from None
    emit(session, "crm_user_created", actor=actor, user_ids=[user.id])
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def user_by_email(session: Session, email: str) -> User:
    try:
        normalized = normalize_email(email)
    except Exception:
        raise NotFound(f"No user with the email {email!r}.") from None
    user = session.scalar(select(User).where(User.email == normalized))
    if user is None:
        raise NotFound(f"No user with the email {email!r}.")
    return user


def update_user(session: Session, actor: User | None, user: User, data: Mapping[str, Any]) -> User:
    """Change a user's name, role or active flag; ``actor`` needs ``users.manage``.
    Nobody deactivates themselves, and the install always keeps an active user
    who can manage users: the last one is neither deactivated nor given a role
    without that permission (the CLI included: it could only undo it)."""
    require(session, actor, MANAGE)
    values = load(UserUpdateSchema(), data)
    if "role" in values:
        _check_role(session, values["role"])
    if values.get("is_active") is False and actor is not None and actor.id == user.id:
        raise ValidationFailed("You cannot deactivate yourself.",
                               {"is_active": ["You cannot deactivate yourself."]})
    _keep_a_manager(session, user, values)
    if values.get("is_active") is False and user.is_active:
        end_sessions(session, user)
    for key, value in values.items():
        setattr(user, key, value)
    session.flush()
    return user


def _keep_a_manager(session: Session, user: User, values: Mapping[str, Any]) -> None:
    """Refuse ``values`` for ``user`` if they would leave no active user who may
    manage users."""
    roles = registry(session)
    manages = [name for name in roles.roles if roles.allows(name, MANAGE)]
    stays = values.get("is_active", user.is_active) and values.get("role", user.role) in manages
    if stays or not (user.is_active and user.role in manages):
        return
    # Every active manager's row locked, in id order: of two managers demoting
    # each other at once, the second sees the first's change (PostgreSQL
    # re-reads a row it waited for) and is refused.
    managers = session.scalars(select(User.id).where(
        User.is_active, User.role.in_(manages)).order_by(User.id).with_for_update()).all()
    if set(managers) <= {user.id}:
        field = "is_active" if values.get("is_active") is False else "role"
        message = f"{user.email} is the last active user who can manage users."
        raise ValidationFailed(message, {field: [message]})


def end_sessions(session: Session, user: User) -> None:
    """End every web session of ``user``: Flask's session is a signed cookie that
    cannot be revoked alone, so each carries the user's session version, and
    bumping it makes every cookie issued so far worthless."""
    user.session_version += 1
    session.flush()


def update_profile(session: Session, user: User, data: Mapping[str, Any]) -> User:
    """A user's own profile: the display name, never role or active flag."""
    for key, value in load(ProfileInput(), data).items():
        setattr(user, key, value)
    session.flush()
    return user


def authenticate(sessions: sessionmaker[Session], email: str, password: str) -> User | None:
    """The active user with these credentials, or ``None``; upgrades old hashes.

    The password is checked outside any transaction that writes, and the
    sign-in (its time, an upgraded hash) is written in one of its own: Argon2
    takes a tenth of a second or more, which no other write should wait for
    (on SQLite a writing transaction holds the database's write lock)."""
    try:
        normalized = normalize_email(email)
    except Exception:
        normalized = ""
    with sessions() as session:
        found = session.scalar(select(User).where(User.email == normalized)) \
            if normalized else None
    stored = found.password_hash if found else None
    if not verify_password(stored, password) or found is None or not found.is_active:
        return None
    upgraded = hash_password(password) if needs_rehash(stored or "") else None
    with transaction(sessions) as session:
        user = session.get(User, found.id)
        # Deactivated, or given another password, while this one was checked.
        if user is None or not user.is_active or user.password_hash != stored:
            return None
        if upgraded:
            user.password_hash = upgraded
        user.last_login_at = utcnow()
    return user


def change_password(sessions: sessionmaker[Session], user_id: int, current: str,
                    new: str) -> User:
    """A user's own new password, given the current one; their other sessions
    end (``session_version``). Returns the user as changed.

    As at sign-in (:func:`authenticate`), Argon2 checks the current password
    and hashes the new one outside any transaction that writes; the change is
    written in one of its own, refused if the password changed meanwhile."""
    with sessions() as session:
        stored = session.scalar(select(User.password_hash).where(User.id == user_id))
    if not verify_password(stored, current):
        raise ValidationFailed("The current password is wrong.",
                               {"current_password": ["Wrong password."]})
    return _store(sessions, user_id, _hash(new, "new_password"), unless_changed_from=stored)


def set_password(sessions: sessionmaker[Session], actor: User | None, user_id: int,
                 password: str) -> User:
    """Give a user a new password (one's own, or anyone's with users.manage:
    for someone who forgot theirs); their sessions end. Hashed outside any
    transaction that writes."""
    hashed = _hash(password, "password")
    return _store(sessions, user_id, hashed, actor=actor)


def _hash(password: str, field: str) -> str:
    problem = password_problem(password)
    if problem:
        raise ValidationFailed(problem, {field: [problem]})
    return hash_password(password)


def _store(sessions: sessionmaker[Session], user_id: int, hashed: str, *,
           actor: User | None = None, unless_changed_from: str | None = None) -> User:
    with transaction(sessions) as session:
        if actor is not None and actor.id != user_id:
            require(session, actor, MANAGE)
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        if unless_changed_from is not None and user.password_hash != unless_changed_from:
            message = "The password was changed meanwhile: the current password is another."
            raise Conflict(message, {"current_password": [message]})
        user.password_hash = hashed
        user.session_version += 1
    return user


def issue_token(session: Session, actor: User | None, user: User, name: str = "") -> str:
    """Create an API token for ``user`` and return it; only its hash is kept."""
    if actor is not None and actor.id != user.id:
        require(session, actor, MANAGE)
    token = new_token()
    session.add(ApiToken(user=user, name=name[:100], token_hash=token_hash(token),
                         prefix=token[:12]))
    session.flush()
    return token


def revoke_token(session: Session, actor: User, token_id: int) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.id and actor.role != "admin"):
        raise NotFound("No such token.")
    token.revoked_at = utcnow()


# Every API request runs it: built once, since building the statement took
# longer than running it.
_TOKEN_USER = (select(User).join(ApiToken, ApiToken.user_id == User.id)
               .where(ApiToken.token_hash == bindparam("token_hash"),
                      ApiToken.revoked_at.is_(None), User.is_active.is_(True)))


def user_for_token(session: Session, token: str) -> User | None:
    """The active user a bearer token belongs to, or ``None``; one query."""
    return session.scalar(_TOKEN_USER, {"token_hash": token_hash(token)})


def users_by_id(session: Session, ids: Iterable[int | None] | None = None) -> dict[int, User]:
    """Users by id, ordered by name: those in ``ids``, or every user when ``ids``
    is None; one query. For showing owners' and actors' names."""
    query = select(User).order_by(User.name, User.email)
    if ids is not None:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        query = query.where(User.id.in_(wanted))
    return {user.id: user for user in session.scalars(query)}


def owner_problem(session: Session, user: User | None) -> str | None:
    """Why ``user`` may not own leads and contacts, or ``None`` when they may.
    An owner works the record: an active user of a staff role. External users
    (a portal's role, such as an advertiser's) never see the CRM's records, so
    a record they owned would vanish from every staff list."""
    if user is None or not user.is_active:
        return "Unknown or inactive user."
    role = registry(session).roles.get(user.role)
    if role is None or role.external:
        label = role.label if role else user.role
        return f"{user.name or user.email} is an external user ({label}); choose a staff user."
    return None


def possible_owners(session: Session) -> dict[int, User]:
    """The users who may own records (:func:`owner_problem`), by id, ordered by
    name: what an owner choice offers. One query."""
    internal = registry(session).internal()
    return {user.id: user for user in session.scalars(
        select(User).where(User.is_active.is_(True), User.role.in_(internal))
        .order_by(User.name, User.email))}
