"""Leadworks' rules: advertisers, their users and keys, the owner rule, the
intake of leads by form, CSV and API, and the statistics.

Every function takes the caller's session and never commits, except the
functions that take a ``sessionmaker`` (the API's idempotent runs), which open
their own transactions. Permission checks live here, not in the views:
staff need ``leadworks.manage``; advertisers act only through
:func:`advertiser_of`, which scopes everything to their own company.

Every lead an advertiser hands over is created by the core (its lead schema,
its key-email rule) on the advertiser's behalf. The three channels then meet in
one place, :func:`on_leads_created`, called by the ``crm_leads_created`` event
for single creates and for each batch of a CSV import alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from crmcore_plugins.leadworks import schemas
from crmcore_plugins.leadworks.models import (
    Advertiser,
    ApiKey,
    IdempotentRequest,
    Invitation,
    Member,
    OwnerRule,
    Refusal,
    Submission,
    Upload,
)
from flask import has_app_context
from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import crmcore.services.imports as imports
import crmcore.services.records as records
import crmcore.services.users as users
from crmcore import mail
from crmcore.auth.roles import can, require
from crmcore.auth.tokens import new_token, token_hash
from crmcore.db import transaction, utcnow
from crmcore.errors import (
    Conflict,
    CrmError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
)
from crmcore.models import CustomField, EmailKey, Lead, LeadStage, User
from crmcore.schemas.records import input_schema, plugin_field_names
from crmcore.types import BinRow, Person, PersonExport

log = logging.getLogger("crmcore.leadworks")

ROLE = "advertiser"
MANAGE = "leadworks.manage"
PLUGIN = "leadworks"
TAGS = ("external user",)
# The lead form's fields an advertiser fills; source, tags, stage and owner are
# set by this plugin, and fields other plugins add to the form are staff-only.
BASE_FIELDS = ("full_name", "emails", "phones", "company", "login", "partner", "location")
INVITATION_DAYS = 7
IDEMPOTENCY_HOURS = 24
DUPLICATE_MESSAGE = "This email is already known."
DUPLICATE_DETAIL = "The email is already known to us; nothing was created."
# The core import's message for a row whose email is taken names the kind of
# record that holds it; advertisers are told only that the email is known.
_IMPORT_DUPLICATE = re.compile(r"^The email .* already belongs to an? \w+ in the CRM\.$")


class Duplicate(Conflict):
    """A submission whose key email is already known. Says nothing else."""

    def __init__(self) -> None:
        super().__init__(DUPLICATE_DETAIL, {"emails": [DUPLICATE_MESSAGE]})


# -- who is acting -------------------------------------------------------------------------


def require_manage(session: Session, actor: User | None) -> None:
    require(session, actor, MANAGE)


def advertiser_of(session: Session, user: User) -> Advertiser:
    """The company a portal user works for; 403 when it is deactivated or deleted."""
    advertiser = session.scalar(select(Advertiser).join(
        Member, Member.advertiser_id == Advertiser.id).where(Member.user_id == user.id))
    if advertiser is None or user.role != ROLE:
        raise NotFound("No advertiser account.")
    if not advertiser.is_active or advertiser.deleted_at is not None:
        raise Forbidden("Your company's advertiser account is deactivated.")
    return advertiser


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
        return cls(advertiser.id, advertiser.name, channel, user_id=user.id)


def advertiser_for_key(session: Session, key: str | None) -> tuple[Advertiser, ApiKey]:
    """The advertiser an API key belongs to; 401 for a wrong or revoked key and
    for a deactivated or deleted advertiser, with one answer for all."""
    found = session.execute(select(Advertiser, ApiKey).join(
        ApiKey, ApiKey.advertiser_id == Advertiser.id).where(
        ApiKey.key_hash == token_hash(key or ""))).first() if key else None
    if found is None or found[1].revoked_at is not None or not found[0].is_active \
            or found[0].deleted_at is not None:
        raise NotAuthenticated("The API key is unknown, revoked, or its advertiser is "
                               "deactivated.")
    advertiser, api_key = found
    api_key.last_used_at = utcnow()
    return advertiser, api_key


# -- advertisers (admin) ---------------------------------------------------------------


def list_advertisers(session: Session, actor: User | None) -> list[Advertiser]:
    require_manage(session, actor)
    return list(session.scalars(select(Advertiser).where(Advertiser.deleted_at.is_(None))
                                .order_by(Advertiser.name)))


def get_advertiser(session: Session, actor: User | None, advertiser_id: int) -> Advertiser:
    require_manage(session, actor)
    advertiser = session.get(Advertiser, advertiser_id)
    if advertiser is None or advertiser.deleted_at is not None:
        raise NotFound("No such advertiser.")
    return advertiser


def _name_taken(session: Session, name: str, but: int | None = None) -> None:
    query = select(Advertiser.id).where(func.lower(Advertiser.name) == name.lower())
    if but is not None:
        query = query.where(Advertiser.id != but)
    if session.scalar(query) is not None:
        raise Conflict("An advertiser with this name exists.", {"name": ["Already in use."]})


def create_advertiser(session: Session, actor: User | None,
                      data: Mapping[str, Any]) -> Advertiser:
    require_manage(session, actor)
    values = schemas.load(schemas.AdvertiserInput(), data)
    _name_taken(session, values["name"])
    advertiser = Advertiser(**values)
    session.add(advertiser)
    session.flush()
    return advertiser


def update_advertiser(session: Session, actor: User | None, advertiser: Advertiser,
                      data: Mapping[str, Any]) -> Advertiser:
    """Change name, contact or the active flag. A deactivated advertiser's keys
    answer 401 and its users see a notice instead of the portal."""
    require_manage(session, actor)
    values = schemas.load(schemas.AdvertiserInput(), data, partial=True)
    if "name" in values:
        _name_taken(session, values["name"], but=advertiser.id)
    for key, value in values.items():
        setattr(advertiser, key, value)
    session.flush()
    return advertiser


def delete_advertiser(session: Session, actor: User | None, advertiser: Advertiser) -> None:
    """Move an advertiser to the recycle bin: keys and portal stop working, its
    submissions and statistics stay until it is purged."""
    require_manage(session, actor)
    advertiser.deleted_at = utcnow()
    session.flush()


def _binned(session: Session, ids: Sequence[int]) -> list[Advertiser]:
    return list(session.scalars(select(Advertiser).where(
        Advertiser.id.in_(ids), Advertiser.deleted_at.is_not(None))))


def bin_list(session: Session, actor: User | None) -> list[BinRow]:
    if not can(session, actor, MANAGE):
        return []
    rows = session.scalars(select(Advertiser).where(Advertiser.deleted_at.is_not(None))
                           .order_by(Advertiser.deleted_at.desc()).limit(500))
    return [BinRow(a.id, f"Advertiser {a.name}", a.deleted_at) for a in rows
            if a.deleted_at is not None]


def bin_restore(session: Session, actor: User | None, ids: Sequence[int]) -> int:
    require_manage(session, actor)
    found = _binned(session, ids)
    for advertiser in found:
        advertiser.deleted_at = None
    session.flush()
    return len(found)


def bin_purge(session: Session, actor: User | None, ids: Sequence[int]) -> int:
    """Delete binned advertisers for good, with their keys, invitations,
    submissions and refusals (the database cascades); their portal users are
    deactivated, since they no longer belong anywhere."""
    require_manage(session, actor)
    found = _binned(session, ids)
    if not found:
        return 0
    member_ids = list(session.scalars(select(Member.user_id).where(
        Member.advertiser_id.in_([a.id for a in found]))))
    for user in session.scalars(select(User).where(User.id.in_(member_ids))):
        users.update_user(session, None, user, {"is_active": False})
    for advertiser in found:
        session.delete(advertiser)
    session.flush()
    return len(found)


# -- users and invitations -----------------------------------------------------------------


@dataclass(frozen=True)
class People:
    members: list[User]
    pending: list[Invitation]


def people(session: Session, actor: User | None, advertiser: Advertiser) -> People:
    require_manage(session, actor)
    members = list(session.scalars(select(User).join(Member, Member.user_id == User.id)
                                   .where(Member.advertiser_id == advertiser.id)
                                   .order_by(User.email)))
    pending = list(session.scalars(select(Invitation).where(
        Invitation.advertiser_id == advertiser.id, Invitation.used_at.is_(None),
        Invitation.expires_at > utcnow()).order_by(Invitation.id)))
    return People(members, pending)


def invite(session: Session, actor: User | None, advertiser: Advertiser,
           data: Mapping[str, Any]) -> tuple[Invitation, str]:
    """A one-time invitation for a new portal user; returns it and its token,
    which only the emailed link carries (the database keeps its hash)."""
    require_manage(session, actor)
    if not advertiser.is_active:
        raise Conflict("Activate the advertiser before inviting users.")
    values = schemas.load(schemas.InvitationInput(), data)
    if session.scalar(select(User.id).where(User.email == values["email"])) is not None:
        raise Conflict("A user with this email exists.", {"email": ["Already a user."]})
    token = new_token()
    invitation = Invitation(advertiser_id=advertiser.id, email=values["email"],
                            name=values["name"], token_hash=token_hash(token),
                            created_by=actor.id if actor else None,
                            expires_at=utcnow() + timedelta(days=INVITATION_DAYS))
    session.add(invitation)
    session.flush()
    return invitation, token


def invitation_mail(invitation: Invitation, advertiser: Advertiser, link: str) -> Any:
    text = (f"Hello {invitation.name or invitation.email},\n\n"
            f"you are invited to the Leadworks portal for {advertiser.name}, where you "
            f"hand over the leads of your campaigns.\n\nSet your password here (the link "
            f"works once and expires in {INVITATION_DAYS} days):\n{link}\n")
    return mail.message(invitation.email, f"Your Leadworks portal access for {advertiser.name}",
                        text)


def open_invitation(session: Session, token: str) -> Invitation:
    """The unused, unexpired invitation ``token`` stands for, or 404."""
    invitation = session.scalar(select(Invitation).where(
        Invitation.token_hash == token_hash(token or "")))
    if invitation is None or invitation.used_at is not None \
            or invitation.expires_at <= utcnow():
        raise NotFound("This invitation link is unknown, used or expired.")
    advertiser = session.get(Advertiser, invitation.advertiser_id)
    if advertiser is None or advertiser.deleted_at is not None or not advertiser.is_active:
        raise NotFound("This invitation link is unknown, used or expired.")
    return invitation


def accept_invitation(session: Session, token: str, password: str, confirm: str) -> User:
    """Create the portal user with the chosen password; the link is then spent."""
    invitation = open_invitation(session, token)
    if password != confirm:
        raise ValidationFailed("The passwords differ.", {"confirm": ["Repeat the password."]})
    # The system creates the account: the invitation is the admin's decision.
    user = users.create_user(session, None, {"email": invitation.email, "role": ROLE,
                                             "name": invitation.name, "password": password})
    session.add(Member(user_id=user.id, advertiser_id=invitation.advertiser_id))
    invitation.used_at, invitation.user_id = utcnow(), user.id
    session.flush()
    return user


# -- API keys --------------------------------------------------------------------------------


def list_keys(session: Session, actor: User | None, advertiser: Advertiser) -> list[ApiKey]:
    require_manage(session, actor)
    return list(session.scalars(select(ApiKey).where(ApiKey.advertiser_id == advertiser.id)
                                .order_by(ApiKey.id)))


def issue_key(session: Session, actor: User | None, advertiser: Advertiser,
              data: Mapping[str, Any]) -> tuple[ApiKey, str]:
    """A new key; the clear key is returned once and never stored."""
    require_manage(session, actor)
    values = schemas.load(schemas.KeyInput(), data)
    key = new_token()
    api_key = ApiKey(advertiser_id=advertiser.id, name=values["name"],
                     key_hash=token_hash(key), prefix=key[:12])
    session.add(api_key)
    session.flush()
    return api_key, key


def revoke_key(session: Session, actor: User | None, advertiser: Advertiser,
               key_id: int) -> ApiKey:
    require_manage(session, actor)
    api_key = session.get(ApiKey, key_id)
    if api_key is None or api_key.advertiser_id != advertiser.id:
        raise NotFound("No such key.")
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
    session.flush()
    return api_key


# -- the owner rule ------------------------------------------------------------------------


def owner_rule(session: Session) -> OwnerRule | None:
    return session.scalar(select(OwnerRule).order_by(OwnerRule.id).limit(1))


def candidate_owners(session: Session) -> list[User]:
    """Active staff users, who may own leads."""
    internal = session.info["crm"].roles.internal()
    return list(session.scalars(select(User).where(User.is_active.is_(True),
                                                   User.role.in_(internal))
                                .order_by(User.name, User.email)))


def set_owner_rule(session: Session, actor: User | None, data: Mapping[str, Any]) -> OwnerRule:
    """``fixed``: every lead goes to the one user named; ``round_robin``: leads
    go to the named users in turn, across channels and batches."""
    require_manage(session, actor)
    values = schemas.load(schemas.OwnerRuleInput(), data)
    chosen = list(dict.fromkeys(values["user_ids"]))
    if values["mode"] == "fixed" and len(chosen) != 1:
        raise ValidationFailed("A fixed owner is one user.", {"user_ids": ["Choose one user."]})
    allowed = {u.id for u in candidate_owners(session)}
    unknown = [i for i in chosen if i not in allowed]
    if unknown:
        raise ValidationFailed("Choose active staff users.",
                               {"user_ids": ["Unknown, inactive or external user."]})
    rule = owner_rule(session) or OwnerRule(mode=values["mode"])
    rule.mode, rule.user_ids, rule.position, rule.updated_at = (
        values["mode"], chosen, 0, utcnow())
    session.add(rule)
    session.flush()
    return rule


def _next_owners(session: Session, count: int) -> list[User | None]:
    """Owners for ``count`` new leads, in order; the round robin advances.
    The rule row is locked so that concurrent batches take turns properly."""
    rule = session.scalar(select(OwnerRule).order_by(OwnerRule.id).limit(1)
                          .with_for_update())
    if rule is None:
        return [None] * count
    found = {u.id: u for u in session.scalars(select(User).where(
        User.id.in_(rule.user_ids), User.is_active.is_(True)))}
    pool = [found[i] for i in rule.user_ids if i in found]
    if not pool:
        return [None] * count
    if rule.mode == "fixed":
        return [pool[0]] * count
    start = rule.position % len(pool)
    rule.position = (start + count) % len(pool)
    return [pool[(start + i) % len(pool)] for i in range(count)]


# -- the lead form's fields ------------------------------------------------------------------


def custom_fields(session: Session) -> list[CustomField]:
    return list(session.scalars(select(CustomField).where(CustomField.record_type == "lead")
                                .order_by(CustomField.position, CustomField.id)))


def allowed_fields(session: Session) -> set[str]:
    allowed = set(BASE_FIELDS)
    if custom_fields(session):
        allowed.add("custom")
    return allowed


def import_fields(session: Session) -> list[str]:
    return [*BASE_FIELDS, *(f"custom.{d.name}" for d in custom_fields(session))]


def staff_only_fields(session: Session) -> set[str]:
    """Fields of the CRM's lead form an advertiser does not set."""
    schema = input_schema(session.info["crm"].hook, "lead")
    return (set(schema.fields) - allowed_fields(session)) | plugin_field_names(schema, "lead")


