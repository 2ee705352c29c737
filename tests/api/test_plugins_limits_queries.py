"""Plugin schema fields, rate limits and a constant number of queries per list."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_problem
from tests.fake_plugins import _descriptors


class TestPluginFields:
    @pytest.fixture
    def crm_extra_plugins(self):
        return {"alpha": _descriptors()["alpha"]}

    @pytest.mark.plugins("alpha")
    def test_hook_crm_schema_fields(self, app, admin_api, client):
        from crmcore.db import transaction
        from crmcore.models import Lead

        created = admin_api.post("/api/v1/leads", json={"full_name": "P",
                                                        "alpha_campaign": "spring"})
        assert created.status_code == 201, created.get_json()
        lead = created.get_json()
        assert lead["plugin_data"] == {"alpha_campaign": "spring"}
        with transaction(app.extensions["crm"].sessions) as s:
            assert s.get(Lead, lead["id"]).plugin_data == {"alpha_campaign": "spring"}
        body = assert_problem(admin_api.post("/api/v1/leads", json={
            "full_name": "Q", "alpha_campaign": "far too long a campaign"}), 422,
            "alpha_campaign")
        assert set(body["errors"]) == {"alpha_campaign"}
        changed = admin_api.patch(created.headers["Location"], json={"alpha_campaign": "fall"},
                                  headers={"If-Match": created.headers["ETag"]})
        assert changed.get_json()["plugin_data"] == {"alpha_campaign": "fall"}
        # contacts have no such field
        assert_problem(admin_api.post("/api/v1/contacts", json={
            "last_name": "C", "alpha_campaign": "x"}), 422, "alpha_campaign")
        spec = client.get("/api/v1/openapi.json").get_json()
        assert "alpha_campaign" in spec["components"]["schemas"]["LeadInput"]["properties"]
        assert "alpha_campaign" not in spec["components"]["schemas"]["ContactInput"]["properties"]


class TestRateLimit:
    @pytest.fixture
    def crm_config(self, crm_config):
        return {**crm_config, "API_RATE_LIMIT": "3 per minute"}

    @pytest.mark.plugins()
    def test_fourth_request_is_429_with_retry_after(self, api_client, client):
        api, other = api_client(), api_client()
        for _ in range(3):
            response = api.get("/api/v1/leads")
            assert response.status_code == 200
            assert "Retry-After" not in response.headers
        assert response.headers["X-RateLimit-Remaining"] == "0"
        limited = api.get("/api/v1/leads")
        assert_problem(limited, 429)
        assert 1 <= int(limited.headers["Retry-After"]) <= 61
        # the limit is per token
        assert other.get("/api/v1/leads").status_code == 200
        # outside the API there is no limit
        for _ in range(5):
            assert client.get("/healthz").status_code == 200


def test_rate_limit_comes_from_the_environment(monkeypatch, tmp_path):
    from crmcore.app import create_app

    monkeypatch.setenv("CRM_API_RATE_LIMIT", "7 per hour")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "PLUGINS": "",
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    assert app.config["API_RATE_LIMIT"] == "7 per hour"
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "PLUGINS": "",
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                      "API_RATE_LIMIT": "9 per hour"})
    assert app.config["API_RATE_LIMIT"] == "9 per hour"


@pytest.mark.plugins()
@pytest.mark.parametrize("path", ["/api/v1/leads", "/api/v1/contacts"])
def test_list_query_count_does_not_grow_with_page_size(app, api_client, make_user, path,
                                                       sql_statements):
    from crmcore.db import transaction
    from crmcore.services import records as svc

    admin = make_user("admin")
    kind = svc.LEADS if path.endswith("leads") else svc.CONTACTS
    name = "full_name" if kind is svc.LEADS else "last_name"
    with transaction(app.extensions["crm"].sessions) as s:
        for i in range(60):
            svc.create(s, s.merge(admin), kind, {name: f"R{i}", "emails": [f"r{i}@example.com"],
                                                 "tags": ["t"]})
    api = api_client(admin)
    counts = []
    for limit in (5, 50):
        with sql_statements() as statements:
            response = api.get(f"{path}?limit={limit}")
        assert response.status_code == 200
        assert len(response.get_json()["items"]) == limit
        counts.append(len(statements))
    with sql_statements() as statements:
        assert api.get(f"{path}?limit=50&tag=t&q=r").status_code == 200
    filtered = len(statements)
    assert counts[0] == counts[1] == filtered
    assert counts[0] <= 6, [s[:60] for s in statements]  # no per-row queries
