"""The gdpr plugin's rules: who may anonymize, export and touch, which fields are
erased, the retention sweep, the contact age view and the audit log.

Views and commands parse input, call one function here and render; every
function that acts for a person checks the ``gdpr.manage`` permission itself,
so the web pages and the command line cannot disagree. The personal data itself
is found, exported and erased by :mod:`crmcore.services.privacy`, which drives
the core's and every plugin's privacy hooks.

Transactions:

* One anonymization (page, bulk action) is one transaction, committed by the
  caller: when the core or any plugin fails to erase, everything rolls back and
  no person is ever half anonymized. A bulk anonymization is all or nothing.
* The sweep runs one transaction per record, so that one failing plugin does
  not hold back the others' retention, and claims each record with a
  conditional ``UPDATE ... WHERE anonymized_at IS NULL``: two sweeps running at
  once (or a sweep and an admin) never anonymize one record twice.
"""

from __future__ import annotations

import base64
import calendar
import io
import json
import logging
import re
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmcore_plugins.gdpr import PERMISSION
from crmcore_plugins.gdpr.models import GdprAudit, GdprFieldChoice, GdprRetention
from crmcore_plugins.gdpr.schemas import (
    RECORD_TYPES,
    AgeFilters,
    AuditFilters,
    SettingsInput,
    load,
)
from sqlalchemy import Integer, String, cast, delete, func, literal, null, select, tuple_, union_all
from sqlalchemy import update as sql_update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

import crmcore.services.privacy as privacy
import crmcore.services.records as rec
from crmcore.auth.roles import require
from crmcore.db import UtcDateTime, transaction, utcnow
from crmcore.errors import Conflict, ErasureFailed, NotFound, ValidationFailed
from crmcore.models import User
from crmcore.types import Person, PersonalField, PersonExport

log = logging.getLogger("crmcore.gdpr")

KINDS: Mapping[str, rec.Kind] = {"lead": rec.LEADS, "contact": rec.CONTACTS}
# Privacy by default (GDPR Art. 25): every optional field is erased until the
# admin chooses otherwise, including fields a plugin declares later.
DEFAULT_ERASE = True
EXPORT_FORMAT = "crmcore-gdpr-export/1"
SWEEP_RETRIES = 3


class AlreadyAnonymized(Conflict):
    """The record was anonymized before: nothing is left to erase or export."""

    title = "Already anonymized"


def _anonymized_message(record_type: str, record: Any) -> str:
    when = record.anonymized_at.strftime("%Y-%m-%d") if record.anonymized_at else "earlier"
    return (f"This {record_type} was already anonymized on {when}; it holds no personal "
            "data any more and nothing was changed.")


def audit(session: Session, actor: User | None, action: str, via: str, *,
          record_type: str | None = None, record_id: int | None = None,
          fields: Iterable[str] = (), count: int = 1) -> None:
    """Record a privacy action. Only ids, field keys and counts: never a value."""
    session.add(GdprAudit(action=action, actor_id=actor.id if actor else None, via=via,
                          record_type=record_type, record_id=record_id,
                          fields=sorted(fields), count=count))


# -- settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSetting:
    field: PersonalField
    erase: bool


@dataclass(frozen=True)
class Settings:
    fields: list[FieldSetting]
    retention: dict[str, int]

    def by_record_type(self) -> list[tuple[str, list[FieldSetting]]]:
        groups: dict[str, list[FieldSetting]] = {}
        for setting in self.fields:
            groups.setdefault(setting.field.record_type, []).append(setting)
        return list(groups.items())


def _choices(session: Session) -> dict[str, bool]:
    return {c.key: c.erase for c in session.scalars(select(GdprFieldChoice))}


def erase_keys(session: Session) -> frozenset[str]:
    """The fields erased on anonymization: the mandatory ones and the chosen ones
    that some enabled owner still declares."""
    choices = _choices(session)
    return frozenset(f.key for f in privacy.personal_fields(session)
                     if f.mandatory or choices.get(f.key, DEFAULT_ERASE))