def check_fields(session: Session, data: Mapping[str, Any]) -> None:
    unknown = sorted(set(data) - allowed_fields(session))
    if unknown:
        raise ValidationFailed("The input has errors; see the fields.",
                               dict.fromkeys(unknown, ["Unknown field."]))


def check_campaign(value: Any) -> str:
    return str(schemas.load(schemas.CampaignInput(), {"campaign": value})["campaign"])


def source_of(advertiser_name: str, campaign: str) -> str:
    return f"Leadworks: {advertiser_name} / {campaign}"[:100]


def lead_defaults(submitter: Submitter, campaign: str) -> dict[str, Any]:
    """What every lead handed over carries, set by code: the label, the source
    naming advertiser and campaign, and the marker :func:`on_leads_created` reads."""
    return {
        "tags": list(TAGS),
        "source": source_of(submitter.advertiser_name, campaign),
        "plugin_data": {PLUGIN: {
            "advertiser_id": submitter.advertiser_id, "advertiser": submitter.advertiser_name,
            "campaign": campaign, "channel": submitter.channel, "user_id": submitter.user_id,
            "api_key_id": submitter.api_key_id}},
    }


# -- handed-over email ---------------------------------------------------------------------


class MessageTooLarge(CrmError):
    status = 413
    title = "Payload too large"


