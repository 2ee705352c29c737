"""Admin-defined custom fields: definition, validation, storage and filters."""

from __future__ import annotations

import pytest

from crmcore.errors import Conflict, Forbidden, ValidationFailed
from crmcore.services import custom_fields as cf
from crmcore.services import records as svc
from crmcore.services.records import CONTACTS, LEADS

pytestmark = pytest.mark.plugins()


@pytest.fixture
def admin(make_user, tx):
    user = make_user("admin")
    with tx() as s:
        for data in (
            {"record_type": "lead", "name": "budget", "label": "Budget", "field_type": "number"},
            {"record_type": "lead", "name": "plan", "label": "Plan", "field_type": "choice",
             "choices": ["basic", "pro"]},
            {"record_type": "lead", "name": "renewal", "label": "Renewal", "field_type": "date"},
            {"record_type": "lead", "name": "vip", "label": "VIP", "field_type": "boolean"},
            {"record_type": "contact", "name": "nickname", "label": "Nickname",
             "field_type": "text", "required": True},
        ):
            cf.create_field(s, user, data)
    return user


def test_values_are_validated_stored_and_filterable(tx, admin):
    with tx() as s:
        svc.create(s, admin, LEADS, {"full_name": "A", "custom": {
            "budget": 1200.5, "plan": "pro", "renewal": "2027-01-31", "vip": True}})
        svc.create(s, admin, LEADS, {"full_name": "B", "custom": {"plan": "basic"}})
    with tx() as s:
        def names(**filters):
            return [r.full_name for r in svc.list_records(s, admin, LEADS, filters).items]

        assert names(**{"custom.plan": "pro"}) == ["A"]
        assert names(**{"custom.budget": "1200.5"}) == ["A"]
        assert names(**{"custom.vip": "true"}) == ["A"]
        assert names(**{"custom.renewal": "2027-01-31"}) == ["A"]
        with pytest.raises(ValidationFailed):
            names(**{"custom.nope": "x"})
        lead = svc.list_records(s, admin, LEADS, {"custom.plan": "pro"}).items[0]
        assert lead.custom == {"budget": 1200.5, "plan": "pro", "renewal": "2027-01-31",
                               "vip": True}
        svc.update(s, admin, LEADS, lead, {"custom": {"plan": "basic"}})
        assert lead.custom["plan"] == "basic" and lead.custom["budget"] == 1200.5


def test_bad_values_name_the_custom_field(tx, admin):
    with pytest.raises(ValidationFailed) as err, tx() as s:
        svc.create(s, admin, LEADS, {"full_name": "A", "custom": {
            "budget": "lots", "plan": "gold", "renewal": "soon", "other": 1}})
    assert set(err.value.errors["custom"]) == {"budget", "plan", "renewal", "other"}
    with pytest.raises(ValidationFailed) as err, tx() as s:
        svc.create(s, admin, CONTACTS, {"last_name": "No nickname"})
    assert "custom" in err.value.errors


def test_definitions_need_permission_and_unique_names(tx, admin, make_user):
    manager = make_user("manager")
    with pytest.raises(Forbidden), tx() as s:
        cf.create_field(s, manager, {"record_type": "lead", "name": "x",
                                     "label": "X", "field_type": "text"})
    with pytest.raises(Conflict), tx() as s:
        cf.create_field(s, admin, {"record_type": "lead", "name": "plan", "label": "P",
                                   "field_type": "text"})
    with pytest.raises(ValidationFailed) as err, tx() as s:
        cf.create_field(s, admin, {"record_type": "lead", "name": "Bad Name", "label": "",
                                   "field_type": "colour"})
    assert set(err.value.errors) == {"name", "label", "field_type"}
    with pytest.raises(ValidationFailed), tx() as s:
        cf.create_field(s, admin, {"record_type": "lead", "name": "c", "label": "C",
                                   "field_type": "choice"})


def test_deleting_a_definition_keeps_stored_values(tx, admin):
    with tx() as s:
        lead = svc.create(s, admin, LEADS, {"full_name": "A", "custom": {"plan": "pro"}})
        plan = next(d for d in cf.definitions(s, "lead") if d.name == "plan")
        cf.delete_field(s, admin, plan.id)
    with tx() as s:
        assert svc.get(s, admin, LEADS, lead.id).custom == {"plan": "pro"}
        assert "plan" not in [d.name for d in cf.definitions(s, "lead")]
