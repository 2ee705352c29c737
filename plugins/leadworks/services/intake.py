"""Handing leads over: one at a time (portal form, API) or a batch (API),
each created by the core on the advertiser's behalf, and the count of
refused duplicates. A known key email is refused saying only that it is known."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmcore_plugins.leadworks.models import Advertiser, Refusal
from crmcore_plugins.leadworks.services.email_history import (
    MessageTooLarge,
    attach,
    decode_messages,
)
from crmcore_plugins.leadworks.services.fields import (
    check_campaign,
    check_fields,
    custom_fields,
    validate_lead,
)
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

import crmcore.services.records as records
from crmcore.errors import Conflict, CrmError, ValidationFailed
from crmcore.models import EmailKey, Lead, LeadStage, User
from crmcore.schemas.records import input_schema

PLUGIN = "leadworks"
TAGS = ("external user",)
DUPLICATE_MESSAGE = "This email is already known."
DUPLICATE_DETAIL = "The email is already known to us; nothing was created."


class Duplicate(Conflict):
    """A submission whose key email is already known. Says nothing else."""

    def __init__(self) -> None:
        super().__init__(DUPLICATE_DETAIL, {"emails": [DUPLICATE_MESSAGE]})


@dataclass(frozen=True)
class Submitter:
    """Who hands leads over, and through which channel."""

    advertiser_id: int
    advertiser_name: str
    channel: str
    user_id: int | None = None
    api_key_id: int | None = None

    @classmethod
    def portal(cls, advertiser: Advertiser, user: User, channel: str) -> Submitter:
        """A portal user handing over through ``channel`` (``form`` or ``csv``)."""
        return cls(advertiser.id, advertiser.name, channel, user_id=user.id)


def source_of(advertiser_name: str, campaign: str) -> str:
    """The lead's source: ``Leadworks: <advertiser> / <campaign>``, cut to the column."""
    return f"Leadworks: {advertiser_name} / {campaign}"[:100]


def lead_defaults(submitter: Submitter, campaign: str) -> dict[str, Any]:
    """What every lead handed over carries, set by code: the label, the source
    naming advertiser and campaign, and the marker
    :func:`~crmcore_plugins.leadworks.services.handover.on_leads_created` reads."""
    return {
        "tags": list(TAGS),
        "source": source_of(submitter.advertiser_name, campaign),
        "plugin_data": {PLUGIN: {
            "advertiser_id": submitter.advertiser_id, "advertiser": submitter.advertiser_name,
            "campaign": campaign, "channel": submitter.channel, "user_id": submitter.user_id,
            "api_key_id": submitter.api_key_id}},
    }


def record_refusal(session: Session, submitter: Submitter, campaign: str,
                   count: int = 1) -> None:
    """Count refused duplicates: advertiser, campaign, channel, time; no email."""
    if count:
        session.execute(insert(Refusal), [
            {"advertiser_id": submitter.advertiser_id, "campaign": campaign[:100],
             "channel": submitter.channel}] * count)


def stage_names(session: Session, lead_ids: Iterable[int]) -> dict[int, str]:
    """Each lead's stage name, for the API's answers: one query."""
    ids = [i for i in lead_ids if i is not None]
    if not ids:
        return {}
    return dict(session.execute(select(Lead.id, LeadStage.name).join(
        LeadStage, LeadStage.id == Lead.stage_id).where(Lead.id.in_(ids))).all())


# -- one lead ------------------------------------------------------------------------------


@dataclass
class Created:
    """A lead handed over, and what became of the emails that came with it."""

    lead: Lead
    messages: dict[str, Any] = field(default_factory=dict)


