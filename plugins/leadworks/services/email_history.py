"""Email an advertiser hands over with a lead: read from the API's JSON or
the portal's .eml/.mbox uploads, then archived by the mail plugin and linked
to the lead in the lead's own transaction."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from crmcore.errors import CrmError, ValidationFailed


class MessageTooLarge(CrmError):
    """A message over the mail archive's size limit."""

    status = 413
    title = "Payload too large"


def message_limit(session: Session) -> int:
    """The mail archive's limit for one message, in bytes."""
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


def attach(session: Session, lead_id: int, raws: Sequence[bytes],
           channel: str) -> dict[str, Any]:
    """Archive the emails handed over with a lead and link them to it, in the
    lead's transaction: a refused lead leaves no email behind. Returns what
    the answer says about them."""
    from crmcore_plugins.mail import services as mail_services

    result = mail_services.store_messages(session, raws, f"leadworks:{channel}",
                                          link_to=[("lead", lead_id)])
    if result.refused:
        raise ValidationFailed("Some messages could not be read.", {"messages": {
            r.label: [r.reason] for r in result.refused}})
    return {"stored": result.stored, "already_archived": result.duplicates,
            "skipped_attachments": [f"{r.label}: {r.reason}"
                                    for r in result.skipped_attachments]}
