"""The privacy contract: the core and a plugin declare, export and erase one
person's data through crm_personal_data, crm_person_export and crm_person_erase."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crmcore.errors import ErasureFailed, NotFound, ValidationFailed
from crmcore.models import EmailKey, ImportChange, Lead, TimelineEntry
from crmcore.services import privacy
from crmcore.services import records as svc
from crmcore.services.records import CONTACTS, LEADS
from tests.fake_plugins import _descriptors
from tests.fake_plugins.alpha import hooks as alpha

pytestmark = pytest.mark.plugins("alpha")


@pytest.fixture
def crm_extra_plugins():
    return {"alpha": _descriptors()["alpha"]}


@pytest.fixture
def admin(make_user):
    return make_user("admin")


def _person_with_history(tx, admin):
    with tx() as s:
        lead = svc.create(s, admin, LEADS, {
            "full_name": "Ada Lovelace", "emails": ["Ada@Example.com"],
            "phones": ["+12025550100"], "company": "Analytical Engines", "login": "ada42"})
        svc.update(s, admin, LEADS, lead, {"company": "Difference Engines"})
        svc.comment(s, admin, LEADS, lead, "Called Ada Lovelace on +12025550100")
        s.add(alpha.AlphaItem(label="Ada's secret", lead_id=lead.id))
        return lead.id


def test_hook_crm_personal_data_lists_core_and_plugin_fields(tx):
    with tx() as s:
        keys = [f.key for f in privacy.personal_fields(s)]
        assert keys[:2] == ["lead.full_name", "lead.emails"]
        assert {"contact.name", "contact.address", "alpha_item.label"} <= set(keys)
        assert privacy.mandatory_keys(s) == {"lead.full_name", "contact.name"}


def test_hook_crm_person_export_gathers_every_owner(tx, admin):
    lead_id = _person_with_history(tx, admin)
    with tx() as s:
        _, person = privacy.find_person(s, admin, "lead", lead_id)
        assert person.emails == ("ada@example.com",) and person.names == ("Ada Lovelace",)
        parts = {p.section: p for p in privacy.export(s, person)}
    core = parts["lead"].data
    assert core["record"]["full_name"] == "Ada Lovelace"
    assert [e["kind"] for e in core["timeline"]] == ["created", "changed", "comment"]
    assert parts["alpha"].data == ["Ada's secret"]
    assert list(parts["alpha"].files.values()) == [b"Ada's secret"]


def test_hook_crm_person_erase_erases_core_and_plugin_data(tx, admin):
    lead_id = _person_with_history(tx, admin)
    with tx() as s:
        _, person = privacy.find_person(s, admin, "lead", lead_id)
        erased = privacy.erase(s, admin, person, ["lead.emails", "lead.phones",
                                                  "lead.company", "alpha_item.label"])
        assert "lead.full_name" in erased
    with tx() as s:
        lead = s.get(Lead, lead_id)
        assert lead.full_name == f"Anonymized lead #{lead_id}" and lead.anonymized_at
        assert (lead.emails, lead.phones, lead.company, lead.email_key) == ([], [], "", None)
        assert lead.login == "ada42"  # not chosen, kept
        assert s.scalar(select(EmailKey).where(EmailKey.email == "ada@example.com")) is None
        entries = list(s.scalars(select(TimelineEntry).where(TimelineEntry.record_id == lead_id)))
        texts = " ".join(f"{e.body} {e.changes}" for e in entries)
        for secret in ("Ada", "Lovelace", "2025550100", "Analytical", "Difference"):
            assert secret not in texts
        assert entries[-1].kind == "anonymized"
        assert s.scalar(select(alpha.AlphaItem.label)) == "erased"
        # The address no longer blocks a new lead.
        svc.create(s, admin, LEADS, {"full_name": "New", "emails": ["ada@example.com"]})


def test_erasing_twice_is_harmless(tx, admin):
    lead_id = _person_with_history(tx, admin)
    for _ in range(2):
        with tx() as s:
            _, person = privacy.find_person(s, admin, "lead", lead_id)
            privacy.erase(s, admin, person, ["lead.emails"])
    with tx() as s:
        assert s.get(Lead, lead_id).full_name == f"Anonymized lead #{lead_id}"


def test_a_failing_plugin_rolls_everything_back_and_is_named(app, tx, admin):
    lead_id = _person_with_history(tx, admin)
    app.config["ALPHA_ERASE_FAILS"] = True
    with app.app_context(), pytest.raises(ErasureFailed, match="'alpha'"), tx() as s:
        _, person = privacy.find_person(s, admin, "lead", lead_id)
        privacy.erase(s, admin, person, ["lead.emails"])
    with tx() as s:
        lead = s.get(Lead, lead_id)
        assert (lead.full_name, lead.anonymized_at) == ("Ada Lovelace", None)
        assert s.scalar(select(EmailKey.record_id).where(EmailKey.email == "ada@example.com"))


def test_unknown_fields_and_records_are_refused(tx, admin, make_user):
    lead_id = _person_with_history(tx, admin)
    sales = make_user("sales")
    with tx() as s:
        _, person = privacy.find_person(s, admin, "lead", lead_id)
        with pytest.raises(ValidationFailed):
            privacy.erase(s, admin, person, ["lead.shoe_size"])
        with pytest.raises(NotFound):
            privacy.find_person(s, sales, "lead", lead_id)
        with pytest.raises(ValidationFailed):
            privacy.find_person(s, admin, "invoice", lead_id)


def test_binned_contact_is_found_and_erased_with_its_address(tx, admin):
    with tx() as s:
        contact = svc.create(s, admin, CONTACTS, {
            "first_name": "Grace", "last_name": "Hopper", "emails": ["grace@example.com"],
            "street": "1 Navy Way", "city": "Arlington"})
        svc.soft_delete(s, admin, CONTACTS, [contact.id])
    with tx() as s:
        record, person = privacy.find_person(s, admin, "contact", contact.id)
        assert person.names[-1] == "Grace Hopper"
        privacy.erase(s, admin, person, ["contact.address"])
        assert (record.first_name, record.street, record.city) == ("", "", "")
        assert record.last_name == f"Anonymized contact #{contact.id}"


def test_import_revert_data_loses_the_erased_values(tx, admin, app, tmp_path):
    from crmcore.services import imports

    with tx() as s:
        lead = svc.create(s, admin, LEADS, {"full_name": "Old Name", "emails": ["x@example.com"]})
    path = tmp_path / "update.csv"
    path.write_text("full_name,emails\nNew Name,x@example.com\n")
    sessions = app.extensions["crm"].sessions
    with tx() as s:
        job = imports.start(s, admin, LEADS, path, "update.csv",
                            imports.ImportOptions(on_duplicate="update"))
    imports.run(sessions, job.id)
    with tx() as s:
        assert s.scalar(select(ImportChange.before))["full_name"] == "Old Name"
        _, person = privacy.find_person(s, admin, "lead", lead.id)
        privacy.erase(s, admin, person, [])
    with tx() as s:
        assert "full_name" not in s.scalar(select(ImportChange.before))
