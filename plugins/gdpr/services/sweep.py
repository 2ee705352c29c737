"""The retention sweep (``crm gdpr sweep``, for cron): anonymize every record
untouched for longer than its type's retention policy, one transaction per
record."""

from __future__ import annotations

import calendar
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from crmcore_plugins.gdpr.schemas import RECORD_TYPES
from crmcore_plugins.gdpr.services.anonymize import try_anonymize
from crmcore_plugins.gdpr.services.audit import audit
from crmcore_plugins.gdpr.services.records import KINDS
from crmcore_plugins.gdpr.services.settings import retention
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from crmcore.db import transaction, utcnow
from crmcore.errors import ErasureFailed, NotFound

log = logging.getLogger("crmcore.gdpr")

SWEEP_RETRIES = 3


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
    # Records merged into those anonymized, anonymized with them.
    merged: int = 0
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
                merged = (f" (and {part.merged} merged into them)" if part.merged else "")
                out.append(f"{head}, {part.anonymized} anonymized{merged}, {part.skipped} "
                           f"skipped, {len(part.failed)} failed")
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
    concurrently (each record is claimed; see :func:`.anonymize._claim`)."""
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
            outcome = _sweep_one(sessions, part.record_type, record_id, part.cutoff, part)
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
               cutoff: datetime, part: SweepPart | None = None) -> bool | str:
    """Anonymize one record (with the records merged into it, counted in
    ``part.merged``) in a transaction of its own: True when done, False when
    another sweep (or a touch) got there first, else the error's message."""
    attempt = 0
    while True:
        attempt += 1
        try:
            with transaction(sessions) as session:
                erased = try_anonymize(session, None, record_type, record_id, "sweep", cutoff)
            if erased is not None and part is not None:
                part.merged += len(erased.merged)
            return erased is not None
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
