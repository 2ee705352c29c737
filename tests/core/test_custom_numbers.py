"""A custom number written as spreadsheets in other languages write it:
1.000 is a thousand in German, one in English; read either way it may be a
thousand times off, so it is refused with both readings, in the API, the
forms and the import alike."""

from __future__ import annotations

from sqlalchemy import select

from crmcore.db import transaction
from crmcore.models import Lead
from crmcore.services import custom_fields


def budget(app, admin) -> None:
    with transaction(app.extensions["crm"].sessions) as s:
        custom_fields.create_field(s, s.merge(admin), {
            "record_type": "lead", "name": "budget", "label": "Budget", "field_type": "number"})


def test_an_import_refuses_a_number_with_a_thousands_point_or_comma(app, tmp_path, make_user,
                                                                    run_import):
    """QA: a German file's 1.000 (a thousand) was stored as 1.0, while its
    1.234,56 was refused."""
    admin = make_user("admin")
    budget(app, admin)
    path = tmp_path / "de.csv"
    path.write_text("Name;Email;custom.budget\nOle;ole@x.dk;1.000\nAnn;ann@x.dk;1.234,56\n"
                    "Bo;bo@x.dk;0.125\nCy;cy@x.dk;12.5\nDi;di@x.dk;2500\n", encoding="utf-8")

    job = run_import(path, admin, skip_bad_rows=True)

    assert job.errors == [
        [2, "custom.budget", "“1.000”: Could be 1000 (with a thousands point) or 1 (with a "
                             "decimal point): write 1000 for the one, 1 for the other."],
        [3, "custom.budget", "“1.234,56”: Not a valid number: write it with a decimal point "
                             "and no thousands separator (1234.5)."]]
    with app.extensions["crm"].sessions() as s:
        stored = s.execute(select(Lead.full_name, Lead.custom))
        assert {name: custom for name, custom in stored} == {
            "Bo": {"budget": 0.125}, "Cy": {"budget": 12.5}, "Di": {"budget": 2500.0}}


def test_the_api_answers_the_same_and_takes_json_numbers(app, make_user, api_client):
    admin = make_user("admin")
    budget(app, admin)
    api = api_client(admin)

    refused = api.post("/api/v1/leads", json={"full_name": "Ole", "custom": {"budget": "12.500"}})

    assert refused.status_code == 422
    assert refused.get_json()["errors"] == {"custom": {"budget": [
        "Could be 12500 (with a thousands point) or 12.5 (with a decimal point): write 12500 "
        "for the one, 12.5 for the other."]}}
    taken = api.post("/api/v1/leads", json={"full_name": "Ann", "custom": {"budget": 12500}})
    assert taken.status_code == 201 and taken.get_json()["custom"] == {"budget": 12500.0}
