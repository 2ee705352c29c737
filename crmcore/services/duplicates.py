"""Likely duplicates: records whose names and companies are alike
(:func:`~crmcore.textkeys.similar_names`,
:func:`~crmcore.textkeys.similar_companies`: whatever their case, accents,
order and legal forms, a letter apart at most, and nicknames for names), or
that share a phone or an address.

For one record (:func:`find_duplicates`, the create forms' warning before
saving; :func:`merge_candidates`, a saved record's): those alike, and those
with a phone or address in common, whichever of their phones and addresses
it is (:class:`~crmcore.models.OtherKey` holds those after the first); the
warning also names the records of the other type (contacts for a lead)
with a phone or address in common. Among
every record stored (:func:`duplicate_sets`, what got in anyway: an import,
two colleagues entering the same person, data from before crmcore): sets of
those alike that sound alike too (the list walks one sound key at a time:
"Bob Smith" meets "Robert Smith" in a form's warning and on his page, not in
the list), or of those holding one phone, or one address, whichever of
theirs it is. Each record of a set is alike to every other (likeness does not
chain through a third), as its "Merge all" merges them all. Records a user
says are different people are kept apart (:func:`mark_distinct`): never
offered together.

A phone is the same with the same extension, compared as stored: the number
with another extension, or none, is someone else at the same switchboard (or
the switchboard itself), not the same person.
"""

from __future__ import annotations

