"""Personal data: what the plugin exports about a person, and erases."""

from __future__ import annotations

from pathlib import Path

from crmcore_plugins.leadworks.models import Advertiser, Submission, Upload
from crmcore_plugins.leadworks.services.intake import PLUGIN
from crmcore_plugins.leadworks.services.submissions import forget_handed_over
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmcore.models import Lead
from crmcore.types import Person, PersonExport


def _person_submissions(session: Session, person: Person) -> list[tuple[Submission, str]]:
    """The person's submissions with the advertiser's name."""
    query = (select(Submission, Advertiser.name)
             .join(Advertiser, Advertiser.id == Submission.advertiser_id)
             .join(Lead, Lead.id == Submission.lead_id))
    if person.record_type == "lead":
        query = query.where(Lead.id == person.record_id)
    else:  # a contact converted from a lead an advertiser handed over
        query = query.where(Lead.converted_contact_id == person.record_id)
    return [(s, n) for s, n in session.execute(query.order_by(Submission.id))]


def export_person(session: Session, person: Person) -> list[PersonExport]:
    """The person's submissions: advertiser, campaign, channel, time, and the
    name and email the lead was handed over with."""
    found = _person_submissions(session, person)
    if not found:
        return []
    return [PersonExport(PLUGIN, {"submissions": [
        {"advertiser": name, "campaign": s.campaign, "channel": s.channel,
         "submitted_at": s.created_at.isoformat(), "full_name": s.handed_name,
         "email": s.handed_email} for s, name in found]})]


def erase_uploads(session: Session, person: Person) -> None:
    """Delete the uploaded CSV files the person's rows came in (the import is
    finished with them); keep advertiser, campaign and time for the statistics.
    Idempotent: a file already gone is skipped."""
    job_ids = [s.import_id for s, _ in _person_submissions(session, person)
               if s.import_id is not None]
    if not job_ids:
        return
    for upload in session.scalars(select(Upload).where(Upload.job_id.in_(job_ids),
                                                       Upload.path != "")):
        Path(upload.path).unlink(missing_ok=True)
        upload.path = ""
    session.flush()


def erase_handed_over(session: Session, person: Person) -> None:
    """Blank the name and email the person's submissions keep as handed over."""
    forget_handed_over(session, sorted({s.lead_id for s, _ in _person_submissions(
        session, person) if s.lead_id is not None}))
