"""Rules that hold when writers race (PostgreSQL: real concurrency): one lead per
key email, and an install never left without an active admin."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.db import transaction
from crmcore.errors import Conflict, Forbidden, ValidationFailed
from crmcore.models import EmailKey, Lead, User
from crmcore.services import records as svc
from crmcore.services import users

pytestmark = [pytest.mark.plugins(), pytest.mark.postgres_only]


def at_once(target: Callable[..., None], *calls: tuple[Any, ...]) -> None:
    """``target`` run with each of ``calls``' arguments, in threads started together."""
    threads = [threading.Thread(target=target, args=args) for args in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def test_simultaneous_creates_of_one_address_make_exactly_one_lead(app, make_user):
    admin = make_user("admin")
    writers = 12
    barrier = threading.Barrier(writers)
    outcomes: list[str] = []
    sessions = app.extensions["crm"].sessions

    def create(i: int) -> None:
        barrier.wait()
        try:
            with transaction(sessions) as s:
                if i % 2:
                    svc.create(s, s.merge(admin), svc.LEADS, {
                        "full_name": f"Racer {i}",
                        "emails": [f"  Same.Person@Example.com{' ' * (i % 3)}"]})
                else:
                    svc.create(s, s.merge(admin), svc.CONTACTS, {
                        "last_name": f"Racer {i}", "emails": ["same.person@example.COM"]})
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            outcomes.append(f"error: {exc!r}")

    at_once(create, *((i,) for i in range(writers)))
    assert sorted(outcomes) == ["conflict"] * (writers - 1) + ["created"], outcomes
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(EmailKey)) == 1
        assert s.scalar(select(func.count()).select_from(Lead)) <= 1


@pytest.mark.parametrize("change", [{"role": "sales"}, {"is_active": False}])
def test_two_last_admins_taking_each_others_role_at_once_leave_one(app, make_user, change):
    first, second = make_user("admin"), make_user("admin")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    sessions = app.extensions["crm"].sessions

    def demote(actor_id: int, user_id: int) -> None:
        barrier.wait()
        try:
            with transaction(sessions) as s:
                users.update_user(s, s.get(User, actor_id), s.get(User, user_id), change)
            outcomes.append("changed")
        except (ValidationFailed, Forbidden):
            # Refused as the last admin, or, had the other finished first, as
            # no longer an admin.
            outcomes.append("refused")
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            outcomes.append(f"error: {exc!r}")

    at_once(demote, (first.id, second.id), (second.id, first.id))
    assert sorted(outcomes) == ["changed", "refused"], outcomes
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(User).where(
            User.role == "admin", User.is_active)) == 1