import base64
import binascii
import operator
from collections.abc import (
    Callable,
    Collection,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from functools import cache
from itertools import combinations, groupby
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from crmcore.auth.roles import can
from crmcore.db import any_of, emit
from crmcore.errors import NotFound, ValidationFailed
from crmcore.models import DistinctPair, OtherKey, User
from crmcore.services.records import (
    CONTACTS,
    LEADS,
    Kind,
    get,
    log,
    name_keys,
    validated,
    visible,
)
from crmcore.textkeys import (
    company_key,
    similar_companies,
    similar_company_keys,
    similar_names,
    sound_keys,
)

BY = ("name", "phone", "email")
# How many records of one name (or phone) a duplicate check compares.
MAX_CANDIDATES = 500
# Records shown per set; its size is counted whole.
SHOWN = 10
# Shared names (phones, addresses) read per query while looking for sets: a
# name shared by several records makes a set only if their companies match too.
VALUES_PER_READ = 200
# Pairs per INSERT: four values a row, well under SQLite's bound-parameter limit.
PAIRS_PER_INSERT = 2000
BAD_CURSOR = "Not a cursor this list gave."


@dataclass(frozen=True)
class Candidate:
    """A likely duplicate of one record, and why: the phones and addresses
    both hold (normalized), and whether their names and companies are
    alike."""

    record: Any
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    alike: bool


@dataclass(frozen=True)
class DuplicateSet:
    """Records that look like one person: ``by`` says why, and ``shared`` is
    the phone or address they hold (normalized; None for names). ``ids`` are
    all of them, oldest first (at most :data:`MAX_CANDIDATES`); ``records``
    the first :data:`SHOWN` of them."""

    by: str
    ids: list[int]
    records: list[Any]
    shared: str | None = None

    @property
    def total(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class DuplicatePage:
    items: list[DuplicateSet]
    next_cursor: str | None


# -- one record ----------------------------------------------------------------------


def likely_duplicates(session: Session, actor: User | None, kind: Kind, *,
                      phones: Sequence[str], emails: Sequence[str], name_key: str,
                      company: str, exclude: Collection[int] = (),
                      limit: int = 10) -> list[Candidate]:
    """Visible records with one of ``phones`` or of ``emails`` (normalized,
    the key email first) among theirs, or with a similar name (``name_key``
    is the folded name; :func:`~crmcore.textkeys.similar_names`) and a
    similar company (:func:`~crmcore.textkeys.similar_companies`), oldest
    first. An empty company counts as a company: a similar name alone is
    suspicious. ``exclude``: ids left out."""
    why = _matches(session, actor, kind, phones=phones, emails=emails, name_key=name_key,
                   company=company, exclude=exclude, limit=limit)
    model = kind.model
    found = session.scalars(select(model).where(model.id.in_(list(why)))) if why else ()
    return [Candidate(record, *why[record.id]) for record in sorted(found, key=lambda r: r.id)]


def _matches(session: Session, actor: User | None, kind: Kind, *, phones: Sequence[str],
             emails: Sequence[str], name_key: str, company: str, exclude: Collection[int],
             limit: int) -> dict[int, tuple[tuple[str, ...], tuple[str, ...], bool]]:
    """The ids :func:`likely_duplicates` finds, each with why: the phones and
    addresses in common, and whether name and company are alike."""
    model = kind.model
    # The sound keys of the name and of its spellings with nicknames or
    # swapped letters.
    sounds = [key for key in sound_keys(name_key, 200) if key]
    phones = set(phones)
    # Others' key emails among its other addresses: its own key email is no
    # one else's (a save refuses one that is).
    others = set(emails[1:])
    shared: dict[int, set[str]] = {}
    if phones or emails:
        for record_id, value in session.execute(
                select(OtherKey.record_id, OtherKey.value).where(
                    OtherKey.record_type == kind.record_type,
                    OtherKey.value.in_([*phones, *emails])).limit(MAX_CANDIDATES)):
            shared.setdefault(record_id, set()).add(value)
    same = [model.sound_key.in_(sounds)] if sounds else []
    if phones:
        same.append(model.phone_key.in_(phones))
    if others:
        same.append(model.email_key.in_(others))
    if shared:
        same.append(model.id.in_(list(shared)))
    if not same:
        return {}
    # The indexes of the sound key, the phone, the key email and the other
    # keys find the few records that share one; names and companies are
    # compared on those, in Python.
    query = (visible(session, actor, kind).where(or_(*same))
             .with_only_columns(model.id, model.phone_key, model.email_key, model.name_key,
                                model.company))
    if exclude:
        query = query.where(model.id.not_in(exclude))
    why: dict[int, tuple[tuple[str, ...], tuple[str, ...], bool]] = {}
    for record_id, phone, email, name, theirs in session.execute(
            query.order_by(model.id).limit(MAX_CANDIDATES)):
        common = shared.get(record_id, set()) | ({phone, email} & (phones | others))
        alike = similar_names(name, name_key) and similar_companies(theirs or "", company)
        if common or alike:
            why[record_id] = (tuple(sorted(common & phones)), tuple(sorted(common - phones)),
                              alike)
            if len(why) == limit:
                break
    return why


def merge_candidates(session: Session, actor: User | None, kind: Kind, record: Any,
                     limit: int = 10) -> list[Candidate]:
    """Likely duplicates of a saved record, but those it is kept apart from
    (:func:`mark_distinct`)."""
    return likely_duplicates(session, actor, kind, phones=record.phones,
                             emails=record.emails, name_key=record.name_key,
                             company=record.company,
                             exclude={record.id, *distinct_ids(session, kind, record.id)},
                             limit=limit)


@dataclass(frozen=True)
class Duplicates:
    """What a form warns of before saving: the likely duplicates the user may
    see, and how many more there are among records they may not (another
    user's), which they learn only the number of; and in ``other``, those
    of the other type (a lead's among contacts, ``other_type``) holding one
    of its phones or addresses."""

    candidates: list[Candidate]
    unseen: int = 0
    other: Duplicates | None = None
    other_type: str = ""

    def __bool__(self) -> bool:
        return bool(self.candidates or self.unseen or self.other)


def find_duplicates(session: Session, actor: User | None, kind: Kind,
                    data: Mapping[str, Any], limit: int = 10, *,
                    record: Any | None = None) -> Duplicates:
    """Likely duplicates of a record not saved yet, from its raw input, so that a
    form can warn before saving; for an edit of ``record``, those the edit
    would add: not those it has already (:func:`merge_candidates`), nor those
    it is kept apart from. Input the save would refuse (invalid, or a first
    email another record holds) raises that error instead: no warning is
    worth confirming for a save that cannot succeed.

    Records of the other type (contacts for a lead, and leads for a contact)
    holding one of its phones or addresses are likely the same person too:
    a lead entered for a customer, or a contact for a lead someone works.
    Names are not compared across types: a lead converted into a contact
    keeps its name, and the contact's phones and addresses tell whether it
    is the one.

    A user who sees only their own records learns how many other likely
    duplicates there are, not whose or which: a person twice in the CRM
    under two owners is what a team most needs to hear of."""
    values = validated(session, actor, kind, data, record=record)
    names = {k: str(values.get(k) or "").strip() for k in ("full_name", "first_name", "last_name")}
    keys = {"phones": values.get("phones") or [], "emails": values.get("emails") or [],
            "name_key": name_keys(kind, names)["name_key"],
            "company": str(values.get("company") or "").strip()}
    held = ({"phones": record.phones, "emails": record.emails, "name_key": record.name_key,
             "company": record.company} if record is not None else None)
    # An edit's warning leaves out the record and those it is kept apart from.
    apart = {record.id, *distinct_ids(session, kind, record.id)} if held is not None else set()
    other_kind = CONTACTS if kind is LEADS else LEADS
    no_name = {"name_key": "", "company": ""}
    other = _warning(session, actor, other_kind, {**keys, **no_name},
                     held and {**held, **no_name}, set(), limit)
    found = _warning(session, actor, kind, keys, held, apart, limit)
    return Duplicates(found.candidates, found.unseen, other or None, other_kind.record_type)


def _warning(session: Session, actor: User | None, kind: Kind, keys: Mapping[str, Any],
             held: Mapping[str, Any] | None, apart: set[int], limit: int) -> Duplicates:
    """:func:`find_duplicates` among the records of ``kind``: the likely
    duplicates of ``keys`` (:func:`likely_duplicates`) but ``apart``, and for
    an edit (``held``: the record's keys as saved) but those it has already."""

    def known_to(who: User | None) -> set[int]:
        """The ids an edit's warning leaves out: ``apart``, and the duplicates
        the record has already among those ``who`` sees (only their ids read)."""
        if held is None:
            return set(apart)
        return apart | set(_matches(session, who, kind, **held, exclude=apart,
                                    limit=MAX_CANDIDATES))

    known = known_to(actor)
    candidates = likely_duplicates(session, actor, kind, exclude=known, limit=limit, **keys)
    if can(session, actor, "records.view_all"):
        return Duplicates(candidates)
    everyone = set(_matches(session, None, kind, exclude=known_to(None),
                            limit=MAX_CANDIDATES, **keys))
    seen = set(_matches(session, actor, kind, exclude=known, limit=MAX_CANDIDATES, **keys))
    return Duplicates(candidates, len(everyone - seen))


# -- every record ---------------------------------------------------------------------


def duplicate_sets(session: Session, actor: User | None, kind: Kind, *, by: str = "name",
                   cursor: str | None = None, limit: int = 20) -> DuplicatePage:
    """The sets of likely duplicates among the live records ``actor`` may see,
    a page at a time: by the name's sound key (``by="name"``: similar names
    of one sound key and similar companies, an empty one included, as
    :func:`likely_duplicates` compares them), or by the phone (``"phone"``)
    or address (``"email"``) several records hold, first or not, in the
    order of the value. Each record of a set is alike to every other, and none
    was said to be a different person than another (:func:`mark_distinct`);
    a record is in one set at most (:func:`_sets`). A page holds every set of its
    last sound key, phone or address; follow ``next_cursor`` until it is
    None."""
    if by not in BY:
        raise ValidationFailed("Duplicates are listed by name, phone or email.",
                               {"by": [f"One of: {', '.join(BY)}."]})
    model = kind.model
    found: list[tuple[str, list[list[int]]]] = []
    more = False
    live, after = visible(session, actor, kind), _decode(cursor) if cursor else None
    candidates = _name_sets(session, kind, live, after, limit + 1) if by == "name" \
        else _key_sets(session, kind, live, by, after)
    # One set past the page says that another page follows.
    for value, sets in candidates:
        if sum(len(s) for _, s in found) >= limit:
            more = True
            break
        found.append((value, sets))
    ids = [i for _, sets in found for s in sets for i in s[:SHOWN]]
    records = {r.id: r for r in session.scalars(select(model).where(model.id.in_(ids)))} \
        if ids else {}
    items = [DuplicateSet(by, s, [records[i] for i in s[:SHOWN] if i in records],
                          None if by == "name" else value)
             for value, sets in found for s in sets]
    return DuplicatePage(items, _encode(found[-1][0]) if more else None)


# -- kept apart ----------------------------------------------------------------------


def mark_distinct(session: Session, actor: User | None, kind: Kind, ids: Sequence[int]) -> int:
    """Say that the records ``ids`` are different people: the duplicate list
    never puts two of them in one set (a third alike to both makes a set
    with one of them). Each record's timeline says so, and plugins hear of
    every pair (``crm_*_kept_apart``). Returns how many pairs were new."""
    wanted = sorted(set(ids))
    if not 2 <= len(wanted) <= MAX_CANDIDATES:
        message = f"Name at least two records, at most {MAX_CANDIDATES}."
        raise ValidationFailed(message, {"ids": [message]})
    model = kind.model
    seen = set(session.scalars(visible(session, actor, kind).where(
        any_of(session, model.id, wanted)).with_only_columns(model.id)))
    if seen != set(wanted):
        # The same answer for "none" and "not yours": it reveals nothing.
        raise NotFound(f"No such {kind.record_type}.")
    # Two users may mark the same pair at once: a pair already there is no
    # conflict, and only the new ones count.
    insert = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)
    marked_by = actor.id if actor else None
    pairs = [{"record_type": kind.record_type, "low_id": low, "high_id": high,
              "marked_by": marked_by} for low, high in combinations(wanted, 2)]
    marked = 0
    for start in range(0, len(pairs), PAIRS_PER_INSERT):
        # RETURNING gives the rows inserted (rowcount does not, with every driver).
        marked += len(session.execute(insert(DistinctPair).values(
            pairs[start:start + PAIRS_PER_INSERT]).on_conflict_do_nothing()
            .returning(DistinctPair.low_id)).all())
    for record_id in wanted:
        others = [i for i in wanted if i != record_id]
        log(session, actor, kind, record_id, "distinct",
            body=f"Not a duplicate of {named_ids(others)}")
    session.flush()
    emit(session, f"crm_{kind.record_type}s_kept_apart", actor=actor,
         pairs=[(p["low_id"], p["high_id"]) for p in pairs])
    return marked


def named_ids(ids: Sequence[int]) -> str:
    """``#1, #2 and 3 more``: the first :data:`SHOWN` ids of many, for a message."""
    named = ", ".join(f"#{i}" for i in ids[:SHOWN])
    return named + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")


def distinct_ids(session: Session, kind: Kind, record_id: int) -> set[int]:
    """The ids of the records ``record_id`` is kept apart from."""
    pairs = session.execute(select(DistinctPair.low_id, DistinctPair.high_id).where(
        DistinctPair.record_type == kind.record_type,
        or_(DistinctPair.low_id == record_id, DistinctPair.high_id == record_id)))
    return {low if high == record_id else high for low, high in pairs}


def kept_apart(session: Session, actor: User | None, kind: Kind, record: Any) -> list[Any]:
    """The live records ``actor`` may see that ``record`` is kept apart from."""
    ids = distinct_ids(session, kind, record.id)
    if not ids:
        return []
    model = kind.model
    return list(session.scalars(visible(session, actor, kind).where(model.id.in_(ids))
                                .order_by(model.id)))


def unmark_distinct(session: Session, actor: User | None, kind: Kind, record_id: int,
                    other_id: int) -> None:
    """Take back :func:`mark_distinct` for two records: they may be duplicates
    again. Both timelines say so."""
    for one in (record_id, other_id):
        get(session, actor, kind, one)  # a 404 for what the user may not see
    low, high = sorted((record_id, other_id))
    gone = session.execute(delete(DistinctPair).where(
        DistinctPair.record_type == kind.record_type, DistinctPair.low_id == low,
        DistinctPair.high_id == high), execution_options={"synchronize_session": False})
    if not gone.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"The {kind.record_type}s #{low} and #{high} are not kept apart.")
    for one, other in ((record_id, other_id), (other_id, record_id)):
        log(session, actor, kind, one, "distinct", body=f"May be a duplicate of #{other} again")
    session.flush()


