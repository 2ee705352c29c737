"""Likely duplicates among the records already stored, for review and merging:
sets of records that share a first phone, or a name and a company.

The create forms warn about one record before it is saved
(:func:`crmcore.services.merge.find_duplicates`); this finds what got in
anyway: an import, two colleagues entering the same person, data from
before crmcore. It applies the same rules, so a set found here is what the
form would have warned about.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from crmcore.errors import ValidationFailed
from crmcore.models import User
from crmcore.services.merge import MAX_CANDIDATES
from crmcore.services.records import Kind, visible
from crmcore.textkeys import company_key

BY = ("name", "phone")
# Records shown per set; its size is counted whole.
SHOWN = 10
# Names read per query while looking for sets: a name shared by several
# records makes a set only if their companies match too.
NAMES_PER_READ = 200
BAD_CURSOR = "Not a cursor this list gave."


@dataclass(frozen=True)
class DuplicateSet:
    """Records that look like one person: ``by`` says why. ``records`` are the
    first :data:`SHOWN` of them, oldest first; ``total`` counts them all."""

    by: str
    total: int
    records: list[Any]


@dataclass(frozen=True)
class DuplicatePage:
    items: list[DuplicateSet]
    next_cursor: str | None


def duplicate_sets(session: Session, actor: User | None, kind: Kind, *, by: str = "name",
                   cursor: str | None = None, limit: int = 20) -> DuplicatePage:
    """The sets of likely duplicates among the live records ``actor`` may see,
    a page at a time, ordered by the folded name (``by="name"``: the same
    name, whatever its case and accents, and the same company, whatever its
    legal form, an empty one included) or by the phone (``by="phone"``: the
    same first phone). Follow ``next_cursor`` until it is None."""
    if by not in BY:
        raise ValidationFailed("Duplicates are listed by name or by phone.",
                               {"by": [f"One of: {', '.join(BY)}."]})
    after = _decode(cursor) if cursor else None
    if by == "phone":
        return _by_phone(session, actor, kind, after, limit)
    return _by_name(session, actor, kind, after, limit)


def _by_phone(session: Session, actor: User | None, kind: Kind, after: str | None,
              limit: int) -> DuplicatePage:
    model = kind.model
    live = visible(session, actor, kind).where(model.phone_key.is_not(None))
    groups = _shared(live, model.phone_key, after, limit + 1)
    counts: dict[str, int] = dict(session.execute(groups).all())
    phones = list(counts)[:limit]
    shown = _first_records(session, live, model.phone_key, phones, SHOWN)
    items = [DuplicateSet("phone", counts[phone], list(records))
             for phone, records in groupby(shown, key=lambda r: r.phone_key)]
    return DuplicatePage(items, _encode(phones[-1]) if len(counts) > limit else None)


def _by_name(session: Session, actor: User | None, kind: Kind, after: str | None,
             limit: int) -> DuplicatePage:
    """Names shared by several records are read in order; each splits into
    sets by company. A page holds whole names, and ends once ``limit`` sets
    are found and one more name with a set shows that another page follows."""
    model = kind.model
    live = visible(session, actor, kind)
    found: list[tuple[str, list[list[int]]]] = []
    more = False
    for name, sets in _name_sets(session, live, model, after):
        if sum(len(s) for _, s in found) >= limit:
            more = True
            break
        found.append((name, sets))
    ids = [i for _, sets in found for s in sets for i in s[:SHOWN]]
    records = {r.id: r for r in session.scalars(select(model).where(model.id.in_(ids)))} \
        if ids else {}
    items = [DuplicateSet("name", len(s), [records[i] for i in s[:SHOWN] if i in records])
             for _, sets in found for s in sets]
    return DuplicatePage(items, _encode(found[-1][0]) if more else None)


def _name_sets(session: Session, live: Select, model: Any, after: str | None
               ) -> Iterator[tuple[str, list[list[int]]]]:
    """``(name key, sets of ids)`` for each shared name after ``after`` that
    makes at least one set, in name order."""
    while True:
        names = session.scalars(_shared(live, model.name_key, after, NAMES_PER_READ)
                                .with_only_columns(model.name_key)).all()
        if not names:
            return
        rows = _first_records(session, live.with_only_columns(model.id, model.name_key,
                                                              model.company),
                              model.name_key, names, MAX_CANDIDATES)
        for name, members in groupby(rows, key=lambda r: r.name_key):
            by_company: dict[str, list[int]] = {}
            for row in members:
                by_company.setdefault(company_key(row.company or ""), []).append(row.id)
            sets = [ids for ids in by_company.values() if len(ids) > 1]
            if sets:
                yield name, sorted(sets)
        if len(names) < NAMES_PER_READ:
            return
        after = names[-1]


def _shared(live: Select, column: Any, after: str | None, limit: int) -> Select:
    """The values of ``column`` that several records hold, with their counts,
    in order from after ``after``: the column's index serves the order."""
    query = live.with_only_columns(column, func.count()).group_by(column) \
        .having(func.count() > 1).order_by(column).limit(limit)
    return query if after is None else query.where(column > after)


def _first_records(session: Session, live: Select, column: Any, values: Sequence[str],
                   per_value: int) -> list[Any]:
    """The first ``per_value`` records (oldest first) of each of ``values`` of
    ``column``, ordered by value: whole records unless ``live`` selects
    columns."""
    if not values:
        return []
    model = column.class_
    rank = func.row_number().over(partition_by=column, order_by=model.id).label("rank")
    ranked = live.where(column.in_(values)).with_only_columns(model.id, rank).subquery()
    first = select(ranked.c.id).where(ranked.c.rank <= per_value)
    query = live.where(model.id.in_(first)).order_by(column, model.id)
    result = session.execute(query)
    whole = len(query.column_descriptions) == 1
    return list(result.scalars() if whole else result)


def _encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = None
    if not value or "\x00" in value:
        raise ValidationFailed("Bad cursor.", {"cursor": [BAD_CURSOR]})
    return value
