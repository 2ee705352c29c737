"""Leads and contacts through the API: CRUD, ownership, validation, versions,
pagination, the recycle bin, conversion, timelines and bulk actions."""

from __future__ import annotations

import base64
import json

import pytest

from tests.api.conftest import assert_problem

pytestmark = pytest.mark.plugins()


def test_lead_crud(admin_api):
    created = admin_api.post("/api/v1/leads", json={
        "full_name": "Ada Lovelace", "emails": [" Ada@Example.COM "],
        "phones": ["+1 202 555 0143"], "company": "Analytical", "tags": ["vip"]})
    assert created.status_code == 201
    lead = created.get_json()
    assert created.headers["Location"] == f"/api/v1/leads/{lead['id']}"
    assert created.headers["ETag"] == f'"{lead["version"]}"'
    assert lead["emails"] == ["ada@example.com"] and lead["phones"] == ["+12025550143"]
    assert lead["stage_id"] and lead["owner_id"]

    got = admin_api.get(created.headers["Location"])
    assert got.status_code == 200 and got.get_json() == lead
    assert got.headers["ETag"] == created.headers["ETag"]

    changed = admin_api.patch(created.headers["Location"], json={"company": "Babbage & Co"},
                              headers={"If-Match": got.headers["ETag"]})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["company"] == "Babbage & Co"
    assert changed.get_json()["version"] == lead["version"] + 1
    assert changed.headers["ETag"] == f'"{lead["version"] + 1}"'

    listed = admin_api.get("/api/v1/leads").get_json()
    assert [item["id"] for item in listed["items"]] == [lead["id"]]

    assert admin_api.delete(created.headers["Location"]).status_code == 204
    assert_problem(admin_api.get(created.headers["Location"]), 404)
    assert_problem(admin_api.delete(created.headers["Location"]), 404)
    assert admin_api.get("/api/v1/leads").get_json()["items"] == []


def test_a_phone_keeps_its_extension_and_is_found_by_its_numbers_prefix(admin_api):
    """QA: "(650) 253-0000 ext. 42" was stored as +16502530000, so a call
    reached the switchboard, not the person."""
    created = admin_api.post("/api/v1/leads", json={
        "full_name": "Ada Lovelace", "phones": ["(650) 253-0000 ext. 42", "+1 202 555 0143"]})
    assert created.status_code == 201, created.get_json()
    lead = created.get_json()
    assert lead["phones"] == ["+16502530000;ext=42", "+12025550143"]
    assert admin_api.get(created.headers["Location"]).get_json()["phones"] == lead["phones"]
    # QA: as the record's page shows it, or written nationally, it found nothing.
    for query in ("+1650253", "+16502530000;EXT=42", "+1 650-253-0000", "(650) 253",
                  "650.253.0000"):
        found = admin_api.get("/api/v1/leads", query_string={"q": query}).get_json()
        assert [item["id"] for item in found["items"]] == [lead["id"]]
    # The stored form reads back as itself; digits other than ASCII are stored in ASCII.
    for spelling in ("+16502530000;ext=42", "tel:+1-650-253-0000;EXT=42", "650-253-0000 x٤٢"):
        again = admin_api.post("/api/v1/leads", json={"full_name": "Again", "phones": [spelling]})
        assert again.get_json()["phones"] == ["+16502530000;ext=42"]
    # The longest extension phonenumbers reads (20 digits), on a long number:
    # the first phone's key holds it on PostgreSQL too.
    longest = admin_api.post("/api/v1/leads", json={
        "full_name": "Wei", "phones": ["+86 10 1234 5678 ext. " + "9" * 20]})
    assert longest.status_code == 201, longest.get_json()
    assert longest.get_json()["phones"] == ["+861012345678;ext=" + "9" * 20]