def _name_sets(session: Session, kind: Kind, live: Select, after: str | None, wanted: int
               ) -> Iterator[tuple[str, list[list[int]]]]:
    """``(sound key, sets of ids)`` for each sound key after ``after`` that
    several records share and whose records make at least one set
    (:func:`_sets`) of names and companies alike, in order. The first read
    takes as many sound keys as ``wanted`` sets, then four times as many a
    read up to :data:`VALUES_PER_READ`: where many records share each sound
    key (a few hundred thousand imported leads of a few hundred names), one
    read of that many would read every record of those keys for a page
    that shows a few of them."""
    column = kind.model.sound_key
    # One sound key's records have a few names and many companies: each two
    # names are compared once, and companies first, keyed once a record.
    names = cache(similar_names)

    def alike(one: tuple[str, str], other: tuple[str, str]) -> bool:
        return similar_company_keys(one[1], other[1]) and names(one[0], other[0])

    while True:
        count = min(wanted, VALUES_PER_READ)
        values = session.scalars(_shared(column, after, count)).all()
        if not values:
            return
        rows = _first_records(session, live, column, values)
        apart = _kept_apart(session, kind, [row.id for row in rows])
        for value, members in groupby(rows, key=lambda row: row.value):
            # Keyed (and compared) by the company's key: "Acme" and "ACME, Inc." are one.
            sets = _sets([(row.id, (row.name_key, company_key(row.company or "")))
                          for row in members], apart, alike, _company_near)
            if sets:
                yield value, sets
        if len(values) < count:
            return
        after, wanted = values[-1], count * 4


