"""The records messages are linked to: leads and contacts."""

from __future__ import annotations

from crmcore.errors import ValidationFailed
from crmcore.services.records import CONTACTS, LEADS, Kind

KINDS: dict[str, Kind] = {"lead": LEADS, "contact": CONTACTS}


def kind_of(record_type: str) -> Kind:
    """The kind of ``record_type``; :class:`ValidationFailed` for anything else."""
    kind = KINDS.get(record_type)
    if kind is None:
        raise ValidationFailed("Unknown record type.", {"record_type": ["lead or contact."]})
    return kind
