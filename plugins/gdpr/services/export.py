"""Subject access export (GDPR Art. 15, 20): everything the CRM holds about a
person, found by record or by email address, as one JSON document or a ZIP
with the plugins' files."""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crmcore_plugins.gdpr import PERMISSION
from crmcore_plugins.gdpr.services.audit import audit
from crmcore_plugins.gdpr.services.records import KINDS, AlreadyAnonymized, anonymized_message
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

import crmcore.services.privacy as privacy
from crmcore.auth.roles import require
from crmcore.db import utcnow
from crmcore.errors import NotFound, ValidationFailed
from crmcore.models import User
from crmcore.types import Person, PersonExport

EXPORT_FORMAT = "crmcore-gdpr-export/1"


@dataclass(frozen=True)
class SubjectExport:
    """Everything the CRM holds about one person, from one or more records."""

    generated_at: datetime
    records: list[tuple[Person, list[PersonExport]]]


def _export(session: Session, actor: User | None, pairs: list[tuple[Any, Person]],
            via: str) -> SubjectExport:
    records = []
    for record, person in pairs:
        if record.anonymized_at is not None:
            raise AlreadyAnonymized(anonymized_message(person.record_type, record))
        parts = privacy.export(session, person)
        records.append((person, parts))
        audit(session, actor, "export", via, record_type=person.record_type,
              record_id=person.record_id, fields=sorted({p.section for p in parts}),
              count=sum(len(p.files) for p in parts))
    return SubjectExport(utcnow(), records)


def export_record(session: Session, actor: User | None, record_type: str, record_id: int, *,
                  via: str = "web") -> SubjectExport:
    """Subject access export of the person behind one lead or contact."""
    require(session, actor, PERMISSION)
    return _export(session, actor, [privacy.find_person(session, actor, record_type,
                                                        record_id)], via)


def export_email(session: Session, actor: User | None, email: str, *,
                 via: str = "cli") -> SubjectExport:
    """Subject access export of every lead and contact (live or binned) that carries
    ``email``, anonymized ones left out."""
    require(session, actor, PERMISSION)
    wanted = email.strip().lower()
    if "@" not in wanted:
        raise ValidationFailed("Give an email address.", {"email": ["Not an email address."]})
    pairs, anonymized = [], 0
    for record_type, kind in KINDS.items():
        model = kind.model
        # A coarse text match on the JSON list, then the exact one in Python: the
        # list is not indexed, and subject requests are rare.
        ids = session.scalars(
            select(model.id).where(func.lower(cast(model.emails, String)).contains(
                wanted, autoescape=True)).order_by(model.id))
        for record_id in ids:
            try:
                record, person = privacy.find_person(session, actor, record_type, record_id)
            except NotFound:
                continue
            if wanted not in person.emails:
                continue
            if record.anonymized_at is not None:
                anonymized += 1
            else:
                pairs.append((record, person))
    if not pairs:
        if anonymized:
            raise AlreadyAnonymized("Every record with this email address was already "
                                    "anonymized; there is nothing to export.")
        raise NotFound("No lead or contact has this email address.")
    return _export(session, actor, pairs, via)


def _safe_name(name: str) -> str:
    """A file name that cannot leave its folder in the ZIP, whatever a plugin gave."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("\\", "/").rsplit("/", 1)[-1])
    base = base.strip("._")
    return base[:120] or "file"


def _layout(export: SubjectExport) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The JSON document and the files, each under its path in the ZIP."""
    files: dict[str, bytes] = {}
    records = []
    for person, parts in export.records:
        folder = f"files/{person.record_type}-{person.record_id}"
        sections = []
        for part in parts:
            names = []
            for name, content in part.files.items():
                path = f"{folder}/{_safe_name(part.section)}/{_safe_name(name)}"
                stem, n = path, 1
                while path in files:
                    n += 1
                    path = f"{stem}-{n}"
                files[path] = content
                names.append(path)
            sections.append({"section": part.section, "data": part.data, "files": names})
        records.append({"record_type": person.record_type, "record_id": person.record_id,
                        "parts": sections})
    document = {"format": EXPORT_FORMAT, "generated_at": export.generated_at.isoformat(),
                "records": records}
    return document, files


def to_json(export: SubjectExport) -> bytes:
    """The export as one JSON document; files are listed by their ZIP path."""
    document, _ = _layout(export)
    return json.dumps(document, indent=2, ensure_ascii=False, default=str).encode()


def to_zip(export: SubjectExport) -> bytes:
    """The export as a ZIP: ``personal-data.json`` and the files it lists."""
    document, files = _layout(export)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("personal-data.json",
                         json.dumps(document, indent=2, ensure_ascii=False, default=str))
        for path, content in files.items():
            archive.writestr(path, content)
    return buffer.getvalue()
