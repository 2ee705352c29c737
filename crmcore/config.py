"""Configuration from the environment and the instance folder.

Everything a deployer sets comes from ``CRM_*`` environment variables; what must
persist between runs but is not set (the secret key, which plugins are enabled)
is kept in the instance folder.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crmcore.errors import StartupError

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name


def instance_path(config: Mapping[str, Any] | None = None) -> Path:
    """The instance folder: ``CRM_INSTANCE_PATH``, else ``./instance``."""
    raw = (config or {}).get("INSTANCE_PATH") or os.environ.get("CRM_INSTANCE_PATH") or "instance"
    return Path(raw).resolve()


def database_url(instance: Path, config: Mapping[str, Any] | None = None) -> str:
    """``CRM_DATABASE_URL``, else a SQLite file in the instance folder; checked for syntax."""
    url = (config or {}).get("DATABASE_URL") or os.environ.get("CRM_DATABASE_URL")
    if not url:
        return f"sqlite:///{instance / 'crm.sqlite3'}"
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StartupError(f"CRM_DATABASE_URL cannot be parsed: {exc}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StartupError(
            f"CRM_DATABASE_URL uses {parsed.get_backend_name()!r}; "
            "crmcore supports sqlite and postgresql"
        )
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def max_upload_bytes() -> int:
    """``CRM_MAX_UPLOAD_MB`` (50) in bytes: the largest request body the app
    reads, and so the largest CSV file an import takes."""
    raw = os.environ.get("CRM_MAX_UPLOAD_MB", "50").strip()
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = 0
    if not 0 < megabytes <= 100_000:
        raise StartupError(f"CRM_MAX_UPLOAD_MB must be a number of megabytes, not {raw!r}")
    return int(megabytes * 1024 * 1024)


def secret_key(instance: Path) -> str:
    """``CRM_SECRET_KEY``, else a key generated once and kept in the instance folder."""
    key = os.environ.get("CRM_SECRET_KEY")
    if key:
        return key
    path = instance / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
