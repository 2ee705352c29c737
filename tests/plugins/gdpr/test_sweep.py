"""The retention sweep: exactly the records past their type's policy, a dry run
that changes nothing, no policy, twice, and two sweeps at once."""

from __future__ import annotations

import threading

import pytest
from crmcore_plugins.gdpr.models import GdprAudit
from crmcore_plugins.gdpr.services.settings import save_settings
from crmcore_plugins.gdpr.services.sweep import _sweep_one, sweep
from crmcore_plugins.gdpr.services.touch import touch
from sqlalchemy import func, select

from crmcore.models import Contact, Lead
from crmcore.services import records as svc
from tests.plugins.gdpr.cli import runner
from tests.plugins.gdpr.conftest import age, make_contact, make_person

pytestmark = pytest.mark.plugins("gdpr")


def policy(tx, admin, **months):
    with tx() as s:
        save_settings(s, admin, {f"retention_{t}": m for t, m in months.items()})


def anonymized(tx):
    with tx() as s:
        leads = set(s.scalars(select(Lead.id).where(Lead.anonymized_at.is_not(None))))
        contacts = set(s.scalars(select(Contact.id).where(Contact.anonymized_at.is_not(None))))
    return leads, contacts


@pytest.fixture
def people(tx, admin):
    """Leads aged 400, 200 and 10 days (the oldest in the recycle bin), and
    contacts aged 800 and 100 days."""
    leads = [make_person(tx, admin, name=f"Lead {n}", email=f"l{n}@example.com",
                         phone=f"+1202555010{n}", with_alpha=False) for n in range(3)]
    contacts = [make_contact(tx, admin, "Con", f"Tact{n}", f"c{n}@example.com")
                for n in range(2)]
    for lead_id, days in zip(leads, (400, 200, 10), strict=True):
        age(tx, "lead", lead_id, days)
    for contact_id, days in zip(contacts, (800, 100), strict=True):
        age(tx, "contact", contact_id, days)
    with tx() as s:
        svc.soft_delete(s, admin, svc.LEADS, [leads[0]])
    age(tx, "lead", leads[0], 400)
    return leads, contacts


def test_no_policy_is_a_message_and_changes_nothing(app, tx, people):
    result = runner(app)("gdpr", "sweep")
    assert result.exit_code == 0
    assert "No retention policy is set" in result.output
    assert anonymized(tx) == (set(), set())
    with tx() as s:
        assert s.scalar(select(func.count()).select_from(GdprAudit)) == 0


def test_dry_run_lists_and_changes_nothing(app, tx, admin, people):
    leads, contacts = people
    policy(tx, admin, lead=6, contact=24)
    result = runner(app)("gdpr", "sweep", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"lead #{leads[0]} (last touched" in result.output
    assert f"lead #{leads[1]} (last touched" in result.output
    assert f"contact #{contacts[0]} (last touched" in result.output
    assert f"lead #{leads[2]} " not in result.output
    assert "Lead 0" not in result.output  # ids and dates, never names
    assert "Dry run: nothing was changed." in result.output
    assert anonymized(tx) == (set(), set())


def test_sweep_anonymizes_exactly_the_records_past_the_policy_once(app, tx, admin, people):
    leads, contacts = people
    policy(tx, admin, lead=6, contact=24)
    crm = runner(app)
    result = crm("gdpr", "sweep")
    assert result.exit_code == 0, result.output
    assert "lead: policy 6 months" in result.output
    assert "2 due, 2 anonymized, 0 skipped, 0 failed" in result.output
    assert "1 due, 1 anonymized, 0 skipped, 0 failed" in result.output
    assert anonymized(tx) == ({leads[0], leads[1]}, {contacts[0]})
    with tx() as s:
        assert s.get(Lead, leads[0]).full_name == f"Anonymized lead #{leads[0]}"
        assert s.get(Lead, leads[2]).full_name == "Lead 2"
        rows = list(s.scalars(select(GdprAudit).order_by(GdprAudit.id)))
    assert sorted((r.record_type, r.record_id) for r in rows if r.action == "anonymize") == [
        ("contact", contacts[0]), ("lead", leads[0]), ("lead", leads[1])]
    assert [(r.record_type, r.count, r.via) for r in rows if r.action == "sweep"] == [
        ("lead", 2, "sweep"), ("contact", 1, "sweep")]

    again = crm("gdpr", "sweep")
    assert again.exit_code == 0
    assert "0 due, 0 anonymized" in again.output
    assert anonymized(tx) == ({leads[0], leads[1]}, {contacts[0]})


def test_a_policy_for_one_type_leaves_the_other_alone(tx, admin, app, people):
    leads, _ = people
    policy(tx, admin, lead=12)
    report = sweep(app.extensions["crm"].sessions)
    assert [p.record_type for p in report.parts] == ["lead"]
    assert anonymized(tx) == ({leads[0]}, set())


def test_a_record_touched_after_listing_is_skipped(tx, admin, app, people):
    leads, _ = people
    policy(tx, admin, lead=6)
    sessions = app.extensions["crm"].sessions
    listed = sweep(sessions, dry_run=True)
    with tx() as s:
        touch(s, admin, [("lead", leads[1])])
    cutoff = listed.parts[0].cutoff
    assert _sweep_one(sessions, "lead", leads[1], cutoff) is False
    assert _sweep_one(sessions, "lead", leads[0], cutoff) is True


def test_two_sweeps_at_once_anonymize_each_record_once(tx, admin, app):
    ids = [make_person(tx, admin, name=f"Old {n}", email=f"o{n}@example.com",
                       phone=f"+1202555020{n}", with_alpha=False) for n in range(6)]
    for lead_id in ids:
        age(tx, "lead", lead_id, 100)
    policy(tx, admin, lead=1)
    sessions = app.extensions["crm"].sessions
    start = threading.Barrier(2)
    reports = []

    def run():
        start.wait()
        reports.append(sweep(sessions))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.parts[0].anonymized for r in reports) == 6
    assert sum(r.failed for r in reports) == 0
    with tx() as s:
        counts = s.execute(select(GdprAudit.record_id, func.count())
                           .where(GdprAudit.action == "anonymize")
                           .group_by(GdprAudit.record_id)).all()
    assert sorted(counts) == [(i, 1) for i in ids]


@pytest.mark.plugins("gdpr", "alpha")
def test_a_failing_plugin_fails_only_its_records_and_is_named(app, tx, admin):
    lead_id = make_person(tx, admin)
    age(tx, "lead", lead_id, 100)
    policy(tx, admin, lead=1)
    app.config["ALPHA_ERASE_FAILS"] = True
    with app.app_context():
        report = sweep(app.extensions["crm"].sessions)
    assert report.failed == 1 and "'alpha'" in report.parts[0].failed[0]
    assert anonymized(tx) == (set(), set())