def test_contact_crud(admin_api):
    created = admin_api.post("/api/v1/contacts", json={
        "first_name": "Grace", "last_name": "Hopper", "emails": ["grace@example.com"],
        "country": "US", "lifecycle_stage": "customer", "opt_outs": ["fax"]})
    assert created.status_code == 201, created.get_json()
    contact = created.get_json()
    url = created.headers["Location"]
    assert url == f"/api/v1/contacts/{contact['id']}"
    assert contact["lifecycle_stage"] == "customer" and contact["opt_outs"] == ["fax"]
    assert admin_api.get(url).get_json() == contact
    changed = admin_api.patch(url, json={"city": "Arlington"},
                              headers={"If-Match": created.headers["ETag"]})
    assert changed.status_code == 200 and changed.get_json()["city"] == "Arlington"
    assert_problem(admin_api.patch(url, json={"country": "USA"},
                                   headers={"If-Match": changed.headers["ETag"]}), 422, "country")
    page = admin_api.get("/api/v1/contacts?lifecycle_stage=customer").get_json()
    assert [c["id"] for c in page["items"]] == [contact["id"]]
    # A stage no contact can be at is a typo, not an empty list.
    assert_problem(admin_api.get("/api/v1/contacts?lifecycle_stage=customers"), 422,
                   "lifecycle_stage")
    assert admin_api.delete(url).status_code == 204
    assert_problem(admin_api.get(url), 404)


def test_sales_cannot_see_another_users_lead_same_404_as_missing(api_client, make_user,
                                                                 new_lead):
    one, two = api_client(make_user("sales")), api_client(make_user("sales"))
    lead = new_lead(one)
    assert one.get(f"/api/v1/leads/{lead['id']}").status_code == 200
    hidden = two.get(f"/api/v1/leads/{lead['id']}")
    missing = two.get("/api/v1/leads/999999")
    assert_problem(hidden, 404)
    assert hidden.get_json() == missing.get_json()
    assert hidden.get_data() == missing.get_data()
    for response in (
        two.patch(f"/api/v1/leads/{lead['id']}", json={"company": "x"},
                  headers={"If-Match": '"1"'}),
        two.delete(f"/api/v1/leads/{lead['id']}"),
        two.get(f"/api/v1/leads/{lead['id']}/timeline"),
        two.post(f"/api/v1/leads/{lead['id']}/comments", json={"body": "hi"}),
        two.post(f"/api/v1/leads/{lead['id']}/convert", json={}),
    ):
        assert response.get_json() == missing.get_json()
    assert two.get("/api/v1/leads").get_json()["items"] == []
    # the bulk action skips what the caller may not see
    bulk = two.post("/api/v1/leads/bulk", json={"ids": [lead["id"]], "action": "delete"})
    assert bulk.get_json() == {"changed": 0}
    assert one.get(f"/api/v1/leads/{lead['id']}").status_code == 200


@pytest.mark.parametrize(("payload", "field"), [
    ({"full_name": "X", "emails": ["not-an-email"]}, "emails"),
    ({"full_name": "X", "phones": ["12"]}, "phones"),
    ({"full_name": "X", "nickname": "x"}, "nickname"),
    ({"full_name": "X", "stage_id": 999}, "stage_id"),
    ({"full_name": "X", "id": 5}, "id"),
    ({"full_name": "X", "version": 5}, "version"),
    ({"full_name": "X", "converted_contact_id": 1}, "converted_contact_id"),
    ({"full_name": "X", "plugin_data": {"a": 1}}, "plugin_data"),
    ({}, "full_name"),
    ({"full_name": "X", "tags": "vip"}, "tags"),
])
def test_lead_validation_names_the_field(admin_api, payload, field):
    assert_problem(admin_api.post("/api/v1/leads", json=payload), 422, field)


def test_too_many_items_are_counted_in_the_message(admin_api):
    body = assert_problem(admin_api.post("/api/v1/leads", json={
        "full_name": "X", "emails": [f"p{i}@x.org" for i in range(11)],
        "phones": [f"+1202555{i:04}" for i in range(11)], "tags": [f"t{i}" for i in range(51)]}),
        422)
    assert body["errors"] == {"emails": ["At most 10 addresses."],
                              "phones": ["At most 10 numbers."], "tags": ["At most 50 tags."]}


HUGE = 2**70  # beyond the 64-bit integers SQLite stores