def retention(session: Session) -> dict[str, int]:
    """Months untouched records are kept, per record type that has a policy."""
    return {r.record_type: r.months for r in session.scalars(select(GdprRetention))}


def get_settings(session: Session, actor: User | None) -> Settings:
    require(session, actor, PERMISSION)
    chosen = erase_keys(session)
    return Settings([FieldSetting(f, f.key in chosen) for f in privacy.personal_fields(session)],
                    retention(session))


def save_settings(session: Session, actor: User | None, data: Mapping[str, Any], *,
                  via: str = "web") -> Settings:
    """Store which optional fields are erased (those not in ``erase`` are kept) and
    the retention months per record type (``None``: no policy)."""
    require(session, actor, PERMISSION)
    declared = privacy.personal_fields(session)
    optional = {f.key for f in declared if not f.mandatory}
    unknown = sorted({str(k) for k in data.get("erase") or ()} - {f.key for f in declared})
    # Every problem at once: the unknown keys beside the schema's own errors.
    errors = {"erase": [f"Unknown: {', '.join(unknown)}."]} if unknown else {}
    try:
        values = load(SettingsInput(), data)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.detail, {**exc.errors, **errors}) from None
    if errors:
        raise ValidationFailed("Unknown personal data fields.", errors)
    before = _choices(session)
    for key in optional:
        erase = key in values["erase"]
        if before.get(key) != erase:
            session.merge(GdprFieldChoice(key=key, erase=erase))
    changed = [key for key in optional
               if before.get(key, DEFAULT_ERASE) != (key in values["erase"])]
    old_policy = retention(session)
    for record_type in RECORD_TYPES:
        months = values[f"retention_{record_type}"]
        if months is None:
            session.execute(delete(GdprRetention).where(GdprRetention.record_type == record_type))
        else:
            session.merge(GdprRetention(record_type=record_type, months=months))
        if old_policy.get(record_type) != months:
            changed.append(f"retention.{record_type}")
    session.flush()
    audit(session, actor, "settings", via, fields=changed, count=len(changed))
    return get_settings(session, actor)


# -- anonymize and touch -------------------------------------------------------------------


def _claim(session: Session, record_type: str, record_id: int,
           cutoff: datetime | None = None) -> bool:
    """Mark the record anonymized unless someone did first (or, for the sweep, it
    was touched since it was listed). The conditional UPDATE takes the row lock
    (PostgreSQL) or the database's write lock (SQLite): of two transactions
    claiming one record, exactly one wins."""
    model = KINDS[record_type].model
    query = sql_update(model).where(model.id == record_id, model.anonymized_at.is_(None))
    if cutoff is not None:
        query = query.where(model.touched_at < cutoff)
    result = session.execute(query.values(anonymized_at=utcnow())
                             .execution_options(synchronize_session="fetch"))
    return bool(result.rowcount)


def _anonymize(session: Session, actor: User | None, record_type: str, record_id: int,
               via: str, cutoff: datetime | None = None) -> frozenset[str] | None:
    """Anonymize one visible record inside the caller's transaction; ``None`` when
    it was anonymized (or, with ``cutoff``, touched) by someone else meanwhile."""
    record, person = privacy.find_person(session, actor, record_type, record_id)
    if record.anonymized_at is not None or not _claim(session, record_type, record_id, cutoff):
        return None
    erased = privacy.erase(session, actor, person, erase_keys(session))
    # The other core record type's keys say nothing about this person.
    owner = {k: k.partition(".")[0] for k in erased}
    erased = frozenset(k for k in erased
                       if owner[k] == record_type or owner[k] not in RECORD_TYPES)
    audit(session, actor, "anonymize", via, record_type=record_type, record_id=record_id,
          fields=erased)
    return erased


def describe(session: Session, actor: User | None, record_type: str,
             record_id: int) -> tuple[Any, list[PersonalField]]:
    """The record and the fields an anonymization would erase, for the
    confirmation and export pages."""
    require(session, actor, PERMISSION)
    record, _ = privacy.find_person(session, actor, record_type, record_id)
    chosen = erase_keys(session)
    return record, [f for f in privacy.personal_fields(session) if f.key in chosen]


