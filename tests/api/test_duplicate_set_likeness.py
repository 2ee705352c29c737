"""The duplicate list's sets hold records alike to each other: likeness does not
chain through a third record, and records kept apart are never in one set."""

from __future__ import annotations

import pytest


def sets_of(api, url):
    """Every set the list gives, following its pages."""
    sets = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        sets += [s["ids"] for s in body["items"]]
        url = body["links"]["next"]
    return sets


def candidates(api, plural, record_id):
    response = api.get(f"/api/v1/{plural}/{record_id}/duplicates")
    assert response.status_code == 200
    return {item["id"] for item in response.get_json()["items"]}


def assert_each_alike_to_every_other(api, plural, sets):
    """What a record's own duplicates say of each member of its set."""
    for ids in sets:
        for one in ids:
            assert set(ids) - {one} <= candidates(api, plural, one), (one, ids)


def test_a_chain_of_companies_makes_sets_of_those_alike(api_client, make_user):
    admin = api_client()
    owner = make_user("sales")

    def contact(company):
        response = admin.post("/api/v1/contacts", json={
            "first_name": "Quirinus", "last_name": "Zabrowski", "company": company,
            "owner_id": owner.id})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    tools, pools, polls, pills = map(contact, ("Kappa Tools", "Kappa Pools", "Kappa Polls",
                                               "Kappa Pills"))

    sets = sets_of(admin, "/api/v1/contacts/duplicates")

    # "Kappa Tools" and "Kappa Pills" are two letters apart: never one set.
    assert sets == [[tools, pools], [polls, pills]]
    assert_each_alike_to_every_other(admin, "contacts", sets)
    assert candidates(admin, "contacts", tools) == {pools}
    # Its owner sees the same sets.
    assert sets_of(api_client(owner), "/api/v1/contacts/duplicates") == sets


def chain(length):
    """Companies each a letter from the one before, and two or more from
    those further along: 'Co 00000', 'Co 10000', 'Co 11000', ..."""
    digits = ["0"] * 5
    companies = []
    for n in range(length):
        companies.append("Co " + "".join(digits))
        digits[n % 5] = str(int(digits[n % 5]) + 1)
    return companies


def test_a_long_chain_is_no_single_set(admin_api, new_lead):
    companies = chain(12)
    ids = [new_lead(full_name="Anna Jensen", company=c)["id"] for c in companies]

    sets = sets_of(admin_api, "/api/v1/leads/duplicates")

    assert sorted(i for s in sets for i in s) == ids
    assert all(len(s) <= 2 for s in sets) and len(sets) == 6
    assert_each_alike_to_every_other(admin_api, "leads", sets)


@pytest.mark.parametrize("limit", [1, 2, 100])
def test_pages_give_each_record_once_whatever_their_size(admin_api, new_lead, limit):
    expected = []
    for name in ("Anna Jensen", "Ben Meyer", "Carla Koch"):
        ids = [new_lead(full_name=name, company=c)["id"] for c in chain(7)]
        # A chain of seven: three pairs, and its last alone.
        expected += [ids[0:2], ids[2:4], ids[4:6]]
        new_lead(full_name=name, company="Elsewhere")

    sets = sets_of(admin_api, f"/api/v1/leads/duplicates?limit={limit}")

    assert sorted(sets) == sorted(expected)


def test_records_kept_apart_are_never_in_one_set(admin_api, new_lead):
    first, second, third = (new_lead(full_name="Jo Smith")["id"] for _ in range(3))
    assert sets_of(admin_api, "/api/v1/leads/duplicates") == [[first, second, third]]

    admin_api.post("/api/v1/leads/duplicates/distinct", json={"ids": [first, second]})

    # The third makes a set with the oldest it may: merging all of it never
    # merges two people said to be different.
    assert sets_of(admin_api, "/api/v1/leads/duplicates") == [[first, third]]
    admin_api.post("/api/v1/leads/duplicates/distinct", json={"ids": [first, third]})
    assert sets_of(admin_api, "/api/v1/leads/duplicates") == [[second, third]]


def test_records_kept_apart_share_no_phone_set(admin_api, new_lead):
    one, two, three = (new_lead(full_name=f"Caller {n}", phones=["+12025550100"])["id"]
                       for n in range(3))
    admin_api.post("/api/v1/leads/duplicates/distinct", json={"ids": [two, three]})

    assert sets_of(admin_api, "/api/v1/leads/duplicates?by=phone") == [[one, two]]


def test_companies_a_letter_apart_in_any_word_make_one_set(admin_api, new_lead):
    ids = [new_lead(full_name="Anna Jensen", company=c)["id"] for c in (
        "Globex Networks", "Globex Network", "GLOBEX NETWORSK Ltd", "Glóbex Netwerks",
        "Globx Networks", "Globex")]
    no_company = [new_lead(full_name="Anna Jensen")["id"] for _ in range(2)]

    sets = sets_of(admin_api, "/api/v1/leads/duplicates")

    # Each a letter from "Globex Networks" in one word or another, and from each
    # other; "Glóbex Netwerks" is two from "Globex Network", "Globex" a word short.
    assert sets == [[*ids[:3], ids[4]], no_company]
    assert_each_alike_to_every_other(admin_api, "leads", sets)