def _key_sets(session: Session, kind: Kind, live: Select, by: str, after: str | None
              ) -> Iterator[tuple[str, list[list[int]]]]:
    """``(value, sets of ids)`` for each phone (``by="phone"``) or address
    after ``after`` that several records hold, as their first or as another
    (:class:`~crmcore.models.OtherKey`), in order: all of them, but that
    records said to be different people are in different sets (:func:`_sets`).

    Two reads in the same byte order, each through its own index, merged: the
    first phones several records share, and the values of other keys, which
    another record may hold either way. Each read is whole up to its last
    value unless the limit cut it, so a round takes the values up to the
    earlier of the cut reads' last ones."""
    model = kind.model
    column = model.phone_key if by == "phone" else model.email_key
    while True:
        reads = [
            # Key emails are unique (the hard rule): no two records share one.
            session.scalars(_shared(column, after)).all() if by == "phone" else [],
            session.scalars(_other_values(kind, by, after)).all()]
        cut = [values[-1] for values in reads if len(values) == VALUES_PER_READ]
        through = min(cut, default=None)
        values = sorted({v for values in reads for v in values
                         if through is None or v <= through})
        holders = _holders(session, kind, live, column, values)
        apart = _kept_apart(session, kind, sorted({i for ids in holders.values()
                                                   for i in ids}))
        for value in values:
            # Holding one value, all are alike: one look, near itself.
            sets = _sets([(i, None) for i in holders.get(value, [])], apart, operator.eq,
                         lambda look: (look,))
            if sets:
                yield value, sets
        if through is None:
            return
        after = through