def anonymize(session: Session, actor: User | None, record_type: str, record_id: int, *,
              via: str = "web") -> frozenset[str]:
    """Anonymize the person behind one lead or contact (live or in the recycle bin)
    in the core and every plugin; returns the field keys erased. The caller
    commits; on :class:`ErasureFailed` it must roll back.

    :raises NotFound: no such record, or one ``actor`` may not see.
    :raises AlreadyAnonymized: nothing left to do.
    """
    require(session, actor, PERMISSION)
    erased = _anonymize(session, actor, record_type, record_id, via)
    if erased is None:
        record, _ = privacy.find_person(session, actor, record_type, record_id)
        raise AlreadyAnonymized(_anonymized_message(record_type, record))
    return erased


def anonymize_many(session: Session, actor: User | None, refs: Sequence[tuple[str, int]], *,
                   via: str = "web") -> int:
    """Anonymize several records in the caller's transaction, all or nothing: when
    one fails the caller rolls back and none is anonymized. Records anonymized
    meanwhile are skipped. Returns how many were anonymized."""
    require(session, actor, PERMISSION)
    done = 0
    for record_type, record_id in dict.fromkeys(refs):
        try:
            if _anonymize(session, actor, record_type, record_id, via) is not None:
                done += 1
        except ErasureFailed as exc:
            raise ErasureFailed(f"{record_type.capitalize()} #{record_id}: {exc.detail}",
                                exc.errors) from exc
    return done


def touch(session: Session, actor: User | None, refs: Sequence[tuple[str, int]], *,
          via: str = "web") -> int:
    """Reset the "last touched" date of the visible, not anonymized records among
    ``refs``: their retention starts again. Returns how many were touched."""
    require(session, actor, PERMISSION)
    total = 0
    for record_type in RECORD_TYPES:
        ids = sorted({i for t, i in refs if t == record_type})
        if not ids:
            continue
        model = KINDS[record_type].model
        live = list(session.scalars(select(model.id).where(model.id.in_(ids),
                                                           model.anonymized_at.is_(None))))
        for record_id in rec.touch(session, actor, KINDS[record_type], live):
            audit(session, actor, "touch", via, record_type=record_type, record_id=record_id)
            total += 1
    return total


# -- export --------------------------------------------------------------------------------


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
            raise AlreadyAnonymized(_anonymized_message(person.record_type, record))
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


