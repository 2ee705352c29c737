"""GET /api/v1/{leads,contacts}/duplicates: the sets of likely duplicates
already stored, a page at a time."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from crmcore.models import DistinctPair
from tests.api.conftest import assert_problem


def sets_of(api, url):
    response = api.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    return [[r["id"] for r in s["records"]] for s in body["items"]], body


def test_sets_share_a_name_and_a_company_whatever_their_spelling(admin_api, new_lead):
    ada = new_lead(full_name="Ada Lovelace", company="Analytical Engines Ltd")
    ada_again = new_lead(full_name="ADA LOVELACE", company="analytical engines")
    new_lead(full_name="Ada Lovelace", company="Other")  # another company: not a duplicate
    bob = new_lead(full_name="Bob", emails=["bob@example.com"])
    bob_again = new_lead(full_name="bób")  # no company either: the same
    new_lead(full_name="Carl")
    dora = new_lead(full_name="Dora", company="X")
    binned = new_lead(full_name="Dora", company="X")
    assert admin_api.delete(f"/api/v1/leads/{binned['id']}").status_code == 204

    sets, body = sets_of(admin_api, "/api/v1/leads/duplicates")

    assert sets == [[ada["id"], ada_again["id"]], [bob["id"], bob_again["id"]]]
    assert [(s["by"], s["total"]) for s in body["items"]] == [("name", 2), ("name", 2)]
    assert body["items"][1]["records"][0]["emails"] == ["bob@example.com"]
    assert body["links"]["next"] is None
    assert dora["id"] not in {i for s in sets for i in s}


def test_sets_gather_names_that_sound_alike(admin_api, new_lead):
    john = [new_lead(full_name=n, company=c)["id"] for n, c in (
        ("John Smith", "Acme Fibre"), ("Jon Smith", "ACME Fiber Inc."),
        ("Smith, John", "Acme Fibre"), ("Joan Smith", "acme fibre"))]
    new_lead(full_name="Jon Smith", company="Other")  # another company
    new_lead(full_name="Robert Ng")
    new_lead(full_name="Rupert Ng")  # sounds otherwise
    new_lead(full_name="Li Wei")
    new_lead(full_name="Lu Wei")  # one sound, but short names are spelt alike or not at all

    sets, body = sets_of(admin_api, "/api/v1/leads/duplicates")

    assert sets == [john]
    assert body["items"][0]["total"] == 4


def test_a_records_candidates_share_any_of_its_phones_or_addresses(admin_api, new_lead):
    by_phone = new_lead(full_name="Ann Ash", phones=["+12025550111"])
    by_email = new_lead(full_name="Bob Birch", emails=["bob@example.com"])
    by_second_phone = new_lead(full_name="Cid Cole", phones=["+12025550999", "+12025550222"])
    by_second_email = new_lead(full_name="Eve Eng", emails=["eve@example.com",
                                                            "dee@example.com"])
    new_lead(full_name="Fay Fox", phones=["+12025550333"], emails=["fay@example.com"])
    record = new_lead(full_name="Dee Dunn", emails=["dee@example.com", "BOB@example.com"],
                      phones=["+12025550222", "+1 202 555 0111"])

    response = admin_api.get(f"/api/v1/leads/{record['id']}/duplicates")

    assert response.status_code == 200
    # Any of its phones or addresses among any of theirs, each item saying which.
    assert [(r["id"], r["matched"]) for r in response.get_json()["items"]] == [
        (by_phone["id"], {"phones": ["+12025550111"], "emails": [], "similar_name": False}),
        (by_email["id"], {"phones": [], "emails": ["bob@example.com"], "similar_name": False}),
        (by_second_phone["id"], {"phones": ["+12025550222"], "emails": [],
                                 "similar_name": False}),
        (by_second_email["id"], {"phones": [], "emails": ["dee@example.com"],
                                 "similar_name": False})]


def test_a_records_candidates_include_its_name_with_nicknames(admin_api, new_lead):
    robert = new_lead(full_name="Robert Birch", company="Acme")
    bobby = new_lead(full_name="Birch, Bobby", company="ACME Inc.")
    new_lead(full_name="Bill Birch", company="Acme")  # a nickname of Robert, not of Bob
    new_lead(full_name="Robert Birch", company="Globex")  # another company
    bob = new_lead(full_name="Bob Birch", company="Acme")

    response = admin_api.get(f"/api/v1/leads/{bob['id']}/duplicates")

    items = response.get_json()["items"]
    assert [r["id"] for r in items] == [robert["id"], bobby["id"]]
    assert items[0]["matched"] == {"phones": [], "emails": [], "similar_name": True}
    # The list walks one sound key at a time: it gathers only those that
    # sound alike too.
    assert sets_of(admin_api, "/api/v1/leads/duplicates")[0] == [[bobby["id"], bob["id"]]]


def test_sets_share_a_phone_whichever_of_theirs_it_is(admin_api, new_lead):
    first = new_lead(full_name="A", phones=["+1 202 555 0111"])
    second = new_lead(full_name="B", phones=["+12025550111", "+12025550999"])
    third = new_lead(full_name="C", phones=["+1-202-555-0111"])
    fourth = new_lead(full_name="D", phones=["+12025550999"])  # another's second phone
    fifth = new_lead(full_name="E", phones=["+12025550888", "+4930123456"])
    sixth = new_lead(full_name="F", phones=["+12025550777", "+49 30 123456"])  # both second
    no_phone = new_lead(full_name="a")
    new_lead(full_name="G", phones=["+12025550666"], emails=["+12025550777@example.com"])

    sets, body = sets_of(admin_api, "/api/v1/leads/duplicates?by=phone")

    # In the order of the phone they share.
    assert sets == [[first["id"], second["id"], third["id"]], [second["id"], fourth["id"]],
                    [fifth["id"], sixth["id"]]]
    assert [(s["by"], s["shared"], s["total"]) for s in body["items"]] == [
        ("phone", "+12025550111", 3), ("phone", "+12025550999", 2), ("phone", "+4930123456", 2)]
    # By name, the two As are a set whatever their phones.
    _, by_name = sets_of(admin_api, "/api/v1/leads/duplicates?by=name")
    assert [([r["id"] for r in s["records"]], s["shared"]) for s in by_name["items"]] == [
        ([first["id"], no_phone["id"]], None)]


def test_the_same_phone_is_the_same_number_with_the_same_extension(admin_api, new_lead):
    """The number with another extension, or with none, is someone else at the
    same switchboard, or the switchboard: not a likely duplicate."""
    ada = new_lead(full_name="Ada", phones=["(650) 253-0000 ext. 42"])
    ada_again = new_lead(full_name="Bea", phones=["+12025550101", "+16502530000;ext=42"])
    new_lead(full_name="Cy", phones=["650 253 0000 x43"])  # a colleague
    board = new_lead(full_name="Di", phones=["+16502530000"])
    board_again = new_lead(full_name="Ed", phones=["+12025550102", "(650) 253-0000"])

    items = admin_api.get(f"/api/v1/leads/{ada['id']}/duplicates").get_json()["items"]

    assert [(r["id"], r["matched"]["phones"]) for r in items] == [
        (ada_again["id"], ["+16502530000;ext=42"])]
    sets, body = sets_of(admin_api, "/api/v1/leads/duplicates?by=phone")
    assert sets == [[board["id"], board_again["id"]], [ada["id"], ada_again["id"]]]
    assert [s["shared"] for s in body["items"]] == ["+16502530000", "+16502530000;ext=42"]


def test_sets_share_an_address_whichever_of_theirs_it_is(admin_api, new_lead):
    work = new_lead(full_name="Ann", emails=["ann@acme.example"])
    home = new_lead(full_name="Annie", emails=["ann@home.example", "Ann@ACME.example"])
    both = [new_lead(full_name=n, emails=[f"{n}@example.com", "office@example.com"])
            for n in ("bo", "cy")]
    binned = new_lead(full_name="Di", emails=["di@example.com", "office@example.com"])
    assert admin_api.delete(f"/api/v1/leads/{binned['id']}").status_code == 204
    new_lead(full_name="Ed", emails=["ed@example.com", "+12025550111@example.com"],
             phones=["+12025550111"])

    sets, body = sets_of(admin_api, "/api/v1/leads/duplicates?by=email")

    assert sets == [[work["id"], home["id"]], [both[0]["id"], both[1]["id"]]]
    assert [(s["by"], s["shared"]) for s in body["items"]] == [
        ("email", "ann@acme.example"), ("email", "office@example.com")]
    assert sets_of(admin_api, "/api/v1/leads/duplicates?by=phone")[0] == []


@pytest.mark.parametrize("by", ["phone", "email"])
def test_phone_and_address_pages_merge_first_and_other_keys_in_order(
        admin_api, new_lead, monkeypatch, by):
    """Whatever the reads' limit, every value several records hold comes once,
    in order, with all its holders: the two reads are cut at different
    values and merged."""
    monkeypatch.setattr("crmcore.services.duplicates.VALUES_PER_READ", 2)
    value = (lambda n: f"+120255501{n:02}") if by == "phone" else \
        (lambda n: f"x{n:02}@example.com")
    draw = random.Random(22)
    held = [draw.sample(range(30), draw.randint(1, 3)) for _ in range(24)]
    holders: dict[str, list[int]] = {}
    for n, numbers in enumerate(held):
        values = [value(k) for k in numbers]
        record = new_lead(full_name=f"R{n}",
                          **{"phones" if by == "phone" else "emails":
                             values if by == "phone" else [f"r{n}@example.com", *values]})
        for v in values:
            holders.setdefault(v, []).append(record["id"])
    expected = [(v, ids) for v, ids in sorted(holders.items()) if len(ids) > 1]

    found, url = [], f"/api/v1/leads/duplicates?by={by}&limit=1"
    while url:
        _, body = sets_of(admin_api, url)
        found += [(s["shared"], s["ids"]) for s in body["items"]]
        url = body["links"]["next"]

    assert found == expected


def test_a_large_set_shows_its_first_ten_and_counts_them_all(admin_api, new_lead):
    ids = [new_lead(full_name=f"Caller {n}", phones=["+12025550100"])["id"] for n in range(12)]

    _, body = sets_of(admin_api, "/api/v1/leads/duplicates?by=phone")

    assert body["items"][0]["total"] == 12
    assert [r["id"] for r in body["items"][0]["records"]] == ids[:10]


def test_pages_follow_the_names_sounds_and_keep_a_sound_whole(admin_api, new_lead):
    expected = []
    # In the order of their sound keys: AN, BN, KM, S.
    for name in ("Kim", "Ben", "Ann"):
        expected.insert(0, [new_lead(full_name=name)["id"], new_lead(full_name=name)["id"]])
    # One name, two companies: two sets, which stay on one page.
    eve = [[new_lead(full_name="Zoe", company=c)["id"] for _ in range(2)] for c in ("A", "B")]
    expected += eve

    pages, url = [], "/api/v1/leads/duplicates?limit=1"
    while url:
        sets, body = sets_of(admin_api, url)
        pages.append(sets)
        url = body["links"]["next"]

    assert pages == [[expected[0]], [expected[1]], [expected[2]], eve]
    assert sets_of(admin_api, "/api/v1/leads/duplicates?limit=3")[0] == expected[:3]


def test_a_user_finds_sets_among_the_records_they_may_see(api_client, make_user, admin_api,
                                                         new_lead):
    sales = api_client(make_user("sales"))
    mine = [new_lead(sales, full_name="Mine")["id"] for _ in range(2)]
    new_lead(sales, full_name="Shared")
    theirs = new_lead(admin_api, full_name="Shared")

    assert sets_of(sales, "/api/v1/leads/duplicates")[0] == [mine]
    everyone = sets_of(admin_api, "/api/v1/leads/duplicates")[0]
    assert mine in everyone and theirs["id"] in everyone[1]


def test_merging_a_set_empties_the_list(admin_api, new_lead):
    keep, other = new_lead(full_name="Twin"), new_lead(full_name="Twin")
    merged = admin_api.post(f"/api/v1/leads/{keep['id']}/merge",
                            json={"other_ids": [other["id"]]})
    assert merged.status_code == 200
    assert sets_of(admin_api, "/api/v1/leads/duplicates")[0] == []


def test_contact_sets(admin_api):
    def contact(**values):
        response = admin_api.post("/api/v1/contacts", json=values)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    grace = [contact(first_name="Grace", last_name="Hopper", company="Navy"),
             contact(first_name="grace", last_name="HOPPER", company="The Navy")]
    contact(first_name="Grace", last_name="Kelly", company="Navy")
    phone = [contact(last_name="A", phones=["+4930123456"]),
             contact(last_name="B", phones=["+49 30 123456"])]

    assert sets_of(admin_api, "/api/v1/contacts/duplicates")[0] == [grace]
    assert sets_of(admin_api, "/api/v1/contacts/duplicates?by=phone")[0] == [phone]


def test_records_said_to_be_different_people_leave_the_list(admin_api, new_lead):
    first, second = new_lead(full_name="Jo Smith")["id"], new_lead(full_name="Jo Smith")["id"]
    url = "/api/v1/leads/duplicates/distinct"

    done = admin_api.post(url, json={"ids": [second, first]})

    assert done.status_code == 200 and done.get_json() == {"marked": 1}
    assert sets_of(admin_api, "/api/v1/leads/duplicates")[0] == []
    timeline = admin_api.get(f"/api/v1/leads/{first}/timeline").get_json()["items"]
    assert (timeline[0]["kind"], timeline[0]["body"]) == (
        "distinct", f"Not a duplicate of #{second}")
    # A third Jo Smith makes a set with the first, never one of all three (the
    # first two are different people); saying all three are marks the new pairs.
    third = new_lead(full_name="Jo Smith")["id"]
    _, body = sets_of(admin_api, "/api/v1/leads/duplicates")
    assert [s["ids"] for s in body["items"]] == [[first, third]]
    assert admin_api.post(url, json={"ids": [first, second, third]}).get_json() == {"marked": 2}
    assert sets_of(admin_api, "/api/v1/leads/duplicates")[0] == []


def test_records_kept_apart_are_not_offered_until_taken_back(api_client, make_user,
                                                              admin_api, new_lead):
    one, two = new_lead(full_name="Al Smith")["id"], new_lead(full_name="Al Smith")["id"]
    assert [r["id"] for r in admin_api.get(f"/api/v1/leads/{one}/duplicates")
            .get_json()["items"]] == [two]
    admin_api.post("/api/v1/leads/duplicates/distinct", json={"ids": [one, two]})

    assert admin_api.get(f"/api/v1/leads/{one}/duplicates").get_json() == {"items": []}
    apart = admin_api.get(f"/api/v1/leads/{two}/distinct").get_json()["items"]
    assert [r["id"] for r in apart] == [one]
    sales = api_client(make_user("sales"))
    assert_problem(sales.get(f"/api/v1/leads/{two}/distinct"), 404)
    assert_problem(sales.delete(f"/api/v1/leads/{two}/distinct/{one}"), 404)

    assert admin_api.delete(f"/api/v1/leads/{two}/distinct/{one}").status_code == 204
    assert [r["id"] for r in admin_api.get(f"/api/v1/leads/{one}/duplicates")
            .get_json()["items"]] == [two]
    assert sets_of(admin_api, "/api/v1/leads/duplicates")[0] == [[one, two]]
    timeline = admin_api.get(f"/api/v1/leads/{two}/timeline").get_json()["items"]
    assert timeline[0]["body"] == f"May be a duplicate of #{one} again"
    assert_problem(admin_api.delete(f"/api/v1/leads/{two}/distinct/{one}"), 404)
    assert_problem(admin_api.delete(f"/api/v1/leads/{two}/distinct/{two}"), 404)


def test_saying_records_are_different_is_checked(api_client, make_user, admin_api, new_lead,
                                                 db_session):
    sales = api_client(make_user("sales"))
    mine, also_mine = new_lead(sales, full_name="Mo")["id"], new_lead(sales, full_name="Mo")["id"]
    theirs = new_lead(admin_api, full_name="Mo")["id"]
    url = "/api/v1/leads/duplicates/distinct"

    assert_problem(sales.post(url, json={"ids": [mine, theirs]}), 404)
    for body, field in (({"ids": [mine]}, "ids"), ({"ids": [mine, mine]}, "ids"),
                        ({"ids": [mine, "x"]}, "ids"), ({}, "ids"),
                        ({"ids": [mine, also_mine], "why": "x"}, "why"),
                        ({"ids": [mine, 2**40]}, "ids")):
        assert_problem(sales.post(url, json=body), 422, field)
    assert sets_of(sales, "/api/v1/leads/duplicates")[0] == [[mine, also_mine]]

    # Purged records take their marks with them.
    assert admin_api.post(url, json={"ids": [mine, theirs]}).status_code == 200
    assert admin_api.delete(f"/api/v1/leads/{theirs}").status_code == 204
    assert admin_api.delete(f"/api/v1/recycle-bin/lead/{theirs}").status_code == 204
    assert db_session.scalar(select(func.count()).select_from(DistinctPair)) == 0


@pytest.mark.parametrize(("query", "field"), [
    ("by=address", "by"),
    ("cursor=%21%21", "cursor"),
    ("cursor=AA", "cursor"),
    ("limit=0", "limit"),
    ("limit=101", "limit"),
    ("limit=x", "limit"),
    ("sort=name", "sort"),
    ("by=name&by=phone", "by"),
])
def test_bad_queries_are_refused_by_name(admin_api, query, field):
    assert_problem(admin_api.get(f"/api/v1/leads/duplicates?{query}"), 422, field)


def test_the_list_is_documented(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for plural, title in (("leads", "Lead"), ("contacts", "Contact")):
        get = paths[f"/api/v1/{plural}/duplicates"]["get"]
        assert {p["name"] for p in get["parameters"]} >= {"by", "cursor", "limit"}
        assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{title}DuplicatePage"}
        candidates = paths[f"/api/v1/{plural}/{{record_id}}/duplicates"]["get"]
        assert candidates["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{title}CandidateList"}
        assert "get" in paths[f"/api/v1/{plural}/{{record_id}}/distinct"]
        assert "delete" in paths[f"/api/v1/{plural}/{{record_id}}/distinct/{{other_id}}"]
        post = paths[f"/api/v1/{plural}/duplicates/distinct"]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/DistinctInput"}


def test_a_page_costs_the_same_few_queries_whatever_its_size(admin_api, new_lead,
                                                             sql_statements):
    for n in range(30):
        new_lead(full_name=f"Pair {n}")
        new_lead(full_name=f"pair {n}", phones=["+12025550100"])
    counts = []
    for limit in (2, 25):
        with sql_statements() as statements:
            sets, _ = sets_of(admin_api, f"/api/v1/leads/duplicates?limit={limit}")
        assert len(sets) == limit
        counts.append(len(statements))
    # Token and user, the shared names, their records, the pairs kept apart,
    # the records shown: nothing per set.
    assert counts[0] == counts[1] <= 6, [s[:60] for s in statements]