def _other_values(kind: Kind, by: str, after: str | None) -> Select:
    """The next values of other keys of ``kind`` after ``after`` that another
    record holds too, first or not, in order: phones or addresses. The
    primary key's index serves the order and the distinct values; two index
    probes a value tell whether another holds it, in the database, so that
    walking many values no one else holds costs one read, not one each.
    Every address holds an "@" and no phone does; phones (E.164, an extension
    after it) lie between "+" and "," (the character after it), so that their
    read skips the addresses."""
    model = kind.model
    mine, theirs = aliased(OtherKey), aliased(OtherKey)
    first = model.phone_key if by == "phone" else model.email_key
    value = mine.value
    kind_of_value = and_(value > "+", value < ",", ~value.contains("@")) if by == "phone" \
        else value.contains("@")
    held_first = select(model.id).where(first == value, model.id != mine.record_id).exists()
    held_other = select(theirs.record_id).where(
        theirs.record_type == mine.record_type, theirs.value == value,
        theirs.record_id != mine.record_id).exists()
    query = select(value).distinct() \
        .where(mine.record_type == kind.record_type, kind_of_value,
               or_(held_first, held_other)) \
        .order_by(value).limit(VALUES_PER_READ)
    return query if after is None else query.where(value > after)


def _holders(session: Session, kind: Kind, live: Select, column: Any, values: Sequence[str]
             ) -> dict[str, list[int]]:
    """The ids of the records holding each of ``values``, first (``column``)
    or not, oldest first, at most :data:`MAX_CANDIDATES` a value."""
    if not values:
        return {}
    model = kind.model
    found: dict[str, set[int]] = {}
    others = live.join(OtherKey, and_(OtherKey.record_type == kind.record_type,
                                      OtherKey.record_id == model.id)) \
        .where(any_of(session, OtherKey.value, values)) \
        .with_only_columns(OtherKey.value, model.id)
    for value, record_id in [*((row.value, row.id) for row in
                               _first_records(session, live, column, values)),
                             *session.execute(others)]:
        found.setdefault(value, set()).add(record_id)
    return {value: sorted(ids)[:MAX_CANDIDATES] for value, ids in found.items()}


