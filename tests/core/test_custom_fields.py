"""Admin-defined custom fields: definition, validation, storage and filters."""

from __future__ import annotations

import pytest

from crmcore.errors import Conflict, Forbidden, ValidationFailed
from crmcore.models import CustomField
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


def recreate(tx, admin, name, field_type, **more):
    """Delete the lead field ``name`` and add it again as ``field_type``."""
    with tx() as s:
        old = next(d for d in cf.definitions(s, "lead") if d.name == name)
        cf.delete_field(s, admin, old.id)
    add(tx, admin, name, field_type, **more)


def add(tx, admin, name, field_type, **more):
    with tx() as s:
        return cf.create_field(s, admin, {"record_type": "lead", "name": name, "label": "X",
                                          "field_type": field_type, **more})


@pytest.fixture
def notes(tx, admin):
    """A text field ``notes`` that two leads fill, one with a number's text."""
    with tx() as s:
        cf.create_field(s, admin, {"record_type": "lead", "name": "notes", "label": "Notes",
                                   "field_type": "text"})
        svc.create(s, admin, LEADS, {"full_name": "A", "custom": {"notes": "about 5k"}})
        svc.create(s, admin, LEADS, {"full_name": "B", "custom": {"notes": "5000"}})


def lead_values(tx, admin, name):
    with tx() as s:
        return sorted(str(r.custom.get(name)) for r in svc.list_records(s, admin, LEADS).items)


def test_a_field_added_again_must_fit_the_values_records_hold(tx, admin, notes):
    with pytest.raises(Conflict) as err:
        recreate(tx, admin, "notes", "number")
    assert err.value.errors == {"field_type": [
        "2 leads hold a value of an earlier “notes” field that is not a number "
        "(e.g. “5000”): re-create it as text, or pick another name."]}
    # nothing changed: no field, the values as they were
    with tx() as s:
        assert "notes" not in [d.name for d in cf.definitions(s, "lead")]
    assert lead_values(tx, admin, "notes") == ["5000", "about 5k"]

    # A number's text is still text: a number field would send it back as
    # text, and its filters compare numbers.
    add(tx, admin, "notes", "text")
    with tx() as s:
        lead = svc.list_records(s, admin, LEADS, {"custom.notes": "about 5k"}).items[0]
        svc.update(s, admin, LEADS, lead, {"custom": {"notes": "12.5"}})
    with pytest.raises(Conflict) as err:
        recreate(tx, admin, "notes", "number")
    assert "(e.g. “12.5”)" in err.value.errors["field_type"][0]


def test_values_in_the_recycle_bin_count_too(tx, admin, notes):
    with tx() as s:
        lead = svc.list_records(s, admin, LEADS, {"custom.notes": "about 5k"}).items[0]
        svc.soft_delete(s, admin, LEADS, [lead.id])
    with pytest.raises(Conflict) as err:
        recreate(tx, admin, "notes", "number")
    assert err.value.errors["field_type"][0].startswith(
        "2 leads (1 of them in the recycle bin) hold a value of an earlier “notes” field")


@pytest.mark.parametrize(("name", "stored", "refused_as", "refusal", "accepted_as"), [
    ("vip", True, "number", "is not a number (e.g. “true”): re-create it as boolean",
     "boolean"),
    ("vip", False, "text", "is not text of at most 1000 characters (e.g. “false”): "
                           "re-create it as boolean", "boolean"),
    ("budget", 1200.5, "text", "(e.g. “1200.5”): re-create it as number", "number"),
    ("budget", 1200.5, "boolean", "is not yes or no (e.g. “1200.5”): re-create it as number",
     "number"),
    # QA: 1 and 0 passed for true and false, and an unchanged form saved false.
    ("budget", 1.0, "boolean", "is not yes or no (e.g. “1.0”): re-create it as number",
     "number"),
    ("renewal", "2027-01-31", "number", "(e.g. “2027-01-31”): re-create it as text", "date"),
    ("plan", "pro", "choice", "is not one of its choices (e.g. “pro”): re-create it as text",
     "text"),
])
def test_stored_values_are_read_with_their_json_type(tx, admin, name, stored, refused_as,
                                                     refusal, accepted_as):
    """Numbers, booleans and text stay apart, as the API sends them back."""
    with tx() as s:
        svc.create(s, admin, LEADS, {"full_name": "A", "custom": {name: stored}})
    with pytest.raises(Conflict) as err:
        recreate(tx, admin, name, refused_as,
                 choices=["free"] if refused_as == "choice" else [])
    assert refusal in err.value.errors["field_type"][0]
    add(tx, admin, name, accepted_as)


def test_choices_that_records_hold_stay(tx, admin):
    with tx() as s:
        plan = next(d for d in cf.definitions(s, "lead") if d.name == "plan")
        cf.update_field(s, admin, plan.id, {"choices": ["basic", "pro", "team", "gold"]})
        svc.create(s, admin, LEADS, {"full_name": "A", "custom": {"plan": "pro"}})
        svc.create(s, admin, LEADS, {"full_name": "B", "custom": {"plan": "pro"}})
        gold = svc.create(s, admin, LEADS, {"full_name": "C", "custom": {"plan": "gold"}})
        svc.soft_delete(s, admin, LEADS, [gold.id])
    with pytest.raises(Conflict) as err, tx() as s:
        cf.update_field(s, admin, plan.id, {"label": "Tier", "choices": ["basic"]})
    assert err.value.errors["choices"] == [
        "Still held: “pro” by 2 leads, “gold” by 1 lead (in the recycle bin). Keep them among "
        "the choices, or change those leads first."]
    with pytest.raises(Conflict) as err, tx() as s:
        cf.update_field(s, admin, plan.id, {"choices": ["basic", "gold", "team"]})
    assert err.value.errors["choices"] == [
        "Still held: “pro” by 2 leads. Keep it among the choices, or change those leads first."]
    with tx() as s:
        field = s.get(CustomField, plan.id)
        assert (field.label, field.choices) == ("Plan", ["basic", "pro", "team", "gold"])
        # a choice no record holds may go
        cf.update_field(s, admin, plan.id, {"choices": ["pro", "gold"]})
    with tx() as s:
        assert s.get(CustomField, plan.id).choices == ["pro", "gold"]
