"""Attachment bytes on disk, under ``<instance>/mail/attachments/``.

Files are named by the SHA-256 of their content (``ab/abcdef...``): a path is
never built from anything a sender wrote, the same file sent twice is stored
once, and a file is removed only when no attachment row refers to its hash.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

HASH = re.compile(r"[0-9a-f]{64}")
PENDING = "mail_unreferenced_hashes"


def root(session: Session) -> Path:
    """The attachments folder of the session's instance."""
    return Path(session.info["crm"].instance) / "mail" / "attachments"


def relative_path(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}"


def save(folder: Path, data: bytes) -> tuple[str, str]:
    """Store ``data`` (once) and return its SHA-256 and path relative to ``folder``."""
    sha256 = hashlib.sha256(data).hexdigest()
    relative = relative_path(sha256)
    target = folder / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write aside and rename: a reader never sees half a file, and two
        # imports of the same file end with the same complete bytes.
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return sha256, relative


def path_of(folder: Path, sha256: str) -> Path:
    """The file holding the content with this hash. Only a well-formed hash is
    accepted, so that a damaged row can never name a file outside ``folder``."""
    if not HASH.fullmatch(sha256):
        raise ValueError("not a SHA-256 hex digest")
    return folder / relative_path(sha256)


def read(folder: Path, sha256: str) -> bytes | None:
    """The stored bytes, or None when the file is missing."""
    try:
        return path_of(folder, sha256).read_bytes()
    except FileNotFoundError:
        return None


def remove_after_commit(session: Session, hashes: Iterable[str]) -> None:
    """Delete the files of ``hashes`` once the session's transaction has committed,
    those that no attachment row refers to by then. Deleting earlier would lose
    files a rollback brings back into use."""
    pending: set[str] = session.info.setdefault(PENDING, set())
    if not pending:
        event.listen(session, "after_commit", _remove_unreferenced, once=True)
    pending.update(hashes)


def _remove_unreferenced(session: Session) -> None:
    from crmcore_plugins.mail.models import MailAttachment

    hashes = session.info.pop(PENDING, set())
    if not hashes:
        return
    # The committed session cannot run SQL any more: ask on a connection of its own.
    with session.get_bind().connect() as conn:
        used = set(conn.scalars(select(MailAttachment.sha256)
                                .where(MailAttachment.sha256.in_(hashes))))
    folder = root(session)
    for sha256 in hashes - used:
        path_of(folder, sha256).unlink(missing_ok=True)
