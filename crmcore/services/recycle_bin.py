"""The recycle bin across leads, contacts and plugin records (``crm_recycle_bin_types``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from crmcore.auth.roles import require
from crmcore.errors import NotFound
from crmcore.models import User
from crmcore.services import records as rec
from crmcore.types import BinRow, BinType


def _core_type(kind: rec.Kind, label: str) -> BinType:
    def list_deleted(session: Session, actor: User | None) -> list[BinRow]:
        query = rec.visible(session, actor, kind, deleted=True).order_by(
            kind.model.deleted_at.desc()).limit(500)
        return [BinRow(r.id, r.full_name, r.deleted_at) for r in session.scalars(query)]

    return BinType(
        kind.record_type, label, list_deleted,
        lambda session, actor, ids: rec.restore(session, actor, kind, ids),
        lambda session, actor, ids: rec.purge(session, actor, kind, ids),
    )


CORE_TYPES = (_core_type(rec.LEADS, "Leads"), _core_type(rec.CONTACTS, "Contacts"))


def bin_types(session: Session) -> dict[str, BinType]:
    found = {t.record_type: t for t in CORE_TYPES}
    for result in session.info["crm"].hook.crm_recycle_bin_types():
        for bin_type in result or ():
            found.setdefault(bin_type.record_type, bin_type)
    return found


def list_bin(session: Session, actor: User | None) -> dict[str, tuple[BinType, list[BinRow]]]:
    """Every deleted record ``actor`` may see, grouped by type."""
    return {name: (t, list(t.list_deleted(session, actor)))
            for name, t in bin_types(session).items()}


def _type(session: Session, record_type: str) -> BinType:
    found = bin_types(session).get(record_type)
    if found is None:
        raise NotFound(f"No recycle bin for {record_type!r}.")
    return found


def restore(session: Session, actor: User | None, record_type: str, ids: Sequence[int]) -> int:
    count = _type(session, record_type).restore(session, actor, list(ids))
    if not count:
        raise NotFound("No such deleted record.")
    return count


def purge(session: Session, actor: User | None, record_type: str, ids: Sequence[int]) -> int:
    require(session, actor, "recycle_bin.purge")
    count = _type(session, record_type).purge(session, actor, list(ids))
    if not count:
        raise NotFound("No such deleted record.")
    return count