def message_limit(session: Session) -> int:
    from crmcore_plugins.mail import services as mail_services

    return mail_services.limits(session)[0]


def decode_messages(session: Session, items: Any) -> list[bytes]:
    """The API's ``messages``: raw RFC 822 text, or ``{"base64": ...}`` for 8-bit
    messages. 413 for one over the mail archive's size limit, 422 naming bad ones."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValidationFailed("The input has errors; see the fields.",
                               {"messages": ["A list of messages."]})
    limit = message_limit(session)
    raws: list[bytes] = []
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        if isinstance(item, str):
            raw = item.encode("utf-8", "surrogateescape")
        elif isinstance(item, dict) and set(item) == {"base64"} and isinstance(
                item["base64"], str):
            try:
                raw = base64.b64decode(item["base64"], validate=True)
            except (binascii.Error, ValueError):
                errors[str(index)] = ["Not valid base64."]
                continue
        else:
            errors[str(index)] = ['A message as text, or {"base64": "..."}.']
            continue
        if len(raw) > limit:
            raise MessageTooLarge(f"Message {index + 1} is larger than the limit of "
                                  f"{limit // (1024 * 1024)} MB.",
                                  {"messages": {str(index): ["Too large."]}})
        raws.append(raw)
    if errors:
        raise ValidationFailed("The input has errors; see the fields.", {"messages": errors})
    return raws


def read_uploads(session: Session, files: Iterable[tuple[str, bytes]]) -> list[bytes]:
    """The messages in uploaded .eml or .mbox files; 413 or 422 naming the file."""
    from crmcore_plugins.mail.parsing import MailReadError, parse_upload

    limit = message_limit(session)
    raws: list[bytes] = []
    for name, data in files:
        try:
            found = parse_upload(name, data)
        except MailReadError as exc:
            raise ValidationFailed(exc.detail, {"messages": [exc.detail]}) from None
        for raw in found:
            if len(raw) > limit:
                raise MessageTooLarge(f"{name}: a message is larger than the limit of "
                                      f"{limit // (1024 * 1024)} MB.",
                                      {"messages": [f"{name}: too large."]})
        raws.extend(found)
    return raws


def _attach(session: Session, lead_id: int, raws: Sequence[bytes],
            submitter: Submitter) -> dict[str, Any]:
    """Archive the emails handed over with a lead and link them to it, in the
    lead's transaction: a refused lead leaves no email behind."""
    from crmcore_plugins.mail import services as mail_services

    result = mail_services.store_messages(session, raws, f"leadworks:{submitter.channel}",
                                          link_to=[("lead", lead_id)])
    if result.refused:
        raise ValidationFailed("Some messages could not be read.", {"messages": {
            r.label: [r.reason] for r in result.refused}})
    return {"stored": result.stored, "already_archived": result.duplicates,
            "skipped_attachments": [f"{r.label}: {r.reason}"
                                    for r in result.skipped_attachments]}