def submit_lead(session: Session, submitter: Submitter, campaign: Any,
                data: Mapping[str, Any], messages: Sequence[bytes] = ()) -> Created:
    """Create one lead for an advertiser, inside the caller's transaction.

    Raises :class:`ValidationFailed` (422, per field, the CRM form's own
    messages) or :class:`Duplicate` (409); after either the caller rolls back
    (the core flushed the lead before it found the email taken) and may call
    :func:`record_refusal`."""
    campaign = check_campaign(campaign)
    check_fields(session, data)
    try:
        lead = records.create(session, None, records.LEADS, data,
                              defaults=lead_defaults(submitter, campaign))
    except Conflict as exc:
        if "emails" in exc.errors:
            raise Duplicate() from None
        raise
    attached = attach(session, lead.id, messages, submitter.channel) if messages else {}
    return Created(lead, attached)


# -- a batch -------------------------------------------------------------------------------


def known_emails(session: Session, emails: Iterable[str]) -> set[str]:
    """Those of ``emails`` (normalized) that are the key email of a lead or
    contact, live, binned or not yet anonymized: one query."""
    wanted = list(set(emails))
    if not wanted:
        return set()
    return set(session.scalars(select(EmailKey.email).where(EmailKey.email.in_(wanted))))


@dataclass
class BatchItem:
    """One lead of a batch: its input, then its outcome (``status`` 0 while
    it is still to be written)."""

    index: int
    data: dict[str, Any]
    messages: list[bytes]
    status: int = 0
    errors: dict[str, Any] = field(default_factory=dict)
    lead_id: int | None = None
    attached: dict[str, Any] = field(default_factory=dict)

    def result(self, stages: Mapping[int, str]) -> dict[str, Any]:
        """The item's entry in the answer's ``results``."""
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.lead_id is not None:
            out["id"] = self.lead_id
            out["stage"] = stages.get(self.lead_id, "")
            out["messages"] = self.attached
        if self.errors:
            out["errors"] = self.errors
        return out


def prepare_batch(session: Session, items: Sequence[Any]) -> list[BatchItem]:
    """Validate every item and mark invalid ones (422) and known or repeated
    emails (409) before anything is written."""
    schema = input_schema(session.info["crm"].hook, "lead", custom_fields=custom_fields(session))
    prepared: list[BatchItem] = []
    keys: dict[int, str] = {}
    for index, item in enumerate(items):
        entry = BatchItem(index, {}, [])
        try:
            if not isinstance(item, dict):
                raise ValidationFailed("Bad item.", {"_schema": ["Expected a JSON object."]})
            entry.data = {k: v for k, v in item.items() if k != "messages"}
            values = validate_lead(session, entry.data, schema)
            entry.messages = decode_messages(session, item.get("messages"))
        except MessageTooLarge as exc:
            entry.status, entry.errors = exc.status, exc.errors
        except ValidationFailed as exc:
            entry.status, entry.errors = 422, exc.errors
        else:
            if values.get("emails"):
                keys[index] = values["emails"][0]
        prepared.append(entry)
    known = known_emails(session, keys.values())
    seen: set[str] = set()
    for entry in prepared:
        email = keys.get(entry.index)
        if email is not None and (email in known or email in seen):
            entry.status, entry.errors = 409, {"emails": [DUPLICATE_MESSAGE]}
        if email is not None:
            seen.add(email)
    return prepared


def write_batch(session: Session, submitter: Submitter, campaign: str,
                items: Sequence[BatchItem], *, all_or_nothing: bool = False) -> None:
    """Create the items :func:`prepare_batch` left to write, in the caller's
    transaction, each in a savepoint of its own: an item whose address another
    request took after the check (or that fails otherwise) rolls back alone
    and is marked with its error, and the others stand. All or nothing stops
    at that item, since the caller then refuses the whole batch."""
    for entry in items:
        if entry.status:
            continue
        try:
            with session.begin_nested():
                created = submit_lead(session, submitter, campaign, entry.data, entry.messages)
        except CrmError as exc:
            entry.status, entry.errors = exc.status, exc.errors
            if all_or_nothing:
                return
            continue
        entry.status, entry.lead_id, entry.attached = 201, created.lead.id, created.messages
