"""Admin-defined custom fields in the record forms, pages and list filters.

Form inputs are named ``custom.<name>``; their values stay text (marshmallow's
Float, Boolean and Date read numeric, "true"/"false" and ISO strings), so the
service validates exactly what was typed and errors come back per field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crmcore.errors import ValidationFailed
from crmcore.models import CustomField

TRUE_TEXTS = ("true", "1", "yes", "on")


def key(definition: CustomField) -> str:
    """The form input's (and list filter's) name."""
    return f"custom.{definition.name}"


def as_text(definition: CustomField, value: Any) -> str:
    """A stored value as the text a form input shows."""
    if value is None:
        return ""
    if definition.field_type == "boolean":
        return "true" if value is True or str(value).lower() in TRUE_TEXTS else ""
    if definition.field_type == "number" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def display(definition: CustomField, value: Any) -> str:
    """A stored value as a record page shows it."""
    if value is None or value == "":
        return ""
    if definition.field_type == "boolean":
        return "yes" if value is True or str(value).lower() in TRUE_TEXTS else "no"
    return as_text(definition, value)


def record_values(definitions: Sequence[CustomField], record: Any | None) -> dict[str, str]:
    stored = (record.custom or {}) if record is not None else {}
    return {key(d): as_text(d, stored.get(d.name)) for d in definitions}


def submitted(definitions: Sequence[CustomField], form: Mapping[str, str]) -> dict[str, str]:
    return {key(d): str(form.get(key(d), "")).strip() for d in definitions}


def service_input(definitions: Sequence[CustomField], values: Mapping[str, Any],
                  record: Any | None) -> dict[str, Any] | None:
    """The ``custom`` part of the service input, or None when there are no fields.

    Empty inputs are left out of a new record. Editing, an emptied input clears
    the stored value (None); an emptied *required* one is refused here, since the
    service's partial schema would accept None for it.
    """
    if not definitions:
        return None
    stored = (record.custom or {}) if record is not None else {}
    out: dict[str, Any] = {}
    missing: dict[str, list[str]] = {}
    for d in definitions:
        text = str(values.get(key(d), "")).strip()
        if d.field_type == "boolean":
            checked = text.lower() in TRUE_TEXTS
            if checked:
                out[d.name] = "true"
            elif d.required or stored.get(d.name):
                out[d.name] = "false"  # unchecked means "no", not "unknown"
            continue
        if text:
            out[d.name] = text
        elif record is not None and d.required:
            missing[d.name] = ["Missing data for required field."]
        elif record is not None and stored.get(d.name) not in (None, ""):
            out[d.name] = None
    if missing:
        raise ValidationFailed("The input has errors; see the fields.", {"custom": missing})
    return out


def filter_keys(definitions: Sequence[CustomField]) -> list[str]:
    return [key(d) for d in definitions]