# -- intake --------------------------------------------------------------------------------


@dataclass
class Created:
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
    attached = _attach(session, lead.id, messages, submitter) if messages else {}
    return Created(lead, attached)


def record_refusal(session: Session, submitter: Submitter, campaign: str,
                   count: int = 1) -> None:
    """Count refused duplicates: advertiser, campaign, channel, time; no email."""
    if count:
        session.execute(insert(Refusal), [
            {"advertiser_id": submitter.advertiser_id, "campaign": campaign[:100],
             "channel": submitter.channel}] * count)


def known_emails(session: Session, emails: Iterable[str]) -> set[str]:
    """Those of ``emails`` (normalized) that are the key email of a lead or
    contact, live, binned or not yet anonymized: one query."""
    wanted = list(set(emails))
    if not wanted:
        return set()
    return set(session.scalars(select(EmailKey.email).where(EmailKey.email.in_(wanted))))


def validate_lead(session: Session, data: Any, schema: Any) -> dict[str, Any]:
    """The core schema's verdict on one item without writing: its normalized
    values, or :class:`ValidationFailed` with the form's messages."""
    from marshmallow import ValidationError

    if not isinstance(data, dict):
        raise ValidationFailed("The input has errors; see the fields.",
                               {"_schema": ["Expected a JSON object."]})
    check_fields(session, data)
    try:
        return schema.load(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed("The input has errors; see the fields.", messages) from None


@dataclass
class BatchItem:
    index: int
    data: dict[str, Any]
    messages: list[bytes]
    status: int = 0
    errors: dict[str, Any] = field(default_factory=dict)
    lead_id: int | None = None
    attached: dict[str, Any] = field(default_factory=dict)

    def result(self, stages: Mapping[int, str]) -> dict[str, Any]:
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
                items: Sequence[BatchItem]) -> None:
    """Create the items not already refused, in the caller's transaction; a
    :class:`Duplicate` or other error of one item propagates (the caller rolls
    back, marks it and runs again: that only happens when another request took
    an address between the check and the write)."""
    for entry in items:
        if entry.status:
            continue
        try:
            created = submit_lead(session, submitter, campaign, entry.data, entry.messages)
        except CrmError as exc:
            raise BatchItemFailed(entry, exc) from None
        entry.status, entry.lead_id, entry.attached = 201, created.lead.id, created.messages


