"""Bearer tokens: the only way in; every refusal is a 401 problem."""

from __future__ import annotations

import pytest

from crmcore.testing import https_client
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.plugins()


def assert_401(response):
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_no_token_or_a_bad_one_is_401(app, client):
    assert_401(client.get("/api/v1/leads"))
    assert_401(client.post("/api/v1/leads", json={"full_name": "x"}))
    for header in ("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer crm_not-a-real-token",
                   "Token crm_abc"):
        assert_401(client.get("/api/v1/users/me", headers={"Authorization": header}))


def test_revoked_token_is_401(app, api_client, make_user):
    from crmcore.auth.tokens import token_hash
    from crmcore.db import transaction
    from crmcore.models import ApiToken
    from crmcore.services.users import revoke_token

    user = make_user("sales")
    api = api_client(user)
    assert api.get("/api/v1/users/me").get_json()["id"] == user.id
    with transaction(app.extensions["crm"].sessions) as s:
        token = s.query(ApiToken).filter_by(token_hash=token_hash(api.token)).one()
        revoke_token(s, s.merge(user), token.id)
    assert_401(api.get("/api/v1/users/me"))


def test_deactivated_user_is_401(admin_api, api_client, make_user):
    user = make_user("sales")
    api = api_client(user)
    assert api.get("/api/v1/leads").status_code == 200
    response = admin_api.patch(f"/api/v1/users/{user.id}", json={"is_active": False})
    assert response.status_code == 200 and response.get_json()["is_active"] is False
    assert_401(api.get("/api/v1/leads"))


def test_a_session_cookie_is_no_way_into_the_api(app, make_user):
    """Even a signed-in browser session is not an API credential."""
    user = make_user("admin")
    client = https_client(app)
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session["_sv"] = user.session_version
    assert_401(client.get("/api/v1/users/me"))
    assert_401(client.post("/api/v1/leads", json={"full_name": "x"}))


def test_api_writes_need_no_csrf_token(app, admin_api):
    app.config["WTF_CSRF_ENABLED"] = True
    assert admin_api.post("/api/v1/leads", json={"full_name": "x"}).status_code == 201


def test_api_sets_no_cookie(admin_api):
    response = admin_api.post("/api/v1/leads", json={"full_name": "x"})
    assert "Set-Cookie" not in response.headers


def test_unknown_paths_and_methods_under_api_are_problems(client, admin_api):
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert_problem(client.get("/api/v2/leads"), 404)
    response = admin_api.put("/api/v1/leads", json={})
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]
    # outside the API, routing errors are not problems
    assert client.get("/no-such-page").mimetype != "application/problem+json"
