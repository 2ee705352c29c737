"""CSV uploads: a campaign's batch, checked at once by the core import (the
same row-by-row report) and then imported by it in the background."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmcore_plugins.leadworks.models import Advertiser, Upload
from crmcore_plugins.leadworks.services.fields import check_campaign, import_fields
from crmcore_plugins.leadworks.services.intake import (
    DUPLICATE_MESSAGE,
    Submitter,
    lead_defaults,
    record_refusal,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import crmcore.services.imports as imports
import crmcore.services.records as records
from crmcore.db import transaction
from crmcore.errors import NotFound
from crmcore.models import ImportJob


@dataclass
class Checked:
    """What the check of an upload found, and the upload once its import is queued."""

    report: imports.Report
    upload: Upload | None = None


def upload_csv(sessions: sessionmaker[Session], submitter: Submitter, campaign: Any,
               path: Path, filename: str, all_or_nothing: bool, encoding: str = "utf-8-sig",
               sheet: str | None = None) -> Checked:
    """Check a stored CSV (or a workbook's sheet, its first unless ``sheet``
    names another) at once (the same row-by-row report as the core import) and
    count its known emails as refused; then queue the import of its rows, or
    of its good rows only unless all-or-nothing was asked and there are
    problems. The caller dispatches ``upload.job_id``.

    The file is read in a session that only reads, and what the upload
    records is written in a transaction of its own after it: on SQLite a
    transaction that writes holds the one write lock, which a file of tens
    of thousands of rows would keep from every other save for seconds. Call
    it outside any transaction that writes."""
    campaign = check_campaign(campaign)
    with sessions() as session:
        # A taken email is told only that it is known, not what kind of record holds it.
        options = imports.ImportOptions(
            on_duplicate="report", skip_bad_rows=not all_or_nothing, encoding=encoding,
            sheet=sheet, fields=import_fields(session),
            defaults=lead_defaults(submitter, campaign), known_email_message=DUPLICATE_MESSAGE)
        report = imports.check(session, None, records.LEADS, path, options)
    with transaction(sessions) as session:
        record_refusal(session, submitter, campaign, sum(
            1 for _, _, message in report.errors if message == DUPLICATE_MESSAGE))
        if not report.to_create or (report.error_count and all_or_nothing):
            return Checked(report)
        # The import checks the file again as it runs: what changed meanwhile counts.
        job = imports.start(session, None, records.LEADS, path, filename, options)
        upload = Upload(advertiser_id=submitter.advertiser_id, job_id=job.id,
                        user_id=submitter.user_id, campaign=campaign, filename=filename[:255],
                        path=str(path), all_or_nothing=all_or_nothing)
        session.add(upload)
        session.flush()
        return Checked(report, upload)


def own_upload(session: Session, advertiser: Advertiser,
               upload_id: int) -> tuple[Upload, ImportJob]:
    """An upload of this advertiser and its import job; 404 for anyone else's."""
    upload = session.get(Upload, upload_id)
    if upload is None or upload.advertiser_id != advertiser.id:
        raise NotFound("No such upload.")
    return upload, imports.get_job(session, None, upload.job_id)


def own_uploads(session: Session, advertiser: Advertiser, limit: int = 20) -> list[Upload]:
    """The advertiser's latest uploads, newest first."""
    return list(session.scalars(select(Upload).where(Upload.advertiser_id == advertiser.id)
                                .order_by(Upload.id.desc()).limit(limit)))
