"""NUL (U+0000), which no column stores, is a 422 naming the field wherever an
API request carries it; PostgreSQL used to refuse the statement (a 500)."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from crmcore.models import ImportJob, Lead
from tests.api.conftest import assert_problem

NUL_MESSAGE = "Contains the NUL character (U+0000), which cannot be stored."


def stored(app, model=Lead) -> int:
    with app.extensions["crm"].sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_json_bodies_name_each_field_holding_nul(app, admin_api, new_lead):
    body = assert_problem(admin_api.post("/api/v1/leads", json={
        "full_name": "Ada\u0000", "tags": ["ok", "b\u0000d"], "custom": {"k\u0000": 1}}),
        422, "full_name", "tags", "custom")
    assert body["errors"] == {"full_name": [NUL_MESSAGE], "tags": {"1": [NUL_MESSAGE]},
                              "custom": {"k\\u0000": ["The name contains the NUL character "
                                                      "(U+0000)."]}}
    assert body["detail"] == ("Text in custom, full_name, tags contains the NUL character "
                              "(U+0000), which cannot be stored.")
    lead = new_lead()
    assert_problem(admin_api.patch(f"/api/v1/leads/{lead['id']}", json={"company": "\u0000"},
                                   headers={"If-Match": f'"{lead["version"]}"'}), 422, "company")
    assert stored(app) == 1
    assert admin_api.get(f"/api/v1/leads/{lead['id']}").get_json()["company"] == ""


def test_query_parameters_holding_nul_are_refused(admin_api):
    for query in ("q=ad%00a", "source=%00", "company=x%00", "tag=%00"):
        body = assert_problem(admin_api.get(f"/api/v1/leads?{query}"), 422)
        assert body["errors"] == {query.split("=")[0]: [NUL_MESSAGE]}
    assert_problem(admin_api.get("/api/v1/leads.csv?q=%00"), 404)  # no such route
    assert_problem(admin_api.get("/api/v1/leads/export.csv?q=%00"), 422, "q")


def test_uploads_holding_nul_in_a_field_or_file_name_are_refused(app, admin_api):
    def upload(name: str = "people.csv", **form: str):
        file = io.BytesIO(b"full_name\r\nAda\r\n"), name
        return admin_api.post("/api/v1/leads/imports", data={**form, "file": file},
                              content_type="multipart/form-data")

    assert_problem(upload(name="peo\x00ple.csv"), 422, "file")
    assert_problem(upload(on_duplicate="skip\x00"), 422, "on_duplicate")
    assert stored(app, ImportJob) == 0


def test_a_path_segment_holding_nul_names_nothing(admin_api):
    assert_problem(admin_api.get("/api/v1/leads/1%00"), 404)
