"""The records the gdpr plugin works on, leads and contacts, and the refusal for
one that was anonymized before."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import crmcore.services.records as rec
from crmcore.errors import Conflict

KINDS: Mapping[str, rec.Kind] = {"lead": rec.LEADS, "contact": rec.CONTACTS}


class AlreadyAnonymized(Conflict):
    """The record was anonymized before: nothing is left to erase or export."""

    title = "Already anonymized"


def anonymized_message(record_type: str, record: Any) -> str:
    """What a person is told about a record anonymized before."""
    when = record.anonymized_at.strftime("%Y-%m-%d") if record.anonymized_at else "earlier"
    return (f"This {record_type} was already anonymized on {when}; it holds no personal "
            "data any more and nothing was changed.")