def _sets(records: Sequence[tuple[int, Hashable]], apart: Mapping[int, set[int]],
          alike: Callable[[Any, Any], bool], near: Callable[[Any], Iterable[Hashable]]
          ) -> list[list[int]]:
    """The ids of ``records`` (``(id, look)`` in id order) in sets of records
    each of which is alike every other of its set (the same look, or looks
    ``alike``) and kept apart from none (``apart``: the ids each is kept apart
    from, :func:`mark_distinct`): a record joins the set of the oldest it
    fits, or starts one; sets of one are left out. Likeness does not pass on:
    "Kappa Pools" is like "Kappa Tools", and "Kappa Polls" like "Kappa
    Pills", but "Kappa Tools" is not like "Kappa Pills", so that "Merge all"
    of a set never merges those two through the others.

    ``near`` gives keys of which two looks alike share one at least: a record
    is compared only with the sets whose first look shares one, not with
    each of the hundreds of sets a common name may make."""
    sets: list[tuple[list[int], set[Hashable]]] = []
    by_key: dict[Hashable, list[int]] = {}
    # Each two looks are compared once, however many records have them.
    compared: dict[tuple[Hashable, Hashable], bool] = {}

    def like(one: Hashable, other: Hashable) -> bool:
        if one == other:
            return True
        if (one, other) not in compared:
            compared[one, other] = alike(one, other)
        return compared[one, other]

    for record_id, look in records:
        kept_apart = apart.get(record_id, set())
        keys = set(near(look))
        for index in sorted({i for key in keys for i in by_key.get(key, ())}):
            ids, looks = sets[index]
            if (not kept_apart or kept_apart.isdisjoint(ids)) \
                    and all(like(seen, look) for seen in looks):
                ids.append(record_id)
                looks.add(look)
                break
        else:
            for key in keys:
                by_key.setdefault(key, []).append(len(sets))
            sets.append(([record_id], {look}))
    return [ids for ids, _ in sets if len(ids) > 1]


def _company_near(look: tuple[str, str]) -> list[tuple[int, str]]:
    """Keys of which two looks (name, company key) whose companies are similar
    share one at least (:func:`~crmcore.textkeys.similar_company_keys`: as
    many words, each a letter apart at most): the number of words with the
    last word, whole or less one of its letters."""
    words = look[1].split()
    last = words[-1] if words else ""
    return [(len(words), last),
            *((len(words), last[:i] + last[i + 1:]) for i in range(len(last)))]


def _shared(column: Any, after: str | None, count: int = VALUES_PER_READ) -> Select:
    """The first ``count`` values of ``column`` that several records hold, in
    order from after ``after``: the column's index alone serves the grouping and the order.
    Binned records and those the user may not see are counted too, as
    telling them apart would read each record's row (a list that finds few
    sets walks the whole index: a million rows took a third longer so); the
    records read next are only the live ones the user may see, so that a
    value no two of those share makes no set."""
    query = select(column).where(column.is_not(None), column != "") \
        .group_by(column) \
        .having(func.count() > 1).order_by(column).limit(count)
    return query if after is None else query.where(column > after)


def _first_records(session: Session, live: Select, column: Any, values: Sequence[str]
                   ) -> list[Any]:
    """``(id, value, name_key, company)`` of the first :data:`MAX_CANDIDATES`
    records (oldest first) of each of ``values`` of ``column``, ordered by
    value."""
    model = column.class_
    rank = func.row_number().over(partition_by=column, order_by=model.id).label("rank")
    ranked = live.where(any_of(session, column, values)) \
        .with_only_columns(model.id, rank).subquery()
    first = select(ranked.c.id).where(ranked.c.rank <= MAX_CANDIDATES)
    return list(session.execute(
        live.where(model.id.in_(first))
        .with_only_columns(model.id, column.label("value"), model.name_key, model.company)
        .order_by(column, model.id)))


def _kept_apart(session: Session, kind: Kind, ids: Sequence[int]) -> dict[int, set[int]]:
    """For each of ``ids`` said to be a different person than others
    (:func:`mark_distinct`), the ids of those others (of any record; a set
    is made of ``ids`` only)."""
    found: dict[int, set[int]] = {}
    if ids:
        for low, high in session.execute(select(DistinctPair.low_id, DistinctPair.high_id).where(
                DistinctPair.record_type == kind.record_type,
                any_of(session, DistinctPair.low_id, ids))):
            found.setdefault(low, set()).add(high)
            found.setdefault(high, set()).add(low)
    return found


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
