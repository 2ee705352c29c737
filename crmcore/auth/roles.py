"""Roles and permissions, merged from the core and every plugin through
``crm_roles`` and ``crm_permissions``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from crmcore.errors import Forbidden, PluginError
from crmcore.types import Permission, Role


@dataclass(frozen=True)
class RoleRegistry:
    roles: dict[str, Role]
    permissions: dict[str, Permission]
    grants: dict[str, frozenset[str]]

    @classmethod
    def collect(cls, hook: Any) -> RoleRegistry:
        roles: dict[str, Role] = {}
        for role in _flatten(hook.crm_roles()):
            if role.name in roles:
                raise PluginError(f"role {role.name!r} is defined twice")
            roles[role.name] = role
        permissions: dict[str, Permission] = {}
        grants: dict[str, set[str]] = {name: set(role.permissions) for name, role in roles.items()}
        for perm in _flatten(hook.crm_permissions()):
            if perm.name in permissions:
                raise PluginError(f"permission {perm.name!r} is defined twice")
            permissions[perm.name] = perm
            for role_name in perm.roles:
                if role_name not in roles:
                    raise PluginError(f"permission {perm.name!r} names unknown role {role_name!r}")
                grants[role_name].add(perm.name)
        return cls(roles, permissions, {k: frozenset(v) for k, v in grants.items()})

    def internal(self) -> list[str]:
        return [name for name, role in self.roles.items() if not role.external]

    def allows(self, role: str, permission: str) -> bool:
        return permission in self.grants.get(role, frozenset())


def _flatten(results: Iterable[Iterable[Any] | None]) -> list[Any]:
    return [item for result in results for item in (result or ())]


def registry(session: Session) -> RoleRegistry:
    return session.info["crm"].roles


def can(session: Session, actor: Any, permission: str) -> bool:
    """Whether ``actor`` holds ``permission``. ``None`` is the system (CLI, jobs)."""
    if actor is None:
        return True
    return actor.is_active and registry(session).allows(actor.role, permission)


def require(session: Session, actor: Any, permission: str) -> None:
    """Raise :class:`Forbidden` unless ``actor`` holds ``permission``."""
    if not can(session, actor, permission):
        raise Forbidden(f"you lack the permission {permission!r}")