# -- retention sweep -----------------------------------------------------------------------


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` minus calendar months; the 31st becomes the month's last day."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass
class SweepPart:
    """What the sweep found and did for one record type."""

    record_type: str
    months: int
    cutoff: datetime
    due: list[tuple[int, datetime]] = field(default_factory=list)
    anonymized: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


@dataclass
class SweepReport:
    dry_run: bool
    parts: list[SweepPart] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(len(p.failed) for p in self.parts)

    def lines(self) -> list[str]:
        """What ``crm gdpr sweep`` prints: ids, dates and counts, no personal data."""
        if not self.parts:
            return ["No retention policy is set (GDPR settings); nothing was changed."]
        out = []
        for part in self.parts:
            head = (f"{part.record_type}: policy {part.months} months, untouched since before "
                    f"{part.cutoff:%Y-%m-%d}: {len(part.due)} due")
            if self.dry_run:
                out.append(head + ", would anonymize:")
                out += [f"  {part.record_type} #{i} (last touched {t:%Y-%m-%d})"
                        for i, t in part.due]
            else:
                out.append(f"{head}, {part.anonymized} anonymized, {part.skipped} skipped, "
                           f"{len(part.failed)} failed")
                out += [f"  {message}" for message in part.failed]
        if self.dry_run:
            out.append("Dry run: nothing was changed.")
        return out


def _due(session: Session, record_type: str, cutoff: datetime) -> list[tuple[int, datetime]]:
    model = KINDS[record_type].model
    # Live and binned alike: the recycle bin keeps personal data too.
    return [(i, t) for i, t in session.execute(
        select(model.id, model.touched_at)
        .where(model.anonymized_at.is_(None), model.touched_at < cutoff)
        .order_by(model.touched_at, model.id))]


def sweep(sessions: sessionmaker[Session], *, dry_run: bool = False,
          now: datetime | None = None) -> SweepReport:
    """Anonymize every lead and contact untouched for longer than its type's
    retention policy. Safe to run twice (the second finds nothing due) and
    concurrently (each record is claimed; see :func:`_claim`)."""
    now = now or utcnow()
    report = SweepReport(dry_run)
    with transaction(sessions) as session:
        policies = retention(session)
        for record_type in RECORD_TYPES:
            if record_type in policies:
                cutoff = months_before(now, policies[record_type])
                report.parts.append(SweepPart(record_type, policies[record_type], cutoff,
                                              _due(session, record_type, cutoff)))
    if dry_run:
        return report
    for part in report.parts:
        for record_id, _ in part.due:
            outcome = _sweep_one(sessions, part.record_type, record_id, part.cutoff)
            if outcome is True:
                part.anonymized += 1
            elif outcome is False:
                part.skipped += 1
            else:
                part.failed.append(f"{part.record_type} #{record_id}: {outcome}")
    with transaction(sessions) as session:
        for part in report.parts:
            audit(session, None, "sweep", "sweep", record_type=part.record_type,
                  count=part.anonymized)
    return report


def _sweep_one(sessions: sessionmaker[Session], record_type: str, record_id: int,
               cutoff: datetime) -> bool | str:
    """Anonymize one record in a transaction of its own: True when done, False when
    another sweep (or a touch) got there first, else the error's message."""
    attempt = 0
    while True:
        attempt += 1
        try:
            with transaction(sessions) as session:
                return _anonymize(session, None, record_type, record_id, "sweep",
                                  cutoff) is not None
        except NotFound:
            return False  # purged from the recycle bin since it was listed
        except ErasureFailed as exc:
            return exc.detail
        except OperationalError as exc:
            # A busy SQLite database or a PostgreSQL deadlock with a concurrent
            # writer: the transaction rolled back whole, so trying again is safe.
            if attempt >= SWEEP_RETRIES:
                log.warning("sweeping %s #%s failed", record_type, record_id, exc_info=True)
                return f"database busy ({type(exc.orig).__name__})"
            time.sleep(0.2 * attempt)


# -- contact age ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AgeRow:
    record_type: str
    id: int
    name: str
    owner_id: int | None
    stage_id: int | None
    touched_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.record_type}:{self.id}"

    def age_days(self, now: datetime) -> int:
        return max(0, (now - self.touched_at).days)


@dataclass(frozen=True)
class AgePage:
    rows: list[AgeRow]
    next_cursor: str | None
    filters: dict[str, Any]


def _age_select(session: Session, actor: User | None, record_type: str,
                filters: Mapping[str, Any], cutoff: datetime | None) -> Any:
    kind = KINDS[record_type]
    model = kind.model
    if record_type == "lead":
        name, stage = model.full_name, model.stage_id
    else:
        name = func.trim(model.first_name + " " + model.last_name)
        stage = cast(null(), Integer)
    query = rec.visible(session, actor, kind).where(model.anonymized_at.is_(None))
    if cutoff is not None:
        query = query.where(model.touched_at < cutoff)
    if filters.get("owner_id") is not None:
        query = query.where(model.owner_id == filters["owner_id"])
    if filters.get("stage_id") is not None:
        query = query.where(model.stage_id == filters["stage_id"])
    return query.with_only_columns(
        literal(record_type, String(20)).label("record_type"), model.id.label("id"),
        name.label("name"), model.owner_id.label("owner_id"), stage.label("stage_id"),
        model.touched_at.label("touched_at"))


def _encode_cursor(row: AgeRow) -> str:
    raw = f"{row.touched_at.isoformat()}|{row.record_type}|{row.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, record_type, record_id = raw.split("|")
        when = datetime.fromisoformat(moment)
        if record_type not in RECORD_TYPES or when.tzinfo is None:
            raise ValueError(record_type)
        return when, record_type, int(record_id)
    except ValueError:
        raise ValidationFailed("Bad cursor.", {"cursor": ["Start from the first page."]}) from None


def age_page(session: Session, actor: User | None, args: Mapping[str, Any], *,
             limit: int = 50, now: datetime | None = None) -> AgePage:
    """Leads and contacts the actor may see, not anonymized, least recently
    touched first; paginated by keyset (touched_at, record type, id)."""
    require(session, actor, PERMISSION)
    filters = load(AgeFilters(), args)
    now = now or utcnow()
    cutoff = months_before(now, filters["older_than"]) if filters["older_than"] else None
    types = [filters["record_type"]] if filters["record_type"] else list(RECORD_TYPES)
    if filters["stage_id"] is not None:
        types = [t for t in types if t == "lead"]  # contacts have no stage
    if not types:
        return AgePage([], None, filters)
    rows = union_all(*(_age_select(session, actor, t, filters, cutoff) for t in types)).subquery()
    query = select(rows).order_by(rows.c.touched_at, rows.c.record_type, rows.c.id)
    if filters["cursor"]:
        when, record_type, record_id = _decode_cursor(filters["cursor"])
        query = query.where(tuple_(rows.c.touched_at, rows.c.record_type, rows.c.id) > tuple_(
            literal(when, UtcDateTime()), literal(record_type, String(20)),
            literal(record_id, Integer)))
    found = [AgeRow(*row) for row in session.execute(query.limit(limit + 1))]
    following = _encode_cursor(found[limit - 1]) if len(found) > limit else None
    return AgePage(found[:limit], following, filters)


def rows_for(session: Session, actor: User | None,
             refs: Sequence[tuple[str, int]]) -> list[AgeRow]:
    """The age view's rows for ``refs`` that the actor may see and that are not
    anonymized, for a bulk action's confirmation."""
    require(session, actor, PERMISSION)
    found: list[AgeRow] = []
    for record_type in RECORD_TYPES:
        ids = {i for t, i in refs if t == record_type}
        if ids:
            query = _age_select(session, actor, record_type, {}, None)
            found += [AgeRow(*row) for row in session.execute(
                query.where(KINDS[record_type].model.id.in_(ids)))]
    return sorted(found, key=lambda r: (r.touched_at, r.record_type, r.id))


# -- audit log -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditPage:
    rows: list[GdprAudit]
    next_cursor: int | None
    filters: dict[str, Any]


def audit_page(session: Session, actor: User | None, args: Mapping[str, Any], *,
               limit: int = 100) -> AuditPage:
    """The audit log, newest first, filtered by action, actor, record and dates."""
    require(session, actor, PERMISSION)
    filters = load(AuditFilters(), args)
    query = select(GdprAudit)
    for name in ("action", "actor_id", "record_type", "record_id"):
        if filters[name] is not None:
            query = query.where(getattr(GdprAudit, name) == filters[name])
    if filters["date_from"]:
        query = query.where(GdprAudit.at >= _day_start(filters["date_from"]))
    if filters["date_to"]:
        query = query.where(GdprAudit.at < _day_start(filters["date_to"]) + timedelta(days=1))
    if filters["cursor"]:
        query = query.where(GdprAudit.id < filters["cursor"])
    found = list(session.scalars(query.order_by(GdprAudit.id.desc()).limit(limit + 1)))
    following = found[limit - 1].id if len(found) > limit else None
    return AuditPage(found[:limit], following, filters)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def users(session: Session, ids: Iterable[int | None] | None = None) -> dict[int, User]:
    """Users by id, for names in the age view and the audit log (one query)."""
    query = select(User).order_by(User.name, User.email)
    if ids is not None:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        query = query.where(User.id.in_(wanted))
    return {user.id: user for user in session.scalars(query)}
