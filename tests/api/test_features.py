"""Timelines with plugin entries, the recycle bin across plugin types, custom
fields, CSV export, merging duplicates and conversion next steps, through the API."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from crmcore.db import transaction, utcnow
from crmcore.models import Lead
from tests.api.conftest import assert_problem
from tests.fake_plugins import _descriptors

pytestmark = pytest.mark.plugins()

def add_alpha_item(app, **values):
    from crmcore.db import transaction
    from tests.fake_plugins.alpha.hooks import AlphaItem

    with transaction(app.extensions["crm"].sessions) as s:
        item = AlphaItem(**values)
        s.add(item)
        s.flush()
        return item.id


def alpha_item(app, item_id):
    from crmcore.db import transaction
    from tests.fake_plugins.alpha.hooks import AlphaItem

    with transaction(app.extensions["crm"].sessions) as s:
        item = s.get(AlphaItem, item_id)
        return None if item is None else {"label": item.label, "deleted_at": item.deleted_at}


class TestWithAlpha:
    pytestmark = pytest.mark.plugins("alpha")

    @pytest.fixture
    def crm_extra_plugins(self):
        return {"alpha": _descriptors()["alpha"]}

    def test_timeline_has_plugin_entries_with_actor_and_source(self, app, api_client,
                                                               make_user, new_lead):
        user = make_user("sales", name="Sam Sales")
        api = api_client(user)
        lead = new_lead(api)
        add_alpha_item(app, label="quote", lead_id=lead["id"])
        add_alpha_item(app, label="other lead's", lead_id=lead["id"] + 1000)
        api.post(f"/api/v1/leads/{lead['id']}/comments", json={"body": "Called"})
        response = api.get(f"/api/v1/leads/{lead['id']}/timeline")
        assert response.status_code == 200
        items = response.get_json()["items"]
        assert [(i["kind"], i["source"]) for i in items] == [
            ("comment", "core"), ("created", "core"), ("alpha", "plugin")]
        assert items[0]["actor"] == "Sam Sales" and items[0]["body"] == "Called"
        assert items[-1]["body"] == "alpha item quote" and items[-1]["changes"] == {}
        assert items[-1]["created_at"].startswith("2000-01-01")
        assert set(items[0]) == {"created_at", "kind", "body", "actor", "changes", "source"}
        assert len(api.get(f"/api/v1/leads/{lead['id']}/timeline?limit=1")
                   .get_json()["items"]) == 1

    def test_recycle_bin_lists_restores_and_purges_plugin_records(self, app, api_client,
                                                                  make_user, admin_api):
        now = datetime.now(UTC)
        ids = [add_alpha_item(app, label=f"gone {i}", deleted_at=now) for i in range(3)]
        live = add_alpha_item(app, label="alive")
        page = admin_api.get("/api/v1/recycle-bin?type=alpha_item&limit=2").get_json()
        assert [i["id"] for i in page["items"]] == sorted(ids, reverse=True)[:2]
        assert set(page["items"][0]) == {"id", "label", "deleted_at"}
        assert page["items"][0]["label"] == "gone 2" and page["items"][0]["deleted_at"]
        rest = admin_api.get(page["links"]["next"]).get_json()
        assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["links"]["next"] is None
        body = assert_problem(admin_api.get("/api/v1/recycle-bin?type=nope"), 422, "type")
        assert "alpha_item" in body["errors"]["type"][0]

        restored = admin_api.post(f"/api/v1/recycle-bin/alpha_item/{ids[0]}/restore")
        assert restored.status_code == 200
        assert restored.get_json() == {"record_type": "alpha_item", "id": ids[0]}
        assert alpha_item(app, ids[0])["deleted_at"] is None
        assert_problem(admin_api.post(f"/api/v1/recycle-bin/alpha_item/{ids[0]}/restore"), 404)
        assert_problem(admin_api.post(f"/api/v1/recycle-bin/alpha_item/{live}/restore"), 404)
        assert_problem(admin_api.post(f"/api/v1/recycle-bin/nope/{ids[1]}/restore"), 404)

        sales = api_client(make_user("sales"))
        assert_problem(sales.delete(f"/api/v1/recycle-bin/alpha_item/{ids[1]}"), 403)
        assert alpha_item(app, ids[1]) is not None
        assert admin_api.delete(f"/api/v1/recycle-bin/alpha_item/{ids[1]}").status_code == 204
        assert alpha_item(app, ids[1]) is None
        assert_problem(admin_api.delete(f"/api/v1/recycle-bin/alpha_item/{ids[1]}"), 404)
        assert_problem(admin_api.delete(f"/api/v1/recycle-bin/alpha_item/{live}"), 404)
        assert [i["id"] for i in admin_api.get("/api/v1/recycle-bin?type=alpha_item")
                .get_json()["items"]] == [ids[2]]

    def test_convert_response_lists_plugin_next_steps(self, admin_api, new_lead):
        lead = new_lead(full_name="Alan Turing")
        converted = admin_api.post(f"/api/v1/leads/{lead['id']}/convert", json={})
        assert converted.status_code == 201, converted.get_json()
        body = converted.get_json()
        assert converted.headers["Location"] == f"/api/v1/contacts/{body['id']}"
        assert converted.headers["ETag"] == f'"{body["version"]}"'
        assert body["last_name"] == "Turing" and body["lifecycle_stage"] == "prospect"
        assert body["next_steps"] == [{"label": "Make an alpha quote", "method": "POST",
                                       "url": f"/alpha/ping?record_id={body['id']}"}]

    def test_the_crm_api_refuses_portal_users_tokens(self, api_client, make_user):
        partner = api_client(make_user("alpha_partner"))
        for url in ("/api/v1/custom-fields", "/api/v1/leads", "/api/v1/users/me"):
            assert_problem(partner.get(url), 401)
        assert api_client(make_user("sales")).get("/api/v1/custom-fields").status_code == 200

    def test_merge_moves_plugin_rows_and_timelines(self, app, admin_api, new_lead):
        keep, dup = new_lead(full_name="Ada"), new_lead(full_name="Ada L.")
        add_alpha_item(app, label="dup's", lead_id=dup["id"])
        merged = admin_api.post(f"/api/v1/leads/{keep['id']}/merge",
                                json={"other_ids": [dup["id"]]})
        assert merged.status_code == 200, merged.get_json()
        bodies = [i["body"] for i in admin_api.get(
            f"/api/v1/leads/{keep['id']}/timeline").get_json()["items"]]
        assert "alpha item dup's" in bodies


@pytest.fixture
def plan_field(admin_api):
    response = admin_api.post("/api/v1/custom-fields", json={
        "record_type": "lead", "name": "plan", "label": "Plan", "field_type": "choice",
        "choices": ["free", "pro"], "position": 2})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_custom_field_crud(api_client, make_user, admin_api, plan_field):
    assert plan_field["id"] and plan_field["name"] == "plan"
    assert plan_field["choices"] == ["free", "pro"] and plan_field["required"] is False
    seats = admin_api.post("/api/v1/custom-fields", json={
        "record_type": "lead", "name": "seats", "label": "Seats", "field_type": "number"})
    assert seats.status_code == 201
    assert seats.headers["Location"].startswith("/api/v1/custom-fields?record_type=lead")
    nickname = admin_api.post("/api/v1/custom-fields", json={
        "record_type": "contact", "name": "nickname", "label": "Nickname",
        "field_type": "text"}).get_json()

    sales = api_client(make_user("sales"))
    listed = sales.get("/api/v1/custom-fields?record_type=lead")
    assert listed.status_code == 200
    # in form order: position, then id
    assert [f["name"] for f in listed.get_json()["items"]] == ["seats", "plan"]
    assert {f["name"] for f in sales.get("/api/v1/custom-fields").get_json()["items"]} == \
        {"plan", "seats", "nickname"}
    assert [f["name"] for f in sales.get("/api/v1/custom-fields?record_type=contact")
            .get_json()["items"]] == ["nickname"]
    assert_problem(sales.get("/api/v1/custom-fields?record_type=user"), 422, "record_type")
    assert_problem(sales.get("/api/v1/custom-fields?kind=lead"), 422, "kind")

    url = f"/api/v1/custom-fields/{plan_field['id']}"
    changed = admin_api.patch(url, json={"label": "Plan tier", "choices": ["free", "pro",
                                                                          "team"]})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["label"] == "Plan tier"
    assert changed.get_json()["choices"] == ["free", "pro", "team"]
    assert_problem(admin_api.patch(url, json={"name": "tier"}), 422, "name")
    assert_problem(admin_api.patch(url, json={"field_type": "text"}), 422, "field_type")
    assert_problem(admin_api.patch(url, json={"choices": []}), 422, "choices")
    assert_problem(admin_api.patch("/api/v1/custom-fields/99999", json={"label": "x"}), 404)

    assert admin_api.delete(f"/api/v1/custom-fields/{nickname['id']}").status_code == 204
    assert_problem(admin_api.delete(f"/api/v1/custom-fields/{nickname['id']}"), 404)
    assert sales.get("/api/v1/custom-fields?record_type=contact").get_json()["items"] == []


def test_custom_fields_need_settings_manage(api_client, make_user, admin_api, plan_field):
    for role in ("sales", "manager"):
        api = api_client(make_user(role))
        assert_problem(api.post("/api/v1/custom-fields", json={
            "record_type": "lead", "name": "x", "label": "X", "field_type": "text"}), 403)
        assert_problem(api.patch(f"/api/v1/custom-fields/{plan_field['id']}",
                                 json={"label": "X"}), 403)
        assert_problem(api.delete(f"/api/v1/custom-fields/{plan_field['id']}"), 403)
    assert [f["label"] for f in admin_api.get("/api/v1/custom-fields").get_json()["items"]] \
        == ["Plan"]


def test_custom_field_validation_and_duplicates(admin_api, plan_field):
    duplicate = assert_problem(admin_api.post("/api/v1/custom-fields", json={
        "record_type": "lead", "name": "plan", "label": "Again", "field_type": "text"}),
        409, "name")
    assert "plan" in duplicate["detail"]
    # the same name on the other record type is fine
    assert admin_api.post("/api/v1/custom-fields", json={
        "record_type": "contact", "name": "plan", "label": "Plan",
        "field_type": "text"}).status_code == 201
    for payload, field in [
        ({"record_type": "lead", "name": "Bad Name", "label": "B", "field_type": "text"},
         "name"),
        ({"record_type": "deal", "name": "b", "label": "B", "field_type": "text"},
         "record_type"),
        ({"record_type": "lead", "name": "b", "label": "B", "field_type": "colour"},
         "field_type"),
        ({"record_type": "lead", "name": "b", "label": "B", "field_type": "choice"},
         "choices"),
        ({"record_type": "lead", "name": "b", "label": "B", "field_type": "text", "id": 3},
         "id"),
    ]:
        assert_problem(admin_api.post("/api/v1/custom-fields", json=payload), 422, field)


def test_a_custom_field_must_fit_the_values_records_hold(admin_api, new_lead, plan_field):
    """Added again under its name, a field must read the values its earlier
    self left (the recycle bin's too); choices that records hold stay."""
    kept = new_lead(full_name="Kept", custom={"plan": "pro"})
    binned = new_lead(full_name="Binned", custom={"plan": "free"})
    assert admin_api.delete(f"/api/v1/leads/{binned['id']}").status_code == 204
    url = f"/api/v1/custom-fields/{plan_field['id']}"
    body = assert_problem(admin_api.patch(url, json={"choices": ["pro"]}), 409, "choices")
    assert body["errors"] == {"choices": [
        "Still held: “free” by 1 lead (in the recycle bin). Keep it among the choices, or "
        "change those leads first."]}
    assert admin_api.patch(url, json={"choices": ["free", "pro", "team"]}).status_code == 200

    assert admin_api.delete(url).status_code == 204
    plan = {"record_type": "lead", "name": "plan", "label": "Plan"}
    body = assert_problem(admin_api.post("/api/v1/custom-fields", json={
        **plan, "field_type": "boolean"}), 409, "field_type")
    assert body["errors"]["field_type"][0].startswith(
        "2 leads (1 of them in the recycle bin) hold a value of an earlier “plan” field that "
        "is not yes or no (e.g. “")
    assert admin_api.get("/api/v1/custom-fields?record_type=lead").get_json()["items"] == []
    assert admin_api.post("/api/v1/custom-fields", json={
        **plan, "field_type": "choice", "choices": ["free", "pro"]}).status_code == 201
    assert admin_api.get(f"/api/v1/leads/{kept['id']}").get_json()["custom"] == {"plan": "pro"}


def test_records_carry_custom_values_validated_and_filterable(admin_api, new_lead,
                                                               plan_field):
    assert admin_api.post("/api/v1/custom-fields", json={
        "record_type": "lead", "name": "seats", "label": "Seats",
        "field_type": "number"}).status_code == 201
    pro = new_lead(full_name="Pro", custom={"plan": "pro", "seats": 5})
    assert pro["custom"] == {"plan": "pro", "seats": 5}
    free = new_lead(full_name="Free", custom={"plan": "free"})
    new_lead(full_name="None")
    body = assert_problem(admin_api.post("/api/v1/leads", json={
        "full_name": "X", "custom": {"plan": "gold", "seats": "many"}}), 422, "custom")
    assert set(body["errors"]["custom"]) == {"plan", "seats"}
    body = assert_problem(admin_api.post("/api/v1/leads", json={
        "full_name": "X", "custom": {"colour": "red"}}), 422, "custom")
    assert "colour" in body["errors"]["custom"]
    changed = admin_api.patch(f"/api/v1/leads/{free['id']}", json={"custom": {"seats": 2}},
                              headers={"If-Match": f'"{free["version"]}"'})
    assert changed.status_code == 200
    assert changed.get_json()["custom"] == {"plan": "free", "seats": 2}

    def names(query):
        response = admin_api.get(f"/api/v1/leads?{query}")
        assert response.status_code == 200, response.get_json()
        return [i["full_name"] for i in response.get_json()["items"]]

    assert names("custom.plan=pro") == ["Pro"]
    assert names("custom.seats=2") == ["Free"]
    assert names("custom.plan=free&custom.seats=5") == []
    page = admin_api.get("/api/v1/leads?custom.plan=pro&limit=1").get_json()
    assert "custom.plan=pro" in page["links"]["self"]
    assert_problem(admin_api.get("/api/v1/leads?custom.colour=red"), 422, "custom.colour")
    assert_problem(admin_api.get("/api/v1/leads?custom.seats=many"), 422, "custom.seats")
    assert_problem(admin_api.get("/api/v1/contacts?custom.plan=pro"), 422, "custom.plan")
    assert_problem(admin_api.get("/api/v1/leads?customer=1"), 422, "customer")


def test_a_custom_filter_passes_over_values_of_another_type(app, admin_api, new_lead):
    """Values an earlier field of the same name left, of another type (as an
    install keeps from before fields were checked against them), match nothing;
    PostgreSQL answered 500 reading "about 5k" as a number."""
    assert admin_api.post("/api/v1/custom-fields", json={
        "record_type": "lead", "name": "budget", "label": "Budget",
        "field_type": "number"}).status_code == 201
    new_lead(full_name="Five", custom={"budget": 5})
    vague = new_lead(full_name="Vague")
    with transaction(app.extensions["crm"].sessions) as s:
        s.execute(update(Lead).where(Lead.id == vague["id"]).values(
            custom={"budget": "about 5k"}))

    def names(query):
        response = admin_api.get(f"/api/v1/leads?{query}")
        assert response.status_code == 200, response.get_json()
        return [i["full_name"] for i in response.get_json()["items"]]

    assert names("custom.budget=5") == ["Five"]
    assert names("custom.budget=0") == []


def rows_of(response):
    """The CSV rows of a streamed export. Closing the response ends the request
    (as a WSGI server does), which closes its database session."""
    try:
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/csv"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    finally:
        response.close()


def test_export_csv_respects_filters_ownership_and_deletion(api_client, make_user,
                                                            admin_api, new_lead, plan_field):
    sales = api_client(make_user("sales"))
    mine = new_lead(sales, full_name="Mine", company="=1+2", source="web",
                    custom={"plan": "pro"})
    new_lead(sales, full_name="Mine too", source="fair")
    new_lead(admin_api, full_name="Admin's", source="web")
    gone = new_lead(admin_api, full_name="Gone", source="web")
    assert admin_api.delete(f"/api/v1/leads/{gone['id']}").status_code == 204

    everything = rows_of(admin_api.get("/api/v1/leads/export.csv?sort=full_name"))
    assert [r["full_name"] for r in everything] == ["Admin's", "Mine", "Mine too"]
    assert "custom.plan" in everything[0]
    row = everything[1]
    assert row["id"] == str(mine["id"]) and row["company"] == "'=1+2"
    assert row["custom.plan"] == "pro"
    assert [r["full_name"] for r in rows_of(sales.get("/api/v1/leads/export.csv"))] == \
        ["Mine too", "Mine"]
    assert [r["full_name"] for r in rows_of(admin_api.get(
        "/api/v1/leads/export.csv?source=web&sort=-full_name"))] == ["Mine", "Admin's"]
    assert [r["full_name"] for r in rows_of(admin_api.get(
        "/api/v1/leads/export.csv?custom.plan=pro"))] == ["Mine"]
    assert rows_of(sales.get("/api/v1/leads/export.csv?source=nowhere")) == []

    semicolons = admin_api.get("/api/v1/leads/export.csv?sort=full_name&delimiter=semicolon")
    text = semicolons.get_data(as_text=True)
    assert text.startswith("id;full_name;emails;") and ";'=1+2;" in text
    assert_problem(admin_api.get("/api/v1/leads/export.csv?delimiter=pipe"), 422, "delimiter")
    assert_problem(admin_api.get("/api/v1/leads/export.csv?limit=5"), 422, "limit")
    assert_problem(admin_api.get("/api/v1/leads/export.csv?cursor=x"), 422, "cursor")
    assert_problem(admin_api.get("/api/v1/leads/export.csv?sort=password"), 422, "sort")
    assert_problem(admin_api.get("/api/v1/leads/export.csv?custom.nope=1"), 422,
                   "custom.nope")
    assert_problem(admin_api.client.get("/api/v1/leads/export.csv"), 401)


def test_export_csv_of_contacts_streams_every_page(app, admin_api):
    from crmcore.db import transaction
    from crmcore.models import User
    from crmcore.services import records as svc

    with transaction(app.extensions["crm"].sessions) as s:
        admin = s.query(User).one()
        for i in range(450):
            svc.create(s, admin, svc.CONTACTS, {"last_name": f"C{i:03}",
                                                "lifecycle_stage": "customer"})
        svc.create(s, admin, svc.CONTACTS, {"last_name": "Prospect"})
    response = admin_api.get("/api/v1/contacts/export.csv?lifecycle_stage=customer"
                             "&sort=last_name")
    assert response.is_streamed
    assert response.headers["Content-Disposition"] == 'attachment; filename="contacts.csv"'
    rows = rows_of(response)
    assert [r["last_name"] for r in rows] == [f"C{i:03}" for i in range(450)]
    # the stream's session went back to the pool once the response closed, also
    # when nothing was read (HEAD) or the filters were refused
    pool = app.extensions["crm"].engine.pool
    assert pool.checkedout() == 0
    head = admin_api.open("HEAD", "/api/v1/contacts/export.csv")
    assert head.status_code == 200 and head.get_data() == b""
    head.close()
    assert_problem(admin_api.get("/api/v1/contacts/export.csv?owner_id=x"), 422, "owner_id")
    assert pool.checkedout() == 0


def test_merge_leads(api_client, make_user, admin_api, new_lead):
    keep = new_lead(full_name="Ada", emails=["ada@example.com"], company="A", tags=["x"])
    dup = new_lead(full_name="Ada Lovelace", emails=["ada2@example.com"],
                   phones=["+12025550111"], company="Analytical", tags=["y"])
    admin_api.post(f"/api/v1/leads/{dup['id']}/comments", json={"body": "from the dup"})
    merged = admin_api.post(f"/api/v1/leads/{keep['id']}/merge", json={
        "other_ids": [dup["id"]], "choices": {"full_name": dup["id"], "company": dup["id"]}})
    assert merged.status_code == 200, merged.get_json()
    survivor = merged.get_json()
    assert survivor["id"] == keep["id"]
    assert survivor["full_name"] == "Ada Lovelace" and survivor["company"] == "Analytical"
    assert survivor["emails"] == ["ada@example.com", "ada2@example.com"]
    assert survivor["phones"] == ["+12025550111"] and survivor["tags"] == ["x", "y"]
    assert merged.headers["ETag"] == f'"{survivor["version"]}"'
    assert admin_api.get(f"/api/v1/leads/{keep['id']}").get_json() == survivor
    assert_problem(admin_api.get(f"/api/v1/leads/{dup['id']}"), 404)
    binned = admin_api.get("/api/v1/recycle-bin?type=lead").get_json()["items"]
    assert [i["id"] for i in binned] == [dup["id"]]
    timeline = admin_api.get(f"/api/v1/leads/{keep['id']}/timeline").get_json()["items"]
    assert timeline[0]["kind"] == "merged" and "from the dup" in [e["body"] for e in timeline]


def test_merge_keeps_every_email_and_phone_whichever_comes_first(admin_api, new_lead):
    keep = new_lead(full_name="Jo Parker", emails=["jo@hv.example"], phones=["+12025559101"])
    dup = new_lead(full_name="Jo Parker", emails=["jparker@hv.example"],
                   phones=["+12025559102"])
    merged = admin_api.post(f"/api/v1/leads/{keep['id']}/merge", json={
        "other_ids": [dup["id"]], "choices": {"emails": dup["id"], "phones": dup["id"]}})
    assert merged.status_code == 200, merged.get_json()
    survivor = merged.get_json()
    assert survivor["emails"] == ["jparker@hv.example", "jo@hv.example"]
    assert survivor["phones"] == ["+12025559102", "+12025559101"]
    [entry] = [e for e in admin_api.get(f"/api/v1/leads/{keep['id']}/timeline")
               .get_json()["items"] if e["kind"] == "merged"]
    assert set(entry["changes"]) == {"emails", "phones"}  # no bookkeeping


def test_merge_refusals(api_client, make_user, admin_api, new_lead):
    one, two = api_client(make_user("sales")), api_client(make_user("sales"))
    mine, also_mine, theirs = new_lead(one), new_lead(one), new_lead(two)
    url = f"/api/v1/leads/{mine['id']}/merge"
    hidden = one.post(url, json={"other_ids": [theirs["id"]]})
    assert_problem(hidden, 404)
    assert_problem(one.post(f"/api/v1/leads/{theirs['id']}/merge",
                            json={"other_ids": [mine["id"]]}), 404)
    assert two.get(f"/api/v1/leads/{theirs['id']}").status_code == 200
    assert_problem(one.post(url, json={"other_ids": [also_mine["id"]],
                                       "choices": {"score": also_mine["id"]}}), 422, "score")
    assert_problem(one.post(url, json={"other_ids": [also_mine["id"]],
                                       "choices": {"company": theirs["id"]}}), 422, "company")
    assert_problem(one.post(url, json={"other_ids": [also_mine["id"]], "force": True}), 422,
                   "force")
    assert_problem(one.post(url, json={"other_ids": []}), 422, "other_ids")
    assert_problem(one.post(url, json={"other_ids": [mine["id"]]}), 422, "other_ids")
    assert_problem(one.post(url, json={"other_ids": ["1"]}), 422, "other_ids")
    assert_problem(one.post(url, json={}), 422, "other_ids")
    # nothing changed
    assert one.get(f"/api/v1/leads/{also_mine['id']}").status_code == 200
    assert one.get(f"/api/v1/leads/{mine['id']}").get_json()["version"] == mine["version"]


def test_merge_contacts(admin_api):
    def contact(**values):
        response = admin_api.post("/api/v1/contacts", json=values)
        assert response.status_code == 201
        return response.get_json()

    keep = contact(first_name="Grace", last_name="Hopper", city="Arlington")
    dup = contact(first_name="Grace", last_name="Hopper", city="New York", country="US")
    merged = admin_api.post(f"/api/v1/contacts/{keep['id']}/merge", json={
        "other_ids": [dup["id"]], "choices": {"city": dup["id"]}})
    assert merged.status_code == 200, merged.get_json()
    assert merged.get_json()["city"] == "New York" and merged.get_json()["country"] == ""
    assert_problem(admin_api.get(f"/api/v1/contacts/{dup['id']}"), 404)
    assert [i["id"] for i in admin_api.get("/api/v1/recycle-bin?type=contact")
            .get_json()["items"]] == [dup["id"]]


def test_merging_contacts_joins_opt_outs_and_moves_converted_leads(admin_api, new_lead):
    lead = new_lead(full_name="Olga Optout", emails=["olga.private@optco.example"])
    converted = admin_api.post(f"/api/v1/leads/{lead['id']}/convert", json={})
    assert converted.status_code == 201, converted.get_json()
    gone = converted.get_json()
    admin_api.patch(f"/api/v1/contacts/{gone['id']}", json={"opt_outs": ["email", "call"]},
                    headers={"If-Match": f'"{gone["version"]}"'})
    keep = admin_api.post("/api/v1/contacts", json={
        "first_name": "Olga", "last_name": "Optin", "emails": ["olga@optco.example"],
        "opt_outs": ["post"]}).get_json()
    merged = admin_api.post(f"/api/v1/contacts/{keep['id']}/merge", json={
        "other_ids": [gone["id"]], "choices": {"emails": gone["id"]}})
    assert merged.status_code == 200, merged.get_json()
    assert merged.get_json()["opt_outs"] == ["call", "email", "post"]
    assert admin_api.get(f"/api/v1/leads/{lead['id']}").get_json()[
        "converted_contact_id"] == keep["id"]


def test_a_tag_cannot_hold_the_separator_its_export_uses(admin_api, new_lead):
    """QA: the tag "R&D;EMEA" exported as "R&D;EMEA; plain" and came back as
    three tags."""
    refused = admin_api.post("/api/v1/leads", json={"full_name": "T", "tags": ["R&D;EMEA"]})
    assert_problem(refused, 422, "tags")
    assert refused.get_json()["errors"]["tags"] == {
        "0": ["A tag cannot hold “;” (it separates tags in a file)."]}


def test_a_merge_picks_custom_field_values_per_field(admin_api, new_lead, plan_field):
    admin_api.post("/api/v1/custom-fields", json={
        "record_type": "lead", "name": "seats", "label": "Seats", "field_type": "number"})
    keep = new_lead(full_name="Kim", custom={"plan": "free"})
    dup = new_lead(full_name="Kim", custom={"plan": "pro", "seats": 12})
    third = new_lead(full_name="Kim", custom={"seats": 3})
    merged = admin_api.post(f"/api/v1/leads/{keep['id']}/merge", json={
        "other_ids": [dup["id"], third["id"]],
        "choices": {"custom.plan": dup["id"], "custom.seats": third["id"]}})
    assert merged.status_code == 200, merged.get_json()
    assert merged.get_json()["custom"] == {"plan": "pro", "seats": 3}
    [entry] = [e for e in admin_api.get(f"/api/v1/leads/{keep['id']}/timeline")
               .get_json()["items"] if e["kind"] == "merged"]
    assert entry["changes"]["custom"] == [{"plan": "free"}, {"plan": "pro", "seats": 3}]
    # A field the picked record holds no value of is left empty.
    other = new_lead(full_name="Lee")
    merged = admin_api.post(f"/api/v1/leads/{other['id']}/merge", json={
        "other_ids": [keep["id"]], "choices": {"custom.plan": other["id"]}})
    assert merged.get_json()["custom"] == {"seats": 3}


def test_a_merge_refuses_changed_anonymized_and_overfull_records(app, admin_api, new_lead):
    keep = new_lead(full_name="Ann", emails=[f"a{i}@x.example" for i in range(8)])
    dup = new_lead(full_name="Ann", emails=[f"b{i}@x.example" for i in range(8)])
    url = f"/api/v1/leads/{keep['id']}/merge"
    overfull = admin_api.post(url, json={"other_ids": [dup["id"]]})
    assert_problem(overfull, 422, "emails")
    assert overfull.get_json()["errors"]["emails"] == [
        "Together the records hold 16 addresses; a lead holds at most 10: take some off first."]

    edited = admin_api.patch(f"/api/v1/leads/{dup['id']}", json={"emails": ["b@x.example"]},
                             headers={"If-Match": f'"{dup["version"]}"'}).get_json()
    stale = admin_api.post(url, json={"other_ids": [dup["id"]],
                                      "versions": {str(dup["id"]): dup["version"]}})
    assert_problem(stale, 409)
    assert f"#{dup['id']} changed since you looked" in stale.get_json()["detail"]
    assert_problem(admin_api.post(url, json={"other_ids": [dup["id"]],
                                             "versions": {"x": 1}}), 422, "versions")

    with transaction(app.extensions["crm"].sessions) as s:
        s.get(Lead, keep["id"]).anonymized_at = utcnow()
    anonymized = admin_api.post(url, json={"other_ids": [dup["id"]],
                                           "versions": {str(dup["id"]): edited["version"]}})
    assert_problem(anonymized, 409)
    assert f"#{keep['id']} was anonymized" in anonymized.get_json()["detail"]
    assert admin_api.get(f"/api/v1/leads/{dup['id']}").status_code == 200  # nothing merged
    # Nor does an edit bring a person's data back into it.
    version = admin_api.get(f"/api/v1/leads/{keep['id']}").get_json()["version"]
    edit = admin_api.patch(f"/api/v1/leads/{keep['id']}", json={"emails": ["gina@x.example"]},
                           headers={"If-Match": f'"{version}"'})
    assert_problem(edit, 409)
    assert edit.get_json()["detail"] == ("This lead was anonymized: it stands for nobody and "
                                         "takes no one's data. Add a new lead instead.")


def test_duplicates(api_client, make_user, admin_api, new_lead):
    sales = api_client(make_user("sales"))
    lead = new_lead(sales, full_name="Ada Lovelace", company="Analytical",
                    phones=["+12025550111"])
    same_phone = new_lead(sales, full_name="A. L.", phones=["+12025550111"])
    same_name = new_lead(sales, full_name="ada lovelace", company="Analytical")
    new_lead(sales, full_name="Ada Lovelace", company="Other")
    hidden = new_lead(admin_api, full_name="Ada Lovelace", company="Analytical")
    found = sales.get(f"/api/v1/leads/{lead['id']}/duplicates")
    assert found.status_code == 200
    assert {i["id"] for i in found.get_json()["items"]} == {same_phone["id"], same_name["id"]}
    assert "full_name" in found.get_json()["items"][0]
    everything = admin_api.get(f"/api/v1/leads/{lead['id']}/duplicates").get_json()["items"]
    assert {i["id"] for i in everything} == {same_phone["id"], same_name["id"], hidden["id"]}
    assert_problem(sales.get(f"/api/v1/leads/{hidden['id']}/duplicates"), 404)
    assert_problem(sales.get(f"/api/v1/leads/{lead['id']}/duplicates?limit=3"), 422, "limit")

    contact = admin_api.post("/api/v1/contacts", json={"last_name": "Solo"}).get_json()
    assert admin_api.get(f"/api/v1/contacts/{contact['id']}/duplicates").get_json() == \
        {"items": []}


def test_new_endpoints_are_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    for plural in ("leads", "contacts"):
        assert "get" in paths[f"/api/v1/{plural}/export.csv"]
        assert "text/csv" in paths[f"/api/v1/{plural}/export.csv"]["get"]["responses"]["200"][
            "content"]
        assert paths[f"/api/v1/{plural}/{{record_id}}/merge"]["post"]["requestBody"][
            "content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/MergeInput"}
        assert "get" in paths[f"/api/v1/{plural}/{{record_id}}/duplicates"]
    assert {"get", "post"} <= set(paths["/api/v1/custom-fields"])
    assert {"patch", "delete"} <= set(paths["/api/v1/custom-fields/{field_id}"])
    schemas = spec["components"]["schemas"]
    assert set(schemas["TimelineRow"]["properties"]) == {
        "created_at", "kind", "body", "actor", "changes", "source"}
    assert set(schemas["CustomFieldUpdate"]["properties"]) == {
        "label", "choices", "required", "position"}
    assert "next_steps" in schemas["ConvertResult"]["properties"]
    assert set(schemas["MergeInput"]["properties"]) == {"other_ids", "choices", "versions"}
    html = client.get("/api/v1/docs").get_data(as_text=True)
    for endpoint in ("GET /api/v1/leads/export.csv", "POST /api/v1/leads/{record_id}/merge",
                     "GET /api/v1/contacts/{record_id}/duplicates", "POST /api/v1/custom-fields",
                     "PATCH /api/v1/custom-fields/{field_id}"):
        assert f"<h2><code>{endpoint}</code></h2>" in html
    assert "text/csv" in html
