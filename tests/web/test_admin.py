"""Administration pages and plugin hooks in the web UI."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crmcore.models import LeadStage, User
from crmcore.testing import https_client
from tests.fake_plugins import _descriptors

ADMIN_PAGES = ("/admin/users", "/admin/stages", "/admin/custom-fields", "/admin/plugins")


@pytest.mark.parametrize("role", ["sales", "manager"])
def test_admin_pages_need_permission(client, make_user, login, role):
    login(client, make_user(role))
    for url in ADMIN_PAGES:
        assert client.get(url).status_code in (403, 404), url
    assert client.post("/admin/users", data={"email": "x@example.com", "role": "admin"}) \
        .status_code in (403, 404)
    assert client.post("/admin/stages", data={"name": "Sneaky"}).status_code in (403, 404)
    assert b">Admin<" not in client.get("/").data


def test_admin_creates_and_deactivates_users(app, client, make_user, login, db_session):
    admin = make_user("admin")
    login(client, admin)
    page = client.get("/admin/users")
    assert page.status_code == 200 and admin.email.encode() in page.data
    response = client.post("/admin/users", data={
        "email": "New.Person@Example.com", "name": "New Person", "role": "sales",
        "password": "a good long password"})
    assert response.status_code == 303
    user = db_session.scalar(select(User).where(User.email == "new.person@example.com"))
    assert user.role == "sales"
    duplicate = client.post("/admin/users", data={
        "email": "new.person@example.com", "role": "sales"})
    assert duplicate.status_code == 409 and b"Already in use." in duplicate.data
    bad = client.post("/admin/users", data={"email": "nope", "role": "wizard",
                                            "password": "short"})
    assert bad.status_code == 422
    victim = https_client(app)
    victim.post("/login", data={"email": user.email, "password": "a good long password"})
    assert victim.get("/").status_code == 200
    assert client.post(f"/admin/users/{user.id}/active", data={"active": "0"}).status_code == 303
    assert victim.get("/").status_code == 302  # the deactivated user's session died
    refused = client.post(f"/admin/users/{admin.id}/active", data={"active": "0"},
                          follow_redirects=True)
    assert b"You cannot deactivate yourself." in refused.data
    db_session.rollback()  # a new snapshot: the request committed in another session
    assert db_session.get(User, admin.id).is_active
    promoted = client.post(f"/admin/users/{user.id}/role", data={"role": "manager"},
                           follow_redirects=True)
    assert f"The role of {user.email} is now Manager.".encode() in promoted.data
    db_session.rollback()
    assert db_session.get(User, user.id).role == "manager"
    unknown = client.post(f"/admin/users/{user.id}/role", data={"role": "emperor"},
                          follow_redirects=True)
    assert b"Unknown role; choose one of:" in unknown.data
    last = client.post(f"/admin/users/{admin.id}/role", data={"role": "sales"},
                       follow_redirects=True)
    assert f"{admin.email} is the last active user who can manage users.".encode() in last.data
    db_session.rollback()
    assert db_session.get(User, admin.id).role == "admin"
    page = client.get("/admin/users").get_data(as_text=True)
    assert f'<label class="visually-hidden" for="role-{user.id}">Role of {user.email}</label>' \
        in page


def test_admin_edits_stages(client, make_user, login, db_session):
    login(client, make_user("admin"))
    assert b"Qualified" in client.get("/admin/stages").data
    assert client.post("/admin/stages", data={"name": "Demo booked", "position": "25",
                                              "kind": "open"}).status_code == 303
    stage = db_session.scalar(select(LeadStage).where(LeadStage.name == "Demo booked"))
    assert stage.position == 25
    assert client.post("/admin/stages", data={"name": "Qualified"}).status_code == 409
    bad = client.post(f"/admin/stages/{stage.id}", data={"name": "Demo", "kind": "maybe"})
    assert bad.status_code == 422
    assert client.post(f"/admin/stages/{stage.id}", data={
        "name": "Demo held", "position": "26", "kind": "open"}).status_code == 303
    db_session.rollback()
    assert db_session.get(LeadStage, stage.id).name == "Demo held"


class TestWithAlpha:
    @pytest.fixture
    def crm_extra_plugins(self):
        return {"alpha": _descriptors()["alpha"]}

    @pytest.mark.plugins("alpha")
    def test_hook_crm_nav_items(self, client, make_user, login):
        login(client, make_user("sales"))
        text = client.get("/leads").get_data(as_text=True)
        assert '<a href="/alpha/ping">Alpha</a>' in text
        # ordered by NavItem.order: Dashboard 10, Leads 20, Contacts 30, Imports 40,
        # Alpha 50, Bin 80
        nav = text.split('<nav class="nav"')[1].split("</nav>")[0]
        labels = [part.split("<")[0] for part in nav.split('">')[1:] if "</a>" in part]
        assert labels == ["Dashboard", "Leads", "Contacts", "Imports", "Alpha", "Recycle bin"]

    @pytest.mark.plugins("alpha")
    def test_hook_crm_dashboard_widgets(self, client, make_user, login):
        login(client, make_user("sales"))
        text = client.get("/").get_data(as_text=True)
        assert "<h2>Alpha widget</h2>" in text
        assert "<p>alpha <b>widget</b></p>" in text  # trusted plugin markup, not escaped

    @pytest.mark.plugins("alpha")
    def test_plugin_fields_and_plugin_page(self, client, make_user, login):
        login(client, make_user("admin"))
        form = client.get("/leads/new").get_data(as_text=True)
        assert 'name="alpha_campaign"' in form
        response = client.post("/leads/new", data={"full_name": "P", "alpha_campaign": "x" * 11})
        assert response.status_code == 422
        response = client.post("/leads/new", data={"full_name": "P", "alpha_campaign": "spring"})
        assert response.status_code == 303
        assert b"spring" in client.get(response.location).data
        plugins = client.get("/admin/plugins").get_data(as_text=True)
        assert "alpha" in plugins and "1.2.3" in plugins and "crm_nav_items" in plugins

    @pytest.mark.plugins("alpha")
    def test_external_role_does_not_see_the_crm(self, client, make_user, login):
        login(client, make_user("alpha_partner"))
        for url in ("/leads", "/contacts/1", "/admin/users", "/imports"):
            assert client.get(url).status_code == 404, url
        # Their own account pages still work; the front page has no home to send
        # them to (alpha's role names none), so it does not exist either.
        assert client.get("/account/password").status_code == 200
        assert client.get("/").status_code == 404
        assert "Leads" not in client.get("/account/password").get_data(as_text=True)
