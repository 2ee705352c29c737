"""Alembic, one branch per owner: the core and each plugin.

Each branch is its own script folder with its own version table
(``alembic_version`` for the core, ``alembic_version_<plugin>`` for a plugin), so
that a disabled plugin's recorded revision never confuses the others and
enabling it again continues where it stopped. Every migration runs in its own
transaction: when one fails, the branch stays at its last good revision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from crmcore.db import Base
from crmcore.errors import PluginError

CORE_MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class Branch:
    name: str
    path: Path

    @property
    def version_table(self) -> str:
        return "alembic_version" if self.name == "core" else f"alembic_version_{self.name}"

    def script(self) -> tuple[Config, ScriptDirectory]:
        cfg = Config()
        cfg.set_main_option("script_location", str(self.path))
        return cfg, ScriptDirectory.from_config(cfg)


def branches(hook: Any, only: str | None = None) -> list[Branch]:
    """The core branch, then each enabled plugin's in load order."""
    found = [Branch("core", CORE_MIGRATIONS)]
    for result in hook.crm_migrations():
        for name, path in (result or {}).items():
            found.append(Branch(name, Path(path)))
    names = [b.name for b in found]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise PluginError(f"migration branch(es) declared twice: {', '.join(sorted(duplicated))}")
    if only is not None:
        found = [b for b in found if b.name == only]
        if not found:
            raise PluginError(f"no migration branch named {only!r}; branches: {', '.join(names)}")
    return found


def current(engine: Engine, branch: Branch) -> str | None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": branch.version_table})
        heads = ctx.get_current_heads()
    return heads[0] if heads else None


def head(branch: Branch) -> str | None:
    return branch.script()[1].get_current_head()


def upgrade(engine: Engine, branch: Branch, target: str = "head") -> list[str]:
    """Migrate one branch to ``target``; returns the revisions applied."""
    cfg, script = branch.script()
    applied: list[str] = []

    def steps(rev: Any, _context: Any) -> Any:
        return script._upgrade_revs(target, rev)

    env = EnvironmentContext(cfg, script, fn=steps, destination_rev=target)
    with engine.connect() as conn:
        env.configure(
            connection=conn,
            target_metadata=Base.metadata,
            version_table=branch.version_table,
            transaction_per_migration=True,
            render_as_batch=True,
            on_version_apply=lambda *, step, **_: applied.append(step.up_revision_id),
        )
        try:
            env.run_migrations()
        except Exception as exc:
            conn.rollback()
            good = current(engine, branch)
            raise PluginError(
                f"migration of branch {branch.name!r} failed: {type(exc).__name__}: {exc}. "
                f"The branch stays at its last good revision ({good or 'none'})."
            ) from exc
        conn.commit()
    return applied


def upgrade_all(engine: Engine, hook: Any, only: str | None = None) -> Mapping[str, list[str]]:
    return {b.name: upgrade(engine, b) for b in branches(hook, only)}
