"""Users and lead stages."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_problem

pytestmark = pytest.mark.plugins()


def test_users_need_users_manage(admin_api, api_client, make_user):
    sales_user = make_user("sales")
    sales = api_client(sales_user)
    assert_problem(sales.get("/api/v1/users"), 403)
    assert_problem(sales.post("/api/v1/users", json={"email": "x@example.com", "role": "sales"}),
                   403)
    assert_problem(sales.patch(f"/api/v1/users/{sales_user.id}", json={"role": "admin"}), 403)
    assert_problem(sales.get(f"/api/v1/users/{sales_user.id - 1}"), 403)
    me = sales.get("/api/v1/users/me").get_json()
    assert me["id"] == sales_user.id and me["role"] == "sales"
    assert "password_hash" not in me and "password" not in me
    assert sales.get(f"/api/v1/users/{sales_user.id}").get_json() == me


def test_admin_manages_users(admin_api):
    created = admin_api.post("/api/v1/users", json={
        "email": " New.Person@Example.com ", "role": "manager", "name": "New",
        "password": "a long enough passphrase"})
    assert created.status_code == 201, created.get_json()
    user = created.get_json()
    assert user["email"] == "new.person@example.com" and "password" not in user
    assert created.headers["Location"] == f"/api/v1/users/{user['id']}"
    assert admin_api.get(created.headers["Location"]).get_json() == user
    assert_problem(admin_api.post("/api/v1/users", json={"email": "new.person@example.com",
                                                         "role": "sales"}), 409, "email")
    assert_problem(admin_api.post("/api/v1/users", json={"email": "bad", "role": "sales"}),
                   422, "email")
    assert_problem(admin_api.post("/api/v1/users", json={"email": "r@example.com",
                                                         "role": "emperor"}), 422, "role")
    assert_problem(admin_api.post("/api/v1/users", json={"email": "i@example.com",
                                                         "role": "sales", "id": 1}), 422, "id")
    changed = admin_api.patch(f"/api/v1/users/{user['id']}", json={"role": "sales"})
    assert changed.get_json()["role"] == "sales"
    assert_problem(admin_api.patch(f"/api/v1/users/{user['id']}", json={"email": "x@y.z"}),
                   422, "email")
    assert_problem(admin_api.patch("/api/v1/users/99999", json={"name": "x"}), 404)
    listed = admin_api.get("/api/v1/users?limit=1").get_json()
    assert len(listed["items"]) == 1 and listed["links"]["next"]
    walked, url = [], "/api/v1/users?limit=1"
    while url:
        page = admin_api.get(url).get_json()
        walked += [u["id"] for u in page["items"]]
        url = page["links"]["next"]
    assert user["id"] in walked and len(walked) == len(set(walked)) == 2


def test_users_change_only_their_own_name(api_client, make_user):
    api = api_client(make_user("sales"))
    changed = api.patch("/api/v1/users/me", json={"name": "Renamed"})
    assert changed.status_code == 200 and changed.get_json()["name"] == "Renamed"
    for field, value in (("role", "admin"), ("is_active", True), ("id", 1), ("email", "a@b.c")):
        assert_problem(api.patch("/api/v1/users/me", json={field: value}), 422, field)
    assert api.get("/api/v1/users/me").get_json()["role"] == "sales"


def test_stages(admin_api, api_client, make_user):
    stages = admin_api.get("/api/v1/stages").get_json()["items"]
    assert [s["name"] for s in stages] == ["New", "Contacted", "Qualified", "Won", "Lost"]
    sales = api_client(make_user("sales"))
    assert sales.get("/api/v1/stages").get_json()["items"] == stages
    assert_problem(sales.post("/api/v1/stages", json={"name": "Demo"}), 403)
    created = admin_api.post("/api/v1/stages", json={"name": "Demo", "position": 25})
    assert created.status_code == 201, created.get_json()
    stage = created.get_json()
    assert stage["kind"] == "open"
    names = [s["name"] for s in admin_api.get("/api/v1/stages").get_json()["items"]]
    assert names.index("Demo") == 2
    assert_problem(admin_api.post("/api/v1/stages", json={"name": "Demo"}), 409, "name")
    assert_problem(admin_api.post("/api/v1/stages", json={"name": ""}), 422, "name")
    assert_problem(admin_api.post("/api/v1/stages", json={"name": "X", "kind": "maybe"}), 422,
                   "kind")
    assert_problem(admin_api.post("/api/v1/stages", json={"name": "X", "id": 3}), 422, "id")
    assert_problem(sales.patch(f"/api/v1/stages/{stage['id']}", json={"name": "Y"}), 403)
    renamed = admin_api.patch(f"/api/v1/stages/{stage['id']}", json={"name": "Demo call"})
    assert renamed.get_json() == {**stage, "name": "Demo call"}
    assert_problem(admin_api.patch(f"/api/v1/stages/{stage['id']}", json={"name": "Won"}), 409,
                   "name")
    assert_problem(admin_api.patch("/api/v1/stages/9999", json={"name": "Z"}), 404)
    lead = admin_api.post("/api/v1/leads", json={"full_name": "S",
                                                  "stage_id": stage["id"]}).get_json()
    assert lead["stage_id"] == stage["id"]


def test_the_install_keeps_an_active_user_who_manages_users(api_client, make_user):
    first, second = make_user("admin"), make_user("admin")
    one, two = api_client(first), api_client(second)
    assert_problem(one.patch(f"/api/v1/users/{first.id}", json={"is_active": False}),
                   422, "is_active")
    assert one.patch(f"/api/v1/users/{second.id}", json={"role": "manager"}).status_code == 200
    refused = one.patch(f"/api/v1/users/{first.id}", json={"role": "sales"})
    assert_problem(refused, 422, "role")
    assert refused.get_json()["errors"]["role"] == [
        f"{first.email} is the last active user who can manage users."]
    assert one.get("/api/v1/users/me").get_json()["role"] == "admin"
    assert_problem(two.get("/api/v1/users"), 403)  # a manager no longer manages users
    # Given back the role, the second may take the first's away; then not its own.
    assert one.patch(f"/api/v1/users/{second.id}", json={"role": "admin"}).status_code == 200
    assert two.patch(f"/api/v1/users/{first.id}", json={"is_active": False}).status_code == 200
    assert_problem(two.patch(f"/api/v1/users/{second.id}", json={"role": "sales"}), 422, "role")


def test_a_fraction_is_not_a_whole_number(admin_api):
    assert_problem(admin_api.post("/api/v1/stages", json={"name": "Half", "position": 2.7}),
                   422, "position")
    made = admin_api.post("/api/v1/stages", json={"name": "Whole", "position": 3.0})
    assert made.status_code == 201 and made.get_json()["position"] == 3
    assert_problem(admin_api.post("/api/v1/leads", json={"full_name": "F", "owner_id": 1.5}),
                   422, "owner_id")
    assert_problem(admin_api.post("/api/v1/custom-fields", json={
        "record_type": "lead", "name": "f", "label": "F", "field_type": "text",
        "position": 0.5}), 422, "position")
