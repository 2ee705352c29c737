"""What follows every lead an advertiser hands over, whichever the channel:
the core's ``crm_leads_created`` event calls :func:`on_leads_created` for a
single create and for each batch of a CSV import alike."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from crmcore_plugins.leadworks.models import Submission
from crmcore_plugins.leadworks.services.intake import PLUGIN
from crmcore_plugins.leadworks.services.owners import next_owners
from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.orm import Session

import crmcore.services.records as records
from crmcore import mail
from crmcore.db import any_of
from crmcore.models import Lead


def _handed_over(session: Session) -> ColumnElement[bool]:
    """Leads whose plugin data holds our marker object: the database tells, so
    that an import's batch of leads from elsewhere is not read back."""
    if session.get_bind().dialect.name == "postgresql":
        return func.json_typeof(Lead.plugin_data[PLUGIN]) == "object"
    return func.json_type(Lead.plugin_data, f"$.{PLUGIN}") == "object"


def on_leads_created(session: Session, lead_ids: Sequence[int]) -> None:
    """Bookkeeping for the leads an advertiser handed over, among ``lead_ids``:
    their submission rows, their owners by the rule, a timeline entry saying
    who handed them over and who owns them, and an email to each owner after
    commit. A handful of statements per batch, whatever its size."""
    rows = session.execute(select(Lead.id, Lead.full_name, Lead.plugin_data, Lead.import_id,
                                  Lead.email_key)
                           .where(any_of(session, Lead.id, lead_ids), _handed_over(session))
                           .order_by(Lead.id)).all()
    ours = [(lead_id, name, data[PLUGIN], import_id, email)
            for lead_id, name, data, import_id, email in rows]
    if not ours:
        return
    owners = next_owners(session, len(ours))
    session.execute(insert(Submission), [
        {"lead_id": lead_id, "advertiser_id": marker["advertiser_id"],
         "campaign": str(marker.get("campaign", ""))[:100],
         "channel": marker.get("channel", "api"), "user_id": marker.get("user_id"),
         "api_key_id": marker.get("api_key_id"), "owner_id": owner.id if owner else None,
         "import_id": import_id, "handed_lead_id": lead_id, "handed_name": name,
         "handed_email": email or ""}
        for (lead_id, name, marker, import_id, email), owner in zip(ours, owners, strict=True)])
    by_owner: dict[int | None, list[int]] = defaultdict(list)
    for (lead_id, *_), owner in zip(ours, owners, strict=True):
        by_owner[owner.id if owner else None].append(lead_id)
    for owner_id, ids in by_owner.items():
        if owner_id is not None:
            session.execute(update(Lead).where(Lead.id.in_(ids)).values(owner_id=owner_id)
                            .execution_options(synchronize_session="fetch"))
    mails: dict[int, list[str]] = defaultdict(list)
    for (lead_id, name, marker, *_), owner in zip(ours, owners, strict=True):
        origin = (f"Handed over by advertiser {marker.get('advertiser', '')} "
                  f"(campaign {marker.get('campaign', '')}, {marker.get('channel', '')})")
        if owner is None:
            body = f"{origin}; no owner: set the Leadworks owner rule."
        else:
            body = f"{origin}; assigned to {owner.name or owner.email} by the owner rule."
            mails[owner.id].append(f"#{lead_id} {name} ({marker.get('advertiser', '')}, "
                                   f"campaign {marker.get('campaign', '')})")
        records.log(session, None, records.LEADS, lead_id, "assigned", body=body)
    session.flush()
    people_by_id = {o.id: o for o in owners if o is not None}
    # An import runs in a thread without an app context: the sender comes from
    # the settings of the app the session belongs to, as the delivery does.
    settings = mail.current_settings(session)
    for owner_id, lines in mails.items():
        mail.send_after_commit(session, mail.message(
            people_by_id[owner_id].email,
            f"{len(lines)} new lead{'s' if len(lines) != 1 else ''} from Leadworks",
            "These leads from advertisers are now yours:\n\n" + "\n".join(lines) + "\n",
            settings=settings))