# 3,000,000,000 fits SQLite's integers but not PostgreSQL's INTEGER columns: it
# was a 404 on one and a 422 claiming a 64-bit limit on the other.
@pytest.mark.parametrize("huge", [HUGE, 3_000_000_000])
def test_numbers_larger_than_the_database_stores_are_4xx_and_store_nothing(admin_api,
                                                                          new_lead, huge):
    lead = new_lead()
    for payload, field in [({"full_name": "X", "owner_id": huge}, "owner_id"),
                           ({"full_name": "X", "stage_id": huge}, "stage_id")]:
        assert_problem(admin_api.post("/api/v1/leads", json=payload), 422, field)
    assert_problem(admin_api.post("/api/v1/leads/bulk", json={
        "ids": [huge], "action": "tag", "value": "x"}), 422, "ids")
    assert_problem(admin_api.post(f"/api/v1/leads/{lead['id']}/merge",
                                  json={"other_ids": [huge]}), 422, "other_ids")
    assert_problem(admin_api.get(f"/api/v1/leads/{huge}"), 404)
    for name in ("owner_id", "stage_id"):
        problem = assert_problem(admin_api.get(f"/api/v1/leads?{name}={huge}"), 422, name)
        assert problem["errors"][name] == [
            "Must be greater than or equal to 1 and less than or equal to 2147483647."]
    assert [item["id"] for item in admin_api.get("/api/v1/leads").get_json()["items"]] == [
        lead["id"]]


def test_sales_may_not_set_owner(api_client, make_user, new_lead):
    sales = make_user("sales")
    api = api_client(sales)
    assert_problem(api.post("/api/v1/leads", json={"full_name": "X", "owner_id": sales.id}),
                   422, "owner_id")
    lead = new_lead(api)
    assert_problem(api.patch(f"/api/v1/leads/{lead['id']}", json={"owner_id": sales.id},
                             headers={"If-Match": f'"{lead["version"]}"'}), 422, "owner_id")
    manager = api_client(make_user("manager"))
    moved = manager.patch(f"/api/v1/leads/{lead['id']}", json={"owner_id": None},
                          headers={"If-Match": f'"{lead["version"]}"'})
    assert moved.status_code == 200 and moved.get_json()["owner_id"] is None


@pytest.mark.parametrize("variant", ["dup@example.com", "  DUP@example.com", "Dup@Example.COM "])
def test_duplicate_email_is_409(admin_api, new_lead, variant):
    new_lead(emails=["dup@example.com"])
    body = assert_problem(admin_api.post("/api/v1/leads", json={"full_name": "Two",
                                                                "emails": [variant]}),
                          409, "emails")
    assert "dup@example.com" in body["detail"]
    assert_problem(admin_api.post("/api/v1/contacts", json={"last_name": "Three",
                                                            "emails": [variant]}), 409)
    assert len(admin_api.get("/api/v1/leads").get_json()["items"]) == 1