class BatchItemFailed(Exception):
    def __init__(self, entry: BatchItem, error: CrmError) -> None:
        super().__init__(error.detail)
        self.entry = entry
        self.error = error


def stage_names(session: Session, lead_ids: Iterable[int]) -> dict[int, str]:
    ids = [i for i in lead_ids if i is not None]
    if not ids:
        return {}
    return dict(session.execute(select(Lead.id, LeadStage.name).join(
        LeadStage, LeadStage.id == Lead.stage_id).where(Lead.id.in_(ids))).all())


# -- after a lead is created: one path for every channel -------------------------------------


def on_leads_created(session: Session, lead_ids: Sequence[int]) -> None:
    """Bookkeeping for the leads an advertiser handed over, among ``lead_ids``:
    their submission rows, their owners by the rule, a timeline entry saying
    who handed them over and who owns them, and an email to each owner after
    commit. A handful of statements per batch, whatever its size."""
    rows = session.execute(select(Lead.id, Lead.full_name, Lead.plugin_data)
                           .where(Lead.id.in_(list(lead_ids))).order_by(Lead.id)).all()
    ours = [(lead_id, name, data[PLUGIN]) for lead_id, name, data in rows
            if isinstance(data, dict) and isinstance(data.get(PLUGIN), dict)]
    if not ours:
        return
    owners = _next_owners(session, len(ours))
    session.execute(insert(Submission), [
        {"lead_id": lead_id, "advertiser_id": marker["advertiser_id"],
         "campaign": str(marker.get("campaign", ""))[:100],
         "channel": marker.get("channel", "api"), "user_id": marker.get("user_id"),
         "api_key_id": marker.get("api_key_id"), "owner_id": owner.id if owner else None}
        for (lead_id, _, marker), owner in zip(ours, owners, strict=True)])
    by_owner: dict[int | None, list[int]] = defaultdict(list)
    for (lead_id, _, _), owner in zip(ours, owners, strict=True):
        by_owner[owner.id if owner else None].append(lead_id)
    for owner_id, ids in by_owner.items():
        if owner_id is not None:
            session.execute(update(Lead).where(Lead.id.in_(ids)).values(owner_id=owner_id)
                            .execution_options(synchronize_session="fetch"))
    mails: dict[int, list[str]] = defaultdict(list)
    for (lead_id, name, marker), owner in zip(ours, owners, strict=True):
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
    _queue_mail(session, [
        (people_by_id[owner_id].email,
         f"{len(lines)} new lead{'s' if len(lines) != 1 else ''} from Leadworks",
         "These leads from advertisers are now yours:\n\n" + "\n".join(lines) + "\n")
        for owner_id, lines in mails.items()])


