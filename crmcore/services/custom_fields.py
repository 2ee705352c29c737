"""Custom fields that admins define per record type."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmcore import jsoncodec
from crmcore.auth.roles import require
from crmcore.db import json_text
from crmcore.errors import Conflict, NotFound, ValidationFailed
from crmcore.models import Contact, CustomField, Lead, User
from crmcore.schemas.base import load
from crmcore.schemas.records import CustomFieldInput, custom_field

MODELS: Mapping[str, type[Lead] | type[Contact]] = {"lead": Lead, "contact": Contact}
# What a refused value is not, by the type of the field that refuses it.
NOT_A = {"text": "text of at most 1000 characters", "number": "a number",
         "date": "a date (YYYY-MM-DD)", "choice": "one of its choices",
         "boolean": "yes or no"}
# The type of field whose values are of a JSON type.
HELD_AS = {str: "text", float: "number", int: "number", bool: "boolean"}


def definitions(session: Session, record_type: str) -> list[CustomField]:
    return list(session.scalars(select(CustomField).where(CustomField.record_type == record_type)
                                .order_by(CustomField.position, CustomField.id)))


def _check_choices(values: Mapping[str, Any]) -> None:
    if values.get("field_type") == "choice" and not values.get("choices"):
        raise ValidationFailed("A choice field needs choices.",
                               {"choices": ["List at least one choice."]})


@dataclasses.dataclass
class _Unfit:
    """Stored values that a field would refuse, and the records holding them."""

    held: int = 0
    binned: int = 0  # of ``held``, the records in the recycle bin
    # The first few values, each with its ``held`` and ``binned``.
    values: list[tuple[Any, int, int]] = dataclasses.field(default_factory=list)


def _unfit_values(session: Session, definition: CustomField,
                  before: CustomField | None = None, keep: int = 1) -> _Unfit:
    """The values stored under ``definition``'s name in every record of its
    type (the recycle bin's too: a restore brings them back) that it refuses,
    read as the API would send them, and that ``before``, the field as it was,
    accepted (what it refused already, the change does not strand); the first
    ``keep`` of them listed.

    Each distinct value is read once, streamed: a million records holding a
    few hundred budgets cost one scan and a few hundred checks."""
    model = MODELS[definition.record_type]
    stored = select(json_text(session, model.custom, definition.name).label("value"),
                    model.deleted_at).subquery()
    query = (select(stored.c.value, func.count(), func.count(stored.c.deleted_at))
             .where(stored.c.value.is_not(None)).group_by(stored.c.value)
             # The commonest first, as the example a refusal gives.
             .order_by(func.count().desc(), stored.c.value))
    new = custom_field(definition, partial=True)
    old = custom_field(before, partial=True) if before is not None else None
    unfit = _Unfit()
    # Every value is checked, even past the first refusals: the answer says how
    # many records hold one, and a field that fits costs the same whole read.
    for text, held, binned in session.execute(query, execution_options={"yield_per": 500}):
        value = jsoncodec.loads(text)
        if value is None or _fits(new, value) or (old is not None and not _fits(old, value)):
            continue
        unfit.held += held
        unfit.binned += binned
        if len(unfit.values) < keep:
            unfit.values.append((value, held, binned))
    return unfit


def _fits(field: fields.Field, value: Any) -> bool:
    """Whether ``field`` stores ``value`` as it is: the text "5" a number field
    would accept, but store as 5, is not what its other values are (a filter
    compares numbers)."""
    try:
        stored = field.deserialize(value)
    except ValidationError:
        return False
    # Python's == takes True for 1: a boolean is no number, nor a number one.
    return bool(stored == value) and isinstance(stored, bool) == isinstance(value, bool)


def _records(record_type: str, held: int, binned: int) -> str:
    """"3 leads (1 of them in the recycle bin)"."""
    text = f"{held} {record_type}{'' if held == 1 else 's'}"
    if binned:
        text += (" (in the recycle bin)" if binned == held
                 else f" ({binned} of them in the recycle bin)")
    return text


def _quoted(value: Any) -> str:
    """A stored value as a message quotes it, cut short."""
    text = value if isinstance(value, str) else jsoncodec.dumps(value)
    return f"“{text if len(text) <= 40 else text[:39] + '…'}”"


def create_field(session: Session, actor: User | None, data: Mapping[str, Any]) -> CustomField:
    """Add a field. The values an earlier field of the same name left in the
    records come back with it: a type that would refuse some is refused."""
    require(session, actor, "settings.manage")
    values = load(CustomFieldInput(), data)
    _check_choices(values)
    field = CustomField(**values)
    try:
        with session.begin_nested():  # add inside: begin_nested() flushes what is pending
            session.add(field)
            session.flush()
            # Once the name is known free, what records hold under it is an
            # earlier field's; a refusal rolls the savepoint back.
            _refuse_unfit(session, field)
    except IntegrityError:
        raise Conflict(f"A {values['record_type']} field named {values['name']} exists.",
                       {"name": ["Already in use."]}) from None
    return field


def _refuse_unfit(session: Session, field: CustomField) -> None:
    unfit = _unfit_values(session, field)
    if not unfit.held:
        return
    example = unfit.values[0][0]
    remedy = "pick another name"
    held_as = HELD_AS.get(type(example))
    if held_as is not None and held_as != field.field_type:
        remedy = f"re-create it as {held_as}, or {remedy}"
    raise Conflict(
        f"Records hold values of an earlier “{field.name}” field that a "
        f"{field.field_type} field refuses.",
        {"field_type": [f"{_records(field.record_type, unfit.held, unfit.binned)} "
                        f"{'holds' if unfit.held == 1 else 'hold'} a value of an earlier "
                        f"“{field.name}” field that is not {NOT_A[field.field_type]} "
                        f"(e.g. {_quoted(example)}): {remedy}."]})


def update_field(session: Session, actor: User | None, field_id: int,
                 data: Mapping[str, Any]) -> CustomField:
    """Change a field's label, choices, requirement or position; its name, type
    and record type stay, so that stored values keep their meaning. Choices
    that records hold stay too."""
    require(session, actor, "settings.manage")
    field = session.get(CustomField, field_id)
    if field is None:
        raise NotFound("No such custom field.")
    values = load(CustomFieldInput(partial=True, only=("label", "choices", "required",
                                                       "position")), data)
    choices = values.get("choices", field.choices)
    _check_choices({"field_type": field.field_type, "choices": choices})
    if field.field_type == "choice" and set(field.choices) - set(choices):
        _refuse_removed_choices(session, field, choices)
    for key, value in values.items():
        setattr(field, key, value)
    session.flush()
    return field


def _refuse_removed_choices(session: Session, field: CustomField, choices: list[str]) -> None:
    narrowed = CustomField(record_type=field.record_type, name=field.name,
                           field_type=field.field_type, choices=choices, required=False)
    # Each removed choice that records hold is named: at most all of them.
    unfit = _unfit_values(session, narrowed, before=field, keep=len(field.choices))
    if not unfit.held:
        return
    in_order = sorted(unfit.values, key=lambda item: field.choices.index(item[0]))
    held = ", ".join(f"{_quoted(value)} by {_records(field.record_type, count, binned)}"
                     for value, count, binned in in_order)
    raise Conflict(f"Records hold choices of “{field.name}” that the change removes.",
                   {"choices": [f"Still held: {held}. Keep "
                                f"{'it' if len(unfit.values) == 1 else 'them'} among the "
                                f"choices, or change those {field.record_type}s first."]})


def delete_field(session: Session, actor: User | None, field_id: int) -> None:
    """Remove a field from forms and the API; values already stored stay in the
    records, and come back if a field of the same name is added again."""
    require(session, actor, "settings.manage")
    field = session.get(CustomField, field_id)
    if field is None:
        raise NotFound("No such custom field.")
    session.delete(field)
    session.flush()