def test_patch_needs_if_match_and_refuses_stale_versions(admin_api, new_lead):
    lead = new_lead()
    url = f"/api/v1/leads/{lead['id']}"
    assert_problem(admin_api.patch(url, json={"company": "A"}), 428, "If-Match")
    fresh = admin_api.patch(url, json={"company": "A"}, headers={"If-Match": '"1"'})
    assert fresh.status_code == 200
    stale = admin_api.patch(url, json={"company": "B"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412)
    weak = admin_api.patch(url, json={"company": "B"}, headers={"If-Match": 'W/"2"'})
    assert_problem(weak, 412)
    assert admin_api.get(url).get_json()["company"] == "A"
    ok = admin_api.patch(url, json={"company": "B"}, headers={"If-Match": fresh.headers["ETag"]})
    assert ok.status_code == 200 and ok.get_json()["company"] == "B"


def test_bodies_must_be_json_objects(admin_api):
    assert_problem(admin_api.post("/api/v1/leads", data="full_name=x",
                                  content_type="application/x-www-form-urlencoded"), 415)
    assert_problem(admin_api.post("/api/v1/leads", data="{nope",
                                  content_type="application/json"), 400)
    assert_problem(admin_api.post("/api/v1/leads", json=["x"]), 400, "_schema")
    assert_problem(admin_api.post("/api/v1/leads", json="x"), 400)


@pytest.mark.parametrize("body", [
    '{"full_name": "Ada \\ud800"}',  # a lone surrogate: no column can store it
    '{"full_name": "Ada", "score": NaN}',
    '\ufeff{"full_name": "Ada"}',
])
def test_bodies_that_are_not_strict_json_are_400_and_store_nothing(admin_api, body):
    problem = assert_problem(admin_api.post("/api/v1/leads", data=body.encode(),
                                            content_type="application/json"), 400)
    assert problem["detail"] == "The body is not valid JSON."
    assert admin_api.get("/api/v1/leads").get_json()["items"] == []


def test_answers_are_utf8_json_with_sorted_keys(admin_api, new_lead):
    lead = new_lead(full_name="Zoë Ñúñez", emails=["zoe@example.com"])
    response = admin_api.get(f"/api/v1/leads/{lead['id']}")
    assert "Zoë Ñúñez".encode() in response.data
    assert list(response.get_json()) == sorted(response.get_json())


def test_too_large_body_is_413(app, admin_api):
    app.config["API_MAX_CONTENT_LENGTH"] = 100
    assert_problem(admin_api.post("/api/v1/leads", json={"full_name": "x" * 200}), 413)


def test_pagination_links_walk_every_record(app, admin_api):
    from crmcore.db import transaction
    from crmcore.models import User
    from crmcore.services import records as svc

    with transaction(app.extensions["crm"].sessions) as s:
        admin = s.query(User).one()
        ids = {svc.create(s, admin, svc.LEADS, {"full_name": f"Lead {i:02}"}).id
               for i in range(23)}
    for sort in ("-created_at", "full_name", "-id"):
        seen, url, pages = [], f"/api/v1/leads?limit=5&sort={sort}", 0
        while url:
            page = admin_api.get(url).get_json()
            assert page["links"]["self"] == url
            seen += [item["id"] for item in page["items"]]
            url, pages = page["links"]["next"], pages + 1
        assert pages == 5 and len(seen) == len(set(seen)) and set(seen) == ids
    names = [i["full_name"] for i in admin_api.get(
        "/api/v1/leads?sort=full_name&limit=3").get_json()["items"]]
    assert names == ["Lead 00", "Lead 01", "Lead 02"]
    found = admin_api.get("/api/v1/leads?q=lead 1").get_json()["items"]
    assert len(found) == 10


def cursor(values: list) -> str:
    """A cursor as the API spells one, holding ``values``."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("query", "field"), [
    ("colour=red", "colour"),
    ("sort=password", "sort"),
    ("sort=-nope", "sort"),
    ("limit=0", "limit"),
    ("limit=abc", "limit"),
    ("cursor=garbage", "cursor"),
    # Cursors with an id beyond 64 bits, and with no time where created_at sorts.
    ("cursor=WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwgMTE4MDU5MTYyMDcxNzQxMTMwMzQyNCwgdHJ1ZV0",
     "cursor"),
    ("cursor=WzUsIDEsIHRydWVd", "cursor"),
    # Sort values of another type than the sort column's (PostgreSQL refused
    # the statement: a 500), NUL in a name, a number beyond 64 bits.
    *((f"sort={sort}&cursor={cursor([value, 1, True])}", "cursor")
      for sort, value in (("full_name", {"a": 1}), ("full_name", 5), ("full_name", "a\u0000"),
                          ("score", "x"), ("score", True), ("score", 1.5), ("score", None),
                          ("id", 2**70), ("updated_at", "not a time"))),
    ("owner_id=abc", "owner_id"),
    ("mine=maybe", "mine"),  # read as "no" before
    ("created_after=yesterday", "created_after"),
    ("lifecycle_stage=customer", "lifecycle_stage"),  # a contact filter, not a lead one
])
def test_unknown_or_bad_list_parameters_are_422(admin_api, query, field):
    assert_problem(admin_api.get(f"/api/v1/leads?{query}"), 422, field)


def test_recycle_bin_list_restore_and_purge(api_client, make_user, new_lead, admin_api):
    sales = api_client(make_user("sales"))
    mine, other = new_lead(sales, emails=["mine@example.com"]), new_lead(admin_api)
    for lead in (mine, other):
        assert admin_api.delete(f"/api/v1/leads/{lead['id']}").status_code == 204
    binned = sales.get("/api/v1/recycle-bin?type=lead").get_json()
    assert [item["id"] for item in binned["items"]] == [mine["id"]]
    assert binned["items"][0]["deleted_at"]
    everything = admin_api.get("/api/v1/recycle-bin?type=lead").get_json()["items"]
    assert {item["id"] for item in everything} == {mine["id"], other["id"]}
    assert admin_api.get("/api/v1/recycle-bin?type=contact").get_json()["items"] == []
    assert_problem(admin_api.get("/api/v1/recycle-bin"), 422, "type")
    assert_problem(admin_api.get("/api/v1/recycle-bin?type=user"), 422, "type")

    assert_problem(sales.post(f"/api/v1/recycle-bin/lead/{other['id']}/restore"), 404)
    restored = sales.post(f"/api/v1/recycle-bin/lead/{mine['id']}/restore")
    assert restored.status_code == 200 and restored.get_json()["deleted_at"] is None
    assert sales.get(f"/api/v1/leads/{mine['id']}").status_code == 200
    assert_problem(sales.post(f"/api/v1/recycle-bin/lead/{mine['id']}/restore"), 404)

    assert_problem(sales.delete(f"/api/v1/recycle-bin/lead/{other['id']}"), 403)
    assert admin_api.delete(f"/api/v1/recycle-bin/lead/{other['id']}").status_code == 204
    assert admin_api.get("/api/v1/recycle-bin?type=lead").get_json()["items"] == []
    assert_problem(admin_api.delete(f"/api/v1/recycle-bin/lead/{other['id']}"), 404)
    assert_problem(admin_api.delete(f"/api/v1/recycle-bin/user/{other['id']}"), 404)


def test_recycle_bin_pages(admin_api, new_lead):
    ids = [new_lead(full_name=f"L{i}")["id"] for i in range(5)]
    assert admin_api.post("/api/v1/leads/bulk",
                          json={"ids": ids, "action": "delete"}).get_json() == {"changed": 5}
    seen, url = [], "/api/v1/recycle-bin?type=lead&limit=2"
    while url:
        page = admin_api.get(url).get_json()
        seen += [i["id"] for i in page["items"]]
        url = page["links"]["next"]
    assert seen == sorted(ids, reverse=True)


def test_convert_lead(admin_api, new_lead):
    lead = new_lead(full_name="Alan Turing", emails=["alan@example.com"], company="Bletchley")
    admin_api.post(f"/api/v1/leads/{lead['id']}/comments", json={"body": "Met at the park"})
    assert_problem(admin_api.post(f"/api/v1/leads/{lead['id']}/convert",
                                  json={"lifecycle_stage": "lead"}), 422, "lifecycle_stage")
    converted = admin_api.post(f"/api/v1/leads/{lead['id']}/convert",
                               json={"lifecycle_stage": "customer"})
    assert converted.status_code == 201, converted.get_json()
    contact = converted.get_json()
    assert converted.headers["Location"] == f"/api/v1/contacts/{contact['id']}"
    assert contact["first_name"] == "Alan" and contact["last_name"] == "Turing"
    assert contact["lifecycle_stage"] == "customer" and contact["emails"] == ["alan@example.com"]
    assert admin_api.get(f"/api/v1/leads/{lead['id']}").get_json()["converted_contact_id"] == \
        contact["id"]
    kinds = [e["kind"] for e in admin_api.get(
        f"/api/v1/contacts/{contact['id']}/timeline").get_json()["items"]]
    assert "comment" in kinds and "converted" in kinds
    assert_problem(admin_api.post(f"/api/v1/leads/{lead['id']}/convert", json={}), 409)
    assert_problem(admin_api.post("/api/v1/contacts/1/convert", json={}), 404)  # no such thing


def test_comments_and_timeline(api_client, make_user, new_lead):
    user = make_user("sales")
    api = api_client(user)
    lead = new_lead(api)
    url = f"/api/v1/leads/{lead['id']}"
    comment = api.post(f"{url}/comments", json={"body": "Called; call back Monday"})
    assert comment.status_code == 201
    assert comment.get_json()["kind"] == "comment"
    assert comment.get_json()["actor_id"] == user.id
    assert_problem(api.post(f"{url}/comments", json={"body": ""}), 422, "body")
    assert_problem(api.post(f"{url}/comments", json={"body": "x", "kind": "changed"}), 422,
                   "kind")
    # the comment moved "last contacted", so the lead has a new version
    assert_problem(api.patch(url, json={"company": "Acme"}, headers={"If-Match": '"1"'}), 412)
    etag = api.get(url).headers["ETag"]
    assert api.patch(url, json={"company": "Acme"}, headers={"If-Match": etag}).status_code == 200
    timeline = api.get(f"{url}/timeline").get_json()["items"]
    assert [e["kind"] for e in timeline] == ["changed", "comment", "created"]
    assert timeline[0]["changes"]["company"] == ["", "Acme"]
    assert api.get(url).get_json()["last_contacted_at"]
    assert len(api.get(f"{url}/timeline?limit=1").get_json()["items"]) == 1
    assert_problem(api.get(f"{url}/timeline?since=yesterday"), 422, "since")


def test_bulk_actions(app, api_client, make_user, new_lead, admin_api):
    sales_user = make_user("sales")
    sales = api_client(sales_user)
    ids = [new_lead(full_name=f"B{i}")["id"] for i in range(3)]
    stages = admin_api.get("/api/v1/stages").get_json()["items"]
    won = next(s for s in stages if s["kind"] == "won")

    def bulk(body, api=admin_api):
        return api.post("/api/v1/leads/bulk", json=body)

    assert bulk({"ids": ids, "action": "stage", "value": won["id"]}).get_json() == {"changed": 3}
    assert bulk({"ids": ids, "action": "tag", "value": "hot"}).get_json() == {"changed": 3}
    assert bulk({"ids": ids, "action": "tag", "value": ["hot", "big"]}).get_json() == \
        {"changed": 3}
    assert bulk({"ids": ids[:2], "action": "assign", "value": sales_user.id}).get_json() == \
        {"changed": 2}
    leads = {lead["id"]: lead for lead in admin_api.get("/api/v1/leads").get_json()["items"]}
    assert all(leads[i]["stage_id"] == won["id"] for i in ids)
    assert all(leads[i]["tags"] == ["big", "hot"] for i in ids)
    assert [leads[i]["owner_id"] for i in ids][:2] == [sales_user.id] * 2
    assert {lead["id"] for lead in sales.get("/api/v1/leads").get_json()["items"]} == \
        set(ids[:2])

    assert_problem(bulk({"ids": ids, "action": "explode"}), 422, "action")
    assert_problem(bulk({"ids": [], "action": "delete"}), 422, "ids")
    assert_problem(bulk({"ids": ids, "action": "stage", "value": 9999}), 422, "stage_id")
    assert_problem(bulk({"ids": ids, "action": "stage", "value": "won"}), 422, "value")
    assert_problem(bulk({"ids": ids, "action": "tag", "value": ""}), 422, "value")
    assert_problem(bulk({"ids": ids, "action": "delete", "value": 1}), 422, "value")
    assert_problem(bulk({"ids": ids, "action": "assign", "value": sales_user.id}, sales), 422,
                   "owner_id")
    assert_problem(bulk({"ids": ids, "action": "delete", "extra": 1}), 422, "extra")

    assert bulk({"ids": ids, "action": "delete"}, sales).get_json() == {"changed": 2}
    assert [lead["id"] for lead in admin_api.get("/api/v1/leads").get_json()["items"]] == \
        [ids[2]]


def test_contact_bulk_has_no_stage(admin_api):
    contact = admin_api.post("/api/v1/contacts", json={"last_name": "C"}).get_json()
    assert_problem(admin_api.post("/api/v1/contacts/bulk", json={
        "ids": [contact["id"]], "action": "stage", "value": 1}), 422, "action")
    assert admin_api.post("/api/v1/contacts/bulk", json={
        "ids": [contact["id"]], "action": "tag", "value": "x"}).get_json() == {"changed": 1}


def test_markup_round_trips_as_plain_strings(admin_api, new_lead):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    lead = new_lead(full_name=evil, company="</b>&amp;")
    response = admin_api.get(f"/api/v1/leads/{lead['id']}")
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["full_name"] == evil
    assert response.get_json()["company"] == "</b>&amp;"
    comment = admin_api.post(f"/api/v1/leads/{lead['id']}/comments", json={"body": evil})
    assert comment.get_json()["body"] == evil


def test_unexpected_errors_are_500_problems_without_internals(admin_api, monkeypatch):
    from crmcore.services import records

    def boom(*args, **kwargs):
        raise RuntimeError("secret database password is hunter2")

    monkeypatch.setattr(records, "list_records", boom)
    response = admin_api.get("/api/v1/leads")
    body = assert_problem(response, 500)
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" not in body["detail"]