# Mail leaves the process only after the transaction that decided it commits.
# Imports run in a background thread without a Flask app context; the app's
# SMTP settings (which tests and deployments may set in its config) are found
# through the runtime the session carries.
_PENDING = "leadworks_mail"
_apps: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def remember_app(app: Any) -> None:
    _apps[id(app.extensions["crm"])] = app


def smtp_settings(session: Session) -> mail.SmtpSettings:
    if has_app_context():
        return mail.current_settings()
    app = _apps.get(id(session.info["crm"]))
    return mail.SmtpSettings.load(app.config if app is not None else None)


def _queue_mail(session: Session, mails: Sequence[tuple[str, str, str]]) -> None:
    if not mails:
        return
    if not event.contains(session, "after_commit", _send_pending):
        event.listen(session, "after_commit", _send_pending)
        event.listen(session, "after_soft_rollback", _drop_pending)
    settings = smtp_settings(session)
    session.info.setdefault(_PENDING, []).extend((m, settings) for m in mails)


def _send_pending(session: Session) -> None:
    for (to, subject, text), settings in session.info.pop(_PENDING, []):
        try:
            mail.send(mail.message(to, subject, text, settings=settings), settings=settings)
        except Exception:
            # The leads are committed; a mail server problem must not undo them.
            log.warning("could not notify %s of new Leadworks leads", to, exc_info=True)


def _drop_pending(session: Session, _previous: Any) -> None:
    # Like the core's events, on any rollback, a savepoint's included: the
    # batch intake rolls a whole attempt back to a savepoint and runs it again.
    session.info.pop(_PENDING, None)


# -- the API's idempotent requests -----------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


class Rejected(Exception):
    """Roll the work back and answer this (a 409 or 422 is an answer too: a
    retry must get it again), recording ``refusals`` duplicates."""

    def __init__(self, answer: Answer, refusals: int = 0) -> None:
        super().__init__(answer.status)
        self.answer = answer
        self.refusals = refusals


