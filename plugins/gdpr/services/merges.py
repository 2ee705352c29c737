"""Which leads (or contacts) were merged into which: a merged-away record in the
recycle bin still holds the person's name and addresses, and anonymizing the
survivor anonymizes it too (:func:`.anonymize.try_anonymize`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from crmcore_plugins.gdpr.models import GdprMerge
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

# Ids in one IN list.
CHUNK = 1000


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def remember(session: Session, record_type: str, survivor_id: int,
             merged_ids: Sequence[int]) -> None:
    """``merged_ids`` were merged into ``survivor_id`` (``crm_*_merged``). A record
    restored and merged into the same survivor again is remembered once."""
    wanted = [i for i in dict.fromkeys(merged_ids) if i != survivor_id]
    known = set(session.scalars(select(GdprMerge.merged_id).where(
        GdprMerge.record_type == record_type, GdprMerge.survivor_id == survivor_id,
        GdprMerge.merged_id.in_(wanted))))
    session.add_all(GdprMerge(record_type=record_type, merged_id=i, survivor_id=survivor_id)
                    for i in wanted if i not in known)
    session.flush()


def merged_into(session: Session, record_type: str, record_id: int) -> list[int]:
    """Every record merged into ``record_id``, and every record merged into those
    (a merge of merges), nearest first; never ``record_id`` itself. Records
    restored from the recycle bin since are included: they stand for the same
    person, until a user says otherwise (:func:`forget_kept_apart`)."""
    seen = {record_id}
    found: list[int] = []
    level = [record_id]
    while level:
        following: list[int] = []
        for chunk in _chunks(level):
            following += session.scalars(
                select(GdprMerge.merged_id)
                .where(GdprMerge.record_type == record_type, GdprMerge.survivor_id.in_(chunk))
                .order_by(GdprMerge.merged_id))
        level = [i for i in dict.fromkeys(following) if i not in seen]
        seen.update(level)
        found += level
    return found


def forget_purged(session: Session, record_type: str, ids: Sequence[int]) -> None:
    """Records deleted for good (``crm_*_purged``): their rows go with them, as
    nothing of a purged record stays behind. What was merged into a purged record
    that was itself merged into another is remembered as merged into that other,
    so that a chain A → B → C still reaches A from C once B is purged."""
    purged = set(ids)
    rows: set[tuple[int, int]] = set()
    for chunk in _chunks(list(purged)):
        rows.update((m, s) for m, s in session.execute(
            select(GdprMerge.merged_id, GdprMerge.survivor_id).where(
                GdprMerge.record_type == record_type,
                or_(GdprMerge.merged_id.in_(chunk), GdprMerge.survivor_id.in_(chunk)))))
    if not rows:
        return
    # Take each purged record out of the graph, joining what was merged into
    # it to what it was merged into.
    edges = set(rows)
    for gone in purged & {i for row in rows for i in row}:
        into = {m for m, s in edges if s == gone}
        out = {s for m, s in edges if m == gone}
        edges = {(m, s) for m, s in edges if gone not in (m, s)}
        edges |= {(m, s) for m in into for s in out if m != s}
    for chunk in _chunks(list(purged)):
        session.execute(delete(GdprMerge).where(
            GdprMerge.record_type == record_type,
            or_(GdprMerge.merged_id.in_(chunk), GdprMerge.survivor_id.in_(chunk))))
    added = edges - rows
    if added:
        merged = sorted({m for m, _ in added})
        for chunk in _chunks(merged):
            added -= {(m, s) for m, s in session.execute(
                select(GdprMerge.merged_id, GdprMerge.survivor_id).where(
                    GdprMerge.record_type == record_type, GdprMerge.merged_id.in_(chunk)))}
        session.add_all(GdprMerge(record_type=record_type, merged_id=m, survivor_id=s)
                        for m, s in sorted(added))
    session.flush()


def forget_kept_apart(session: Session, record_type: str,
                      pairs: Sequence[tuple[int, int]]) -> None:
    """A user said that each pair are different people (``crm_*_kept_apart``,
    "not duplicates"), so a merge between them was a mistake: anonymizing one
    must no longer anonymize the other. Of the two, the one merged into the
    other (directly, or through records merged in between) loses its links
    toward the other; what was merged into it stays with it, as a chain
    through a purged record stays whole (:func:`forget_purged`). Other links
    stay: the records in between are still taken for one person with whom
    they were merged."""
    for one, other in pairs:
        for merged, survivor in ((one, other), (other, one)):
            below = set(merged_into(session, record_type, survivor))
            if merged not in below:
                continue
            # The merged record's links to the survivor or to what leads to it.
            toward = below | {survivor}
            links = [s for s in session.scalars(select(GdprMerge.survivor_id).where(
                GdprMerge.record_type == record_type, GdprMerge.merged_id == merged))
                     if s in toward]
            session.execute(delete(GdprMerge).where(
                GdprMerge.record_type == record_type, GdprMerge.merged_id == merged,
                GdprMerge.survivor_id.in_(links)))
    session.flush()
