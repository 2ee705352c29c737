"""The check: every row of the file validated and classified (create, update,
skip, or a problem) against the file's earlier rows and the records in the
CRM, before anything is written. Its good rows are spooled for the write."""

from __future__ import annotations

import marshal
import os
import sqlite3
import tempfile
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Select, Text, cast, select
from sqlalchemy.orm import Session

from crmcore import jsoncodec
from crmcore.auth.roles import can
from crmcore.db import any_of
from crmcore.errors import Forbidden, ValidationFailed
from crmcore.models import EmailKey, LeadStage, OtherKey, User
from crmcore.services import records as rec
from crmcore.services.custom_fields import definitions
from crmcore.services.import_rows import RECORD_ID, HeaderProblems, RowValidator, map_header
from crmcore.services.imports.options import BLANK, ROW, ImportOptions, Report
from crmcore.services.imports.reading import numbered_batches, open_rows
from crmcore.services.users import owner_problem, possible_owners
from crmcore.textkeys import fold


class Scratch:
    """Disk, not memory, for what the check learns: the addresses of the good
    rows so far and the records they update (as ``#id``: an address always
    holds an ``@``), and each batch's good rows, converted, so that the write
    does not validate them again."""

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(suffix=".sqlite3", prefix="crm-import-")
        os.close(fd)
        self.db = sqlite3.connect(path)
        # Gone from the directory at once: SQLite keeps working on the open
        # file (it has no journal to open beside it), and a killed process
        # leaves nothing in the temporary directory.
        os.unlink(path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE seen (email TEXT PRIMARY KEY, row INTEGER) WITHOUT ROWID")
        # Written and read once, in order: a plain file without a name, which
        # lives as long as this object (close() closes it).
        self.spool = tempfile.TemporaryFile(prefix="crm-import-")  # noqa: SIM115
        # The file's column of each field a problem found by the write is
        # about (the check knows the header): the emails, the id, and each
        # custom field the file has.
        self.columns: dict[str, str] = {}
        # Whether a row claimed a record as "#id" yet: until one has, a row
        # finding its record by key email need not look for such a claim.
        self.records_claimed = False
        # What blank cells clear, under blank_cells="clear".
        self.clearing: Clearing | None = None

    def keep(self, last_row: int, rows_through: int, values: list[dict[str, Any]]) -> None:
        """Spool a batch of good rows; ``last_row`` is the file row the batch
        ends at, as the write records it for a resume, and ``rows_through`` the
        data rows read up to there, for the progress."""
        # marshal, several times faster than JSON for these plain values; the
        # file is this process's own and dies with it. Each batch is one
        # length-prefixed block: marshal.load() on a file reads item by item.
        block = marshal.dumps((last_row, rows_through, values))
        self.spool.write(len(block).to_bytes(8, "little") + block)

    def good_batches(self) -> Iterator[tuple[int, int, list[dict[str, Any]]]]:
        """``(last row, rows through, values)`` per batch, in file order."""
        self.spool.seek(0)
        while size := self.spool.read(8):
            yield marshal.loads(self.spool.read(int.from_bytes(size, "little")))  # noqa: S302

    def first_rows(self, keys: Sequence[str]) -> dict[str, int]:
        return dict(self.db.execute(
            "SELECT email, row FROM seen WHERE email IN (SELECT value FROM json_each(?))",
            (jsoncodec.dumps(list(keys)),)))

    def add(self, pairs: Sequence[tuple[str, int]]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", pairs)

    def close(self) -> None:
        self.db.close()
        self.spool.close()


def row_validator(session: Session, actor: User | None, kind: rec.Kind,
               header: list[str], options: ImportOptions) -> RowValidator:
    refuse_external(session, actor)
    custom = definitions(session, kind.record_type)
    try:
        columns = map_header(kind.record_type, header, options.mapping, custom,
                             by_id=options.match_by == "id", chosen=options.columns)
    except HeaderProblems as exc:
        # The mapping's problems under the option that gave it: by name or by position.
        given = "mapping" if options.columns is None else "columns"
        raise ValidationFailed(f"The header does not fit: {exc}", {
            given if cause == "mapping" else cause: problems
            for cause, problems in exc.by_cause.items()}) from None
    if options.fields is not None:
        refused = [c.header for c in columns
                   if not set(c.fills(kind.record_type)) <= set(options.fields)]
        if refused:
            message = f"These columns cannot be imported here: {', '.join(refused)}."
            raise ValidationFailed(f"The header does not fit: {message}", {"file": [message]})
    may_set_owner = can(session, actor, "records.reassign")
    owners = _owners(session, actor, may_set_owner)
    stages = {n: i for i, n in session.execute(select(LeadStage.id, LeadStage.name)
                                                .order_by(LeadStage.position, LeadStage.id))}
    # A mapping by name cannot reach a column with no name; one by position
    # (the import page's) maps it or ignores it, as asked.
    unnamed = ([i for i, name in enumerate(header) if not name.strip()]
               if options.columns is None else [])
    return RowValidator(kind.record_type, columns, custom, owners, stages, may_set_owner,
                        header_width=len(header), unnamed=unnamed)


def _owners(session: Session, actor: User | None, may_set_owner: bool) -> dict[str, int | str]:
    """What an owner cell may hold, lower-cased: an active user's email, or the
    name only that user has (other tools export the owner's name) of a user
    who may own records (:func:`~crmcore.services.users.possible_owners`); a
    name several users have maps to why it names no one. Without ``may_set_owner``
    only the importing user themselves, as the export of their own records
    names them."""
    staff = possible_owners(session)
    users = [(u.id, u.email, u.name) for u in staff.values()]

    def allowed(user_id: int) -> bool:
        return may_set_owner or (actor is not None and user_id == actor.id)

    by_name: dict[str, list[tuple[int, str]]] = {}
    for user_id, email, name in users:
        if name.strip():
            by_name.setdefault(name.strip().lower(), []).append((user_id, email))
    owners: dict[str, int | str] = {}
    for name, named in by_name.items():
        if len(named) == 1 and allowed(named[0][0]):
            owners[name] = named[0][0]
        elif len(named) > 1 and (emails := sorted(e for i, e in named if allowed(i))):
            owners[name] = (f"Several users have this name ({len(named)}): give the owner's "
                            f"email instead ({', '.join(emails)}).")
    if may_set_owner:
        # An external user's email gets the reason it names no owner, not
        # "unknown user".
        owners.update({user.email.lower(): owner_problem(session, user) or ""
                       for user in session.scalars(select(User).where(
                           User.is_active.is_(True), User.id.not_in(list(staff))))})
    # An email wins over a name that reads the same.
    owners.update({email.lower(): user_id for user_id, email, _ in users if allowed(user_id)})
    return owners


def refuse_external(session: Session, actor: User | None) -> None:
    """External users (an advertiser, a partner) create no core record as
    themselves: their plugin imports on their behalf (as the system)."""
    if rec.is_external(session, actor):
        raise Forbidden("External users import through their portal, not as themselves.")


@dataclass(frozen=True)
class Holder:
    """The record an email already belongs to: as its key (first) email, or as
    one of its other addresses, which several records may share."""

    record_type: str
    record_id: int
    editable: bool  # of the kind imported, and one the importing user may update
    key: bool = True  # the record's key email, else one of its other addresses
    # Found by another address that the import may update: the record's key email.
    record_key: str | None = None
    # Another address that several records the import may update hold: all of them.
    several: tuple[int, ...] = ()


def email_holders(session: Session, actor: User | None, kind: rec.Kind, options: ImportOptions,
              emails: Sequence[str]) -> dict[str, Holder]:
    """The record each of ``emails`` (rows' first addresses) belongs to: the one
    whose key email it is, else one holding it as another address, a lead's or
    a contact's (under the update policy the one the import may update, when
    there is one; ``several`` when there are more)."""
    if not emails:
        return {}
    found = session.execute(select(EmailKey.email, EmailKey.record_type, EmailKey.record_id)
                            .where(any_of(session, EmailKey.email, emails))).all()
    keyed = {email for email, _, _ in found}
    unkeyed = [email for email in emails if email not in keyed]
    # Through the primary key of other_keys: (record type, address) each.
    others = session.execute(select(OtherKey.value, OtherKey.record_type, OtherKey.record_id)
                             .where(OtherKey.record_type.in_(tuple(rec.KINDS)),
                                    any_of(session, OtherKey.value, unkeyed))
                             ).all() if unkeyed else []
    editable = editable_ids(session, actor, kind, [
        i for _, t, i in (*found, *others) if t == kind.record_type]
        if options.on_duplicate == "update" else [])
    holders = {email: Holder(t, i, t == kind.record_type and i in editable)
               for email, t, i in found}
    shared: dict[str, list[tuple[str, int]]] = {}
    for value, t, i in others:
        shared.setdefault(value, []).append((t, i))
    found_by_other: dict[str, list[int]] = {}
    for email, records in shared.items():
        if mine := sorted(i for t, i in records if t == kind.record_type and i in editable):
            found_by_other[email] = mine
        else:
            # One of the kind imported if any: the row is told why it is not updated.
            t, i = min(records, key=lambda r: (r[0] != kind.record_type, r[1]))
            holders[email] = Holder(t, i, False, key=False)
    if found_by_other:
        model = kind.model
        record_keys = dict(session.execute(select(model.id, model.email_key).where(any_of(
            session, model.id, [mine[0] for mine in found_by_other.values()]))).all())
        for email, mine in found_by_other.items():
            holders[email] = Holder(kind.record_type, mine[0], True, key=False,
                                    record_key=record_keys.get(mine[0]),
                                    several=tuple(mine) if len(mine) > 1 else ())
    return holders


def _editable(session: Session, actor: User | None, kind: rec.Kind, ids: Sequence[int],
              *columns: Any) -> Select:
    """A select of the ``ids`` of records an import by ``actor`` may update, and
    their ``columns``: by the records' own rule, live ones, not anonymized
    (:func:`records.update`'s rule), and only one's own without records.view_all."""
    model = kind.model
    return (rec.visible(session, actor, kind).with_only_columns(model.id, *columns)
            .where(any_of(session, model.id, ids), model.anonymized_at.is_(None)))


def editable_ids(session: Session, actor: User | None, kind: rec.Kind,
                 ids: Sequence[int]) -> set[int]:
    """The ``ids`` of records an import by ``actor`` may update (:func:`_editable`)."""
    if not ids:
        return set()
    return set(session.scalars(_editable(session, actor, kind, ids)))


# The fields of a record's name, as rows give them.
NAME_FIELDS = {"lead": ("full_name",), "contact": ("first_name", "last_name")}


@dataclass(frozen=True)
class Named:
    """A record a row names by its id, and who it is: its name's fields and its
    emails, to tell a row about someone else."""

    names: dict[str, str]
    # As the database's JSON text: read only for a row that renames the record.
    emails_json: str | None

    def emails(self) -> list[str]:
        return jsoncodec.loads(self.emails_json) if self.emails_json else []


def named_records(session: Session, actor: User | None, kind: rec.Kind,
                  ids: Sequence[int]) -> dict[int, Named]:
    """Of ``ids``, the records an import by ``actor`` may update (as
    :func:`_editable`), each with who it is."""
    if not ids:
        return {}
    model = kind.model
    names = NAME_FIELDS[kind.record_type]
    found = session.execute(_editable(session, actor, kind, ids, cast(model.emails, Text),
                                      *(getattr(model, n) for n in names)))
    return {record_id: Named(dict(zip(names, parts, strict=True)), emails)
            for record_id, emails, *parts in found}


def someone_else(kind: rec.Kind, record_id: int, record: Named,
                 values: Mapping[str, Any]) -> str | None:
    """Why a row naming a record by its id is not that record's, if it is not:
    its name and each of its emails differ from the record's (an edited export
    may change one of them, not both: an id column from another system names
    unrelated records). ``None`` when the row gives neither to compare."""
    given = {k: values[k] for k in record.names if k in values}
    emails = values.get("emails") or []
    if not (given or emails):
        return None
    if given and (all(record.names[k] == v for k, v in given.items())
                  or _folded({**record.names, **given}) == _folded(record.names)):
        return None
    held = record.emails()
    if set(emails) & set(held):  # both normalized, lower-cased
        return None
    name = " ".join(part for part in record.names.values() if part)
    email = f" ({held[0]})" if held else ""
    return (f"The {kind.record_type} #{record_id} is “{name}”{email}; this row names "
            "someone else — is the id column from another system? Import by email "
            "instead, or correct the id.")


def _folded(names: Mapping[str, str]) -> str:
    """A name's fields as compared: joined, case, accents and runs of spaces folded."""
    return " ".join(fold(" ".join(names.values())).split())


@dataclass(frozen=True)
class Clearing:
    """What blank cells clear in the rows that update records
    (``blank_cells="clear"``): each field's empty value and why the others
    may not be cleared (:func:`records.emptied`), and the file's columns
    filling each field."""

    empty: dict[str, Any]
    refused: dict[str, str]
    columns: dict[str, str]

    def problems(self, values: Mapping[str, Any], record: Named | None
                 ) -> list[tuple[str, str]]:
        """``(column, message)`` for each field that the blank cells of a row
        updating a record would clear and may not. ``record``: the one a row
        matched by id names; its emails, if it has none, lose nothing."""
        return [(self.columns[name], f"{self.refused[name].removesuffix('.')}: a blank cell "
                 "cannot clear it.") for name in values.get(BLANK, ())
                if name in self.refused
                and not (name == "emails" and record is not None and not record.emails())]

    def cleared(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A row's values for the update of its record: without the id, its
        blank fields (those that may be) emptied."""
        out = {k: v for k, v in values.items() if k not in (RECORD_ID, BLANK)}
        for name in (n for n in values.get(BLANK, ()) if n in self.empty):
            if name.startswith("custom."):
                out["custom"] = {**out.get("custom", {}), name[len("custom."):]: self.empty[name]}
            else:
                out[name] = self.empty[name]
        return out

    def joined(self, values: Mapping[str, Any]) -> Sequence[str]:
        """The lists of a record found by email that the row's join
        (:func:`records.apply_many`): not those its blank cells clear."""
        return [name for name in rec.JOINED if name not in values.get(BLANK, ())]


def clearing(session: Session, actor: User | None, kind: rec.Kind,
             validator: RowValidator) -> Clearing:
    """What the blank cells of the columns ``validator`` reads clear. The first
    email is the one field a blank cell never clears that an update may
    empty: imports find a record by it."""
    fields = list(validator.filled_by)
    empty, refused = rec.emptied(session, actor, kind, fields)
    if "emails" in fields:
        refused["emails"] = f"The first email is how imports find a {kind.record_type}."
    return Clearing(empty, refused, {name: validator.columns_of(name) for name in fields})


def update_values(blanks: Clearing | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """A good row's values for the update of its record (``blanks``: what its
    blank cells clear, under ``blank_cells="clear"``)."""
    if blanks is not None:
        return blanks.cleared(values)
    return {k: v for k, v in values.items() if k != RECORD_ID}


def joined_lists(blanks: Clearing | None, values: Mapping[str, Any]) -> Sequence[str]:
    """The lists of a record a row found by email that the row's join."""
    return rec.JOINED if blanks is None else blanks.joined(values)


def mark_blanks(validator: RowValidator, rows: Iterable[tuple[int, Sequence[str]]],
                converted: Iterable[tuple[int, dict[str, Any], list[tuple[str, str]]]]
                ) -> None:
    """Note with each good row's values the fields its blank cells clear
    (under ``BLANK``), should it update a record."""
    for (_, row), (_, values, problems) in zip(rows, converted, strict=True):
        if not problems and (blank := validator.blank_fields(row)):
            values[BLANK] = blank


def moving_emails(rows: Iterable[Mapping[str, Any]], editable: Container[int]) -> dict[int, str]:
    """The first email each record named by id in a batch's ``rows`` gets:
    within a batch, records may trade addresses (the write releases every old
    key of a batch before it claims the new ones)."""
    return {values[RECORD_ID]: values["emails"][0] for values in rows
            if values.get(RECORD_ID) in editable and values.get("emails")}


def classify(kind: rec.Kind, options: ImportOptions, values: Mapping[str, Any],
              existing: Mapping[str, Holder], named: Mapping[int, Named],
              moving: Mapping[int, str]) -> tuple[str, int | None, str, str]:
    """``(action, record_id, message, field)`` of a good row: create, update,
    skip, or an error about ``field`` (the row's ``emails`` or ``id``).
    ``named``: of the ids rows name, the records the import may update
    (:func:`named_records`); ``moving``: the new first emails of the batch's
    records (:func:`moving_emails`)."""
    email = values["emails"][0] if values.get("emails") else None
    holder = existing.get(email) if email else None
    record_id = values.get(RECORD_ID)
    if record_id is not None:
        if record_id not in named:
            return "error", None, (
                f"No {kind.record_type} #{record_id} that you may update (another user's, "
                f"one in the recycle bin, an anonymized one, or none at all): leave the id "
                f"empty to add the row as a new {kind.record_type}."), RECORD_ID
        if (why := someone_else(kind, record_id, named[record_id], values)) is not None:
            return "error", None, why, RECORD_ID
        # Only a key email is one record's alone: several may share another address.
        if holder is not None and not holder.key:
            holder = None
        released = (holder is not None and holder.record_type == kind.record_type
                    and moving.get(holder.record_id, email) != email)
        if holder and (holder.record_type, holder.record_id) != (kind.record_type, record_id) \
                and not released:
            return "error", None, (f"The email {email} already belongs to another lead or "
                                   "contact."), "emails"
        if options.on_duplicate == "report":
            return "error", None, (f"The {kind.record_type} #{record_id} is already in the "
                                   "CRM."), RECORD_ID
        holder = Holder(kind.record_type, record_id, editable=True)
    if holder is None:
        return "create", None, "", ""
    if options.on_duplicate == "skip":
        return "skip", None, "", ""
    if options.on_duplicate == "update" and holder.record_type == kind.record_type:
        if holder.editable and not holder.several:
            return "update", holder.record_id, "", ""
        if holder.several:
            return "error", None, (
                f"The email {email} is another address of several {kind.record_type}s "
                f"({', '.join(f'#{i}' for i in holder.several)}): the row cannot tell which "
                f"to update. Give it that {kind.record_type}'s first email, or import by "
                "id."), "emails"
        held = "belongs to" if holder.key else "is another address of"
        return "error", None, (f"The email {email} {held} a {holder.record_type} you may "
                               "not update: another user's, or one in the recycle bin."), "emails"
    held = "already belongs to" if holder.key else "is another address of"
    return "error", None, (options.known_email_message or f"The email {email} {held} a "
                           f"{holder.record_type} in the CRM."), "emails"


def required_fields(session: Session, kind: rec.Kind) -> dict[str, str]:
    """The custom fields a new record must have, as ``custom.<name>``: their labels."""
    return {f"custom.{d.name}": d.label for d in definitions(session, kind.record_type)
            if d.required}


def missing_required(kind: rec.Kind, values: Mapping[str, Any], required: Mapping[str, str],
                     defaults: Mapping[str, Any], columns: Mapping[str, str]
                     ) -> list[tuple[str, str]]:
    """``(column, message)`` for each required custom field (``required``, as
    :func:`required_fields` gives them) a row creating a record leaves without
    a value, as the API refuses such a record; ``columns``: the file's column
    of each that the file has. Code-set ``defaults`` count."""
    given = {**values, **defaults}.get("custom") or {}
    return [(columns.get(field, field),
             f"Missing data for required field: a new {kind.record_type} needs its {label}"
             + ("." if field in columns else "; the file has no column for it."))
            for field, label in required.items() if field[len("custom."):] not in given]


def check(session: Session, actor: User | None, kind: rec.Kind, path: Path,
          options: ImportOptions, progress: Callable[[int], None] | None = None,
          scratch: Scratch | None = None,
          store: Callable[[list[tuple[int, str, str]]], None] | None = None) -> Report:
    """Read the whole file and report what an import would do and every problem.
    With ``scratch``, the good rows are kept there for the write; without (a
    dry run), the rows that would update records are compared with them too,
    to say how many would change nothing. ``store`` is given every problem
    found, batch by batch."""
    options.check()
    report = Report(store=store)
    seen = scratch or Scratch()
    by_id = options.match_by == "id"
    try:
        with open_rows(path, options) as (header, rows):
            validator = row_validator(session, actor, kind, header, options)
            required = required_fields(session, kind)
            blanks = seen.clearing = (clearing(session, actor, kind, validator)
                                      if options.blank_cells == "clear" else None)
            seen.columns = {
                **{field: column_of(validator, field) for field in ("emails", RECORD_ID)},
                **{c.field: c.header for c in validator.columns
                   if c.field.startswith("custom.")}}
            for batch in numbered_batches(rows, options.batch_size):
                converted = [(n, *validator.convert(row)) for n, row in batch]
                if blanks is not None:
                    mark_blanks(validator, batch, converted)
                emails = [v["emails"][0] for _, v, _ in converted if v.get("emails")]
                existing = email_holders(session, actor, kind, options, emails)
                named = named_records(session, actor, kind, [
                    v[RECORD_ID] for _, v, _ in converted if RECORD_ID in v])
                moving = moving_emails((v for _, v, problems in converted if not problems),
                                       named)
                # A record may be named twice: by id and by email, or by two of
                # its addresses (see below).
                records = [*(f"#{i}" for i in {*named, *(
                    h.record_id for h in existing.values()
                    if h.editable and (by_id or not h.key or seen.records_claimed))}),
                           *(h.record_key for h in existing.values() if h.record_key)]
                earlier = seen.first_rows([*emails, *records])
                fresh: list[tuple[str, int]] = []
                good: list[dict[str, Any]] = []
                updates: list[tuple[int, dict[str, Any]]] = []
                by_email: dict[int, Sequence[str]] = {}
                actions = dict.fromkeys(("create", "update", "skip"), 0)
                for number, values, problems in converted:
                    for column, message in problems:
                        report.add_error(number, column, message)
                    email = values["emails"][0] if values.get("emails") else None
                    if email and email in earlier:
                        report.add_error(number, column_of(validator, "emails"),
                                         f"The email {email} repeats row {earlier[email]}.")
                        continue
                    if problems:
                        continue
                    action, record_id, message, about = classify(kind, options, values,
                                                                  existing, named, moving)
                    if action == "error":
                        report.add_error(number, column_of(validator, about), message)
                        continue
                    if action == "create" and required and (missing := missing_required(
                            kind, values, required, options.defaults, seen.columns)):
                        for column, message in missing:
                            report.add_error(number, column, message)
                        continue
                    if action == "update" and blanks is not None and (
                            refusals := blanks.problems(values, named.get(record_id))):  # type: ignore[arg-type]
                        for column, message in refusals:
                            report.add_error(number, column, message)
                        continue
                    if action == "update":
                        # An earlier row updating this record claimed "#id" if it
                        # matched by id or found the record by another address
                        # (``alias``: then look for the key email too, which a
                        # row finding the record by it claimed as its own). Until
                        # a row claims "#id", an update by key email looks no further.
                        holder = None if by_id else existing.get(email)
                        alias = holder.record_key if holder is not None else None
                        if by_id or alias or seen.records_claimed:
                            key = f"#{record_id}"
                            # Rows count from 2: one found is true.
                            if first := earlier.get(key) or (alias and earlier.get(alias)):
                                about = RECORD_ID if RECORD_ID in values else "emails"
                                report.add_error(number, column_of(validator, about), (
                                    f"Row {first} updates this {kind.record_type} "
                                    f"(#{record_id}) already."))
                                continue
                            if by_id or alias:
                                earlier[key] = number
                                fresh.append((key, number))
                                seen.records_claimed = True
                    # Only a good row claims its email: a row after a bad one
                    # with the same address is imported when bad rows are left out.
                    if email:
                        earlier[email] = number
                        fresh.append((email, number))
                    actions[action] += 1
                    if action == "update" and scratch is None:
                        updates.append((record_id, update_values(blanks, values)))  # type: ignore[arg-type]
                        if RECORD_ID not in values:
                            by_email[record_id] = joined_lists(blanks, values)  # type: ignore[index]
                    values[ROW] = number
                    good.append(values)
                report.total_rows += len(converted)
                report.to_create += actions["create"]
                report.to_update += actions["update"]
                report.to_leave += rec.count_unchanged(session, kind, updates, rekey=by_id,
                                                      joining=by_email)
                report.to_skip += actions["skip"]
                seen.add(fresh)
                report.flush()
                if scratch:
                    scratch.keep(batch[-1][0], report.total_rows, good)
                if progress:
                    progress(report.total_rows)
    finally:
        if scratch is None:
            seen.close()
    return report


def column_of(validator: RowValidator, field: str) -> str:
    """The header of the (first) column filling ``field``, for a problem's column."""
    return next((c.header for c in validator.columns if c.field == field), field)