def body_hash(data: Any) -> str:
    """A hash of the request's meaning: the same JSON however it is spaced."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def problem_body(status: int, error: CrmError) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "about:blank", "title": error.title, "status": status,
                            "detail": error.detail}
    if error.errors:
        body["errors"] = error.errors
    return body


def _replay(session: Session, advertiser_id: int, key: str, digest: str) -> Answer | None:
    row = session.scalar(select(IdempotentRequest).where(
        IdempotentRequest.advertiser_id == advertiser_id, IdempotentRequest.key == key))
    if row is None:
        return None
    if row.body_hash != digest:
        raise ValidationFailed(
            "This Idempotency-Key was used for a different request; use a new key.",
            {"Idempotency-Key": ["Used before with a different body."]})
    return Answer(row.status, row.response, replayed=True)


class _KeyTaken(Exception):
    pass


def run_idempotent(sessions: sessionmaker[Session], submitter: Submitter, campaign: str,
                   key: str, digest: str, work: Callable[[Session], Answer]) -> Answer:
    """Run ``work`` once per (advertiser, key). The key is claimed by a row with
    a unique constraint in the work's own transaction: a concurrent twin waits
    for the first to commit and then replays its answer, so that a lead is never
    created twice. ``work`` raises :class:`Rejected` to roll back and answer."""
    with sessions() as session:
        answer = _replay(session, submitter.advertiser_id, key, digest)
        if answer is not None:
            return answer
    try:
        with transaction(sessions) as session:
            session.execute(delete(IdempotentRequest).where(
                IdempotentRequest.advertiser_id == submitter.advertiser_id,
                IdempotentRequest.created_at < utcnow() - timedelta(hours=IDEMPOTENCY_HOURS)))
            claim = IdempotentRequest(advertiser_id=submitter.advertiser_id, key=key,
                                      body_hash=digest, status=0, response={})
            session.add(claim)
            try:
                session.flush()
            except IntegrityError:
                raise _KeyTaken from None
            answer = work(session)
            claim.status, claim.response = answer.status, answer.body
        return answer
    except _KeyTaken:
        return _replayed_after_race(sessions, submitter, key, digest)
    except Rejected as rejected:
        try:
            with transaction(sessions) as session:
                session.add(IdempotentRequest(
                    advertiser_id=submitter.advertiser_id, key=key, body_hash=digest,
                    status=rejected.answer.status, response=rejected.answer.body))
                session.flush()
                record_refusal(session, submitter, campaign, rejected.refusals)
        except IntegrityError:
            return _replayed_after_race(sessions, submitter, key, digest)
        return rejected.answer


def _replayed_after_race(sessions: sessionmaker[Session], submitter: Submitter, key: str,
                         digest: str) -> Answer:
    with sessions() as session:
        answer = _replay(session, submitter.advertiser_id, key, digest)
    if answer is None:  # the twin rolled back meanwhile: let the client retry
        raise Conflict("A request with this Idempotency-Key is in progress; retry.")
    return answer


# -- what advertisers see ------------------------------------------------------------------


@dataclass(frozen=True)
class SubmittedLead:
    id: int
    lead_id: int | None
    name: str
    email: str
    campaign: str
    channel: str
    stage: str
    created_at: datetime


def own_submissions(session: Session, advertiser_id: int, *, limit: int = 50,
                    before: int | None = None, campaign: str | None = None
                    ) -> list[SubmittedLead]:
    """The company's submissions, newest first, with each lead's current stage
    (one query). A lead since deleted or merged away shows as removed."""
    query = (select(Submission, Lead.full_name, Lead.email_key, Lead.deleted_at, LeadStage.name)
             .outerjoin(Lead, Lead.id == Submission.lead_id)
             .outerjoin(LeadStage, LeadStage.id == Lead.stage_id)
             .where(Submission.advertiser_id == advertiser_id)
             .order_by(Submission.id.desc()).limit(limit))
    if before:
        query = query.where(Submission.id < before)
    if campaign:
        query = query.where(Submission.campaign == campaign)
    out = []
    for sub, name, email, deleted_at, stage in session.execute(query):
        gone = sub.lead_id is None or deleted_at is not None
        out.append(SubmittedLead(sub.id, sub.lead_id, "" if gone else name,
                                 "" if gone else (email or ""), sub.campaign, sub.channel,
                                 "removed" if gone else (stage or ""), sub.created_at))
    return out


# -- CSV uploads ---------------------------------------------------------------------------


def import_options(session: Session, submitter: Submitter, campaign: str,
                   all_or_nothing: bool, encoding: str = "utf-8-sig") -> imports.ImportOptions:
    return imports.ImportOptions(
        on_duplicate="report", skip_bad_rows=not all_or_nothing, encoding=encoding,
        fields=import_fields(session), defaults=lead_defaults(submitter, campaign))


def is_duplicate_error(message: str) -> bool:
    return bool(_IMPORT_DUPLICATE.match(message))


def advertiser_errors(errors: Iterable[Sequence[Any]]) -> list[tuple[int, str, str]]:
    """The import's row-by-row problems as an advertiser may read them: a taken
    email says only that it is known, not what kind of record holds it."""
    return [(int(row), str(column), DUPLICATE_MESSAGE if is_duplicate_error(str(message))
             else str(message)) for row, column, message in errors]


@dataclass
class Checked:
    report: imports.Report
    upload: Upload | None = None


def upload_csv(session: Session, submitter: Submitter, campaign: Any, path: Path,
               filename: str, all_or_nothing: bool, encoding: str = "utf-8-sig") -> Checked:
    """Check a stored CSV at once (the same row-by-row report as the core
    import) and count its known emails as refused; then queue the import of
    its rows, or of its good rows only unless all-or-nothing was asked and
    there are problems. The caller commits and dispatches ``upload.job_id``."""
    campaign = check_campaign(campaign)
    options = import_options(session, submitter, campaign, all_or_nothing, encoding)
    report = imports.check(session, None, records.LEADS, path, options)
    record_refusal(session, submitter, campaign,
                   sum(1 for _, _, message in report.errors if is_duplicate_error(message)))
    if report.error_count and all_or_nothing:
        return Checked(report)
    if not report.to_create:
        return Checked(report)
    job = imports.start(session, None, records.LEADS, path, filename, options)
    upload = Upload(advertiser_id=submitter.advertiser_id, job_id=job.id,
                    user_id=submitter.user_id, campaign=campaign, filename=filename[:255],
                    path=str(path), all_or_nothing=all_or_nothing)
    session.add(upload)
    session.flush()
    return Checked(report, upload)


def own_upload(session: Session, advertiser: Advertiser, upload_id: int) -> tuple[Upload, Any]:
    """An upload of this advertiser and its import job; 404 for anyone else's."""
    upload = session.get(Upload, upload_id)
    if upload is None or upload.advertiser_id != advertiser.id:
        raise NotFound("No such upload.")
    return upload, imports.get_job(session, None, upload.job_id)