@pytest.mark.parametrize("addresses", [False, True])
def test_two_records_merged_into_each_other_at_once_leave_one(app, make_user, addresses):
    """Each merge locks both records in id order: the second waits, then finds
    its other record binned (404). Both used to be binned, or, with addresses,
    the two deadlocked on their email keys."""
    from crmcore.errors import NotFound
    from crmcore.services.merge import merge

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as s:
        ids = [svc.create(s, s.merge(admin), svc.LEADS, {
            "full_name": "Twin", "emails": [f"twin{i}@example.com"] if addresses else []}).id
            for i in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def merge_into(survivor: int, other: int) -> None:
        barrier.wait()
        try:
            with transaction(sessions) as s:
                merge(s, s.merge(admin), svc.LEADS, survivor, [other])
            outcomes.append("merged")
        except NotFound:
            outcomes.append("not found")
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            outcomes.append(f"error: {exc!r}")

    at_once(merge_into, tuple(ids), tuple(ids[::-1]))
    assert sorted(outcomes) == ["merged", "not found"], outcomes
    with sessions() as s:
        live = s.scalars(select(Lead).where(Lead.deleted_at.is_(None))).all()
        assert len(live) == 1
        assert sorted(live[0].emails) == ([f"twin{i}@example.com" for i in range(2)]
                                          if addresses else [])


def reverted_with_an_edit_midway(app: Any, admin: Any, job_id: int, lead_id: int,
                                 monkeypatch: Any, target: Any, name: str, *,
                                 after: bool) -> str:
    """Revert import ``job_id`` while a colleague saves company "Edited" on
    ``lead_id``: the edit runs in a thread, given two seconds, when the
    revert first calls ``target.name`` with records (before the call, or
    ``after`` it), then the revert goes on. Returns how the edit ended:
    ``saved``, or ``refused`` (it found the record changed or gone)."""
    from sqlalchemy.orm.exc import StaleDataError

    from crmcore.services import imports

    sessions = app.extensions["crm"].sessions
    outcome: dict[str, Any] = {}

    def edit() -> None:
        try:
            with transaction(sessions) as s:
                lead = svc.get(s, s.merge(admin), svc.LEADS, lead_id)
                svc.update(s, s.merge(admin), svc.LEADS, lead, {"company": "Edited"},
                           expected_version=lead.version)
            outcome["edit"] = "saved"
        except (StaleDataError, Conflict):
            outcome["edit"] = "refused"
        except Exception as exc:  # pragma: no cover - the caller's assertion shows it
            outcome["edit"] = f"error: {exc!r}"

    real = getattr(target, name)

    def midway(*args: Any) -> Any:
        result = real(*args) if after else None
        if "thread" not in outcome and (result if after else args[-1]):
            # The edit runs in full here unless the revert holds the row.
            outcome["thread"] = thread = threading.Thread(target=edit)
            thread.start()
            thread.join(2)
        return result if after else real(*args)

    monkeypatch.setattr(target, name, midway)
    with transaction(sessions) as s:
        imports.queue_revert(s, s.merge(admin), job_id)
    imports.run_revert(sessions, job_id)
    outcome["thread"].join(30)
    return outcome["edit"]


@pytest.fixture
def finished_import(app, make_user, tmp_path):
    """``(admin, job id, lead ids)``: an import of five leads, done."""
    from crmcore.services import imports

    admin = make_user("admin")
    path = tmp_path / "five.csv"
    path.write_text("name,email\n" + "".join(f"P{i},p{i}@x.org\n" for i in range(5)))
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as s:
        job = imports.start(s, s.merge(admin), svc.LEADS, path, path.name,
                            imports.ImportOptions())
    imports.run(sessions, job.id)
    with sessions() as s:
        ids = s.scalars(select(Lead.id).where(Lead.import_id == job.id).order_by(Lead.id)).all()
    return admin, job.id, ids


def test_a_lead_edited_while_its_import_is_reverted_keeps_its_edit_or_refuses_it(
        app, finished_import, monkeypatch):
    """The revert locks the rows it deletes: an edit already saved keeps its
    record, an edit that comes after waits and finds the record gone. QA saw
    52 of 89 leads whose edits were answered 200 deleted by the revert."""
    admin, job_id, ids = finished_import
    edit = reverted_with_an_edit_midway(app, admin, job_id, ids[0], monkeypatch, svc, "remove",
                                        after=False)
    with app.extensions["crm"].sessions() as s:
        kept = s.get(Lead, ids[0])
    assert (edit, kept is not None) in {("refused", False), ("saved", True)}


def test_a_resume_and_a_revert_asked_at_once_leave_one_asked(app, finished_import,
                                                              monkeypatch):
    """Each locks the job before it looks at its status; QA saw a revert
    answered 202 and dropped, the job resumed instead (1 of 4 tries)."""
    from crmcore.models import ImportJob
    from crmcore.services import imports

    admin, job_id, _ = finished_import
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as s:
        s.get(ImportJob, job_id).status = "failed"  # stopped half-way: both may be asked
    real_resumable, real_revertible = imports.resumable, imports.revertible

    def slowly(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
        def checked(job: Any) -> bool:
            answer = check(job)
            threading.Event().wait(0.3)  # the other request reads the job meanwhile
            return answer
        return checked

    monkeypatch.setattr(imports, "resumable", slowly(real_resumable))
    monkeypatch.setattr(imports, "revertible", slowly(real_revertible))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def ask(queue: Callable[..., Any]) -> None:
        barrier.wait()
        try:
            with transaction(sessions) as s:
                queue(s, s.merge(admin), job_id)
            outcomes.append(queue.__name__)
        except Conflict:
            outcomes.append("refused")

    at_once(ask, (imports.queue_resume,), (imports.queue_revert,))
    assert sorted(outcomes) in (["queue_resume", "refused"], ["queue_revert", "refused"]), \
        outcomes


def test_two_imports_of_the_same_people_at_once_both_finish(app, make_user, tmp_path):
    """Their batches take turns (an advisory lock): QA saw the second fail
    with a UniqueViolation or a deadlock on email_keys in 4 runs of 4."""
    from crmcore.services import imports

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    barrier = threading.Barrier(2)
    outcomes: list[tuple[str, int, int]] = []

    def run(name: str, order: int) -> None:
        people = sorted(range(600), key=lambda i: (i * order) % 601)
        path = tmp_path / f"{name}.csv"
        path.write_text("name,email\n" + "".join(f"{name} {i},p{i}@x.org\n" for i in people))
        with transaction(sessions) as s:
            job_id = imports.start(s, s.merge(admin), svc.LEADS, path, path.name,
                                   imports.ImportOptions(on_duplicate="skip",
                                                         batch_size=50)).id
        barrier.wait()
        try:
            job = imports.run(sessions, job_id)
            outcomes.append((job.status, job.created_count, job.skipped_count))
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            outcomes.append((f"error: {exc!r}", 0, 0))

    at_once(run, ("First", 1), ("Second", 7))
    assert [o[0] for o in outcomes] == ["done", "done"], outcomes
    assert sum(o[1] for o in outcomes) == 600 and sum(o[2] for o in outcomes) == 600
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 600


def test_a_batch_that_meets_a_record_saved_meanwhile_is_written_again(
        app, make_user, tmp_path, monkeypatch):
    """A user's lead saved between a batch's look-up and its write: the batch
    is written again and skips it, as asked (the driver's UniqueViolation
    failed the job before)."""
    from crmcore.services import imports
    from crmcore.services.imports import writing as import_write

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    path = tmp_path / "ten.csv"
    path.write_text("name,email\n" + "".join(f"P{i},p{i}@x.org\n" for i in range(10)))
    with transaction(sessions) as s:
        job_id = imports.start(s, s.merge(admin), svc.LEADS, path, path.name,
                               imports.ImportOptions(on_duplicate="skip")).id
    real_insert = import_write._insert

    def insert_after_a_user(*args: Any) -> list[int]:
        monkeypatch.setattr(import_write, "_insert", real_insert)

        def create() -> None:
            with transaction(sessions) as s:
                svc.create(s, s.merge(admin), svc.LEADS, {"full_name": "Quicker",
                                                           "emails": ["p3@x.org"]})

        user = threading.Thread(target=create)
        user.start()
        user.join(30)
        return real_insert(*args)

    monkeypatch.setattr(import_write, "_insert", insert_after_a_user)
    done = imports.run(sessions, job_id)
    assert (done.status, done.created_count, done.skipped_count) == ("done", 9, 1), done.message


def test_an_update_revert_leaves_an_edit_saved_while_it_runs(app, make_user, tmp_path,
                                                             monkeypatch):
    """The revert locks the records it compares with what the import wrote:
    QA saw 6 of 2,372 edits answered 200 overwritten by a revert."""
    from crmcore.services import imports
    from crmcore.services.imports import reverting

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as s:
        lead_id = svc.create(s, s.merge(admin), svc.LEADS, {
            "full_name": "Ann", "emails": ["ann@x.org"], "company": "Before"}).id
    path = tmp_path / "update.csv"
    path.write_text("name,email,company\nAnn,ann@x.org,Imported\n")
    with transaction(sessions) as s:
        job_id = imports.start(s, s.merge(admin), svc.LEADS, path, path.name,
                               imports.ImportOptions(on_duplicate="update")).id
    imports.run(sessions, job_id)
    edit = reverted_with_an_edit_midway(app, admin, job_id, lead_id, monkeypatch, reverting,
                                        "_editable_values", after=True)
    with sessions() as s:
        company = s.get(Lead, lead_id).company
    assert (edit, company) in {("saved", "Edited"), ("refused", "Before")}


def test_an_export_reads_one_snapshot_while_its_records_change(app, make_user, api_client):
    """QA: an export sorted by updated_at, read while an import updated the
    leads, held 27,976 of them twice (those updated after their page was read
    came again at the end)."""
    import csv
    import io

    from sqlalchemy import update

    from crmcore.db import utcnow

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as s:
        for i in range(450):
            svc.create(s, s.merge(admin), svc.LEADS, {"full_name": f"P{i}"})
    response = api_client(admin).get("/api/v1/leads/export.csv?sort=updated_at",
                                     buffered=False)
    chunks = response.iter_encoded()
    first = next(chunks) + next(chunks)  # the header, then the first page of 200
    with transaction(sessions) as s:  # every lead updated: all sort after the others
        s.execute(update(Lead).values(updated_at=utcnow()))
    text = (first + b"".join(chunks)).decode()
    response.close()
    ids = [row["id"] for row in csv.DictReader(io.StringIO(text))]
    assert len(ids) == len(set(ids)) == 450


def test_a_row_whose_record_is_deleted_while_its_batch_is_written_is_a_problem(
        app, make_user, tmp_path, monkeypatch):
    """QA: an update import counted rows whose records a revert deleted
    meanwhile as updated (60,000 updated, 18,000 records left). The batch
    locks its records before it writes them; one gone is its row's problem."""
    from crmcore.services import imports
    from crmcore.services.imports import writing as import_write

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as s:
        gone = svc.create(s, s.merge(admin), svc.LEADS, {"full_name": "Bo",
                                                          "emails": ["bo@x.org"]}).id
        svc.create(s, s.merge(admin), svc.LEADS, {"full_name": "Ann", "emails": ["ann@x.org"]})
    path = tmp_path / "late.csv"
    path.write_text("name,email,company\nAnn,ann@x.org,New\nBo,bo@x.org,New\n")
    with transaction(sessions) as s:
        job_id = imports.start(s, s.merge(admin), svc.LEADS, path, path.name,
                               imports.ImportOptions(on_duplicate="update")).id
    found = import_write.email_holders

    def deleted_once_found(*args: Any) -> Any:  # the write's lookup, not the check's
        holders = found(*args)
        if "bo@x.org" in holders:
            monkeypatch.setattr(import_write, "email_holders", found)
            with transaction(sessions) as s:  # a revert, the bin emptied
                svc.remove(s, None, svc.LEADS, [gone])
        return holders

    monkeypatch.setattr(import_write, "email_holders", deleted_once_found)
    job = imports.run(sessions, job_id)
    assert (job.updated_count, job.created_count, job.error_count) == (1, 0, 1), job.message
    assert job.errors == [[3, "email", f"The lead #{gone} was deleted since this file was "
                                       "checked."]]