def own_uploads(session: Session, advertiser: Advertiser, limit: int = 20) -> list[Upload]:
    return list(session.scalars(select(Upload).where(Upload.advertiser_id == advertiser.id)
                                .order_by(Upload.id.desc()).limit(limit)))


# -- statistics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatRow:
    advertiser: str
    campaign: str
    leads: int
    refused: int


def stats(session: Session, actor: User | None, since: datetime | None,
          until: datetime | None) -> list[StatRow]:
    """Leads handed over and duplicates refused per advertiser and campaign,
    from ``since`` (inclusive) to ``until`` (exclusive): two grouped queries."""
    require_manage(session, actor)

    def grouped(model: Any) -> dict[tuple[int, str], int]:
        query = select(model.advertiser_id, model.campaign, func.count()).group_by(
            model.advertiser_id, model.campaign)
        if since is not None:
            query = query.where(model.created_at >= since)
        if until is not None:
            query = query.where(model.created_at < until)
        return {(a, c): n for a, c, n in session.execute(query)}

    made, refused = grouped(Submission), grouped(Refusal)
    names = dict(session.execute(select(Advertiser.id, Advertiser.name)).all())
    rows = [StatRow(names.get(a, f"#{a}"), c, made.get((a, c), 0), refused.get((a, c), 0))
            for a, c in set(made) | set(refused)]
    return sorted(rows, key=lambda r: (r.advertiser.lower(), r.campaign.lower()))


def lead_counts(session: Session, advertiser_ids: Sequence[int]) -> dict[int, int]:
    if not advertiser_ids:
        return {}
    return dict(session.execute(select(Submission.advertiser_id, func.count()).where(
        Submission.advertiser_id.in_(advertiser_ids)).group_by(Submission.advertiser_id)).all())


# -- personal data -------------------------------------------------------------------------


def _person_submissions(session: Session, person: Person) -> list[tuple[Submission, str,
                                                                        int | None]]:
    """The person's submissions with the advertiser's name and the lead's import."""
    query = (select(Submission, Advertiser.name, Lead.import_id)
             .join(Advertiser, Advertiser.id == Submission.advertiser_id)
             .join(Lead, Lead.id == Submission.lead_id))
    if person.record_type == "lead":
        query = query.where(Lead.id == person.record_id)
    else:  # a contact converted from a lead an advertiser handed over
        query = query.where(Lead.converted_contact_id == person.record_id)
    return [(s, n, i) for s, n, i in session.execute(query.order_by(Submission.id))]


def export_person(session: Session, person: Person) -> list[PersonExport]:
    found = _person_submissions(session, person)
    if not found:
        return []
    return [PersonExport(PLUGIN, {"submissions": [
        {"advertiser": name, "campaign": s.campaign, "channel": s.channel,
         "submitted_at": s.created_at.isoformat()} for s, name, _ in found]})]


def erase_person(session: Session, person: Person) -> None:
    """Delete the uploaded CSV files the person's row came in (the import is
    finished with them); keep advertiser, campaign and time for the statistics.
    Idempotent: a file already gone is skipped."""
    job_ids = [job_id for _, _, job_id in _person_submissions(session, person)
               if job_id is not None]
    if not job_ids:
        return
    for upload in session.scalars(select(Upload).where(Upload.job_id.in_(job_ids),
                                                       Upload.path != "")):
        Path(upload.path).unlink(missing_ok=True)
        upload.path = ""
    session.flush()
