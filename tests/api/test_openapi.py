"""The OpenAPI document and the docs page."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import assert_problem

pytestmark = pytest.mark.plugins()

METHODS = {"get", "post", "patch", "put", "delete"}


def test_openapi_document_is_structurally_valid(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] and spec["info"]["version"]
    assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http",
                                                               "scheme": "bearer"}
    assert spec["security"] == [{"bearer": []}]
    assert {"/api/v1/leads", "/api/v1/leads/{record_id}", "/api/v1/contacts",
            "/api/v1/users/me", "/api/v1/stages", "/api/v1/recycle-bin"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert "full_name" in schemas["LeadInput"]["properties"]
    assert "full_name" in schemas["LeadInput"]["required"]
    operation_ids = set()
    for path, methods in spec["paths"].items():
        assert path.startswith("/api/v1/") and "<" not in path
        params_in_path = set(re.findall(r"{(\w+)}", path))
        for method, op in methods.items():
            assert method in METHODS
            assert op["summary"] and op["responses"]
            assert op["operationId"] not in operation_ids
            operation_ids.add(op["operationId"])
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == params_in_path, (path, method)
            refs = re.findall(r'"\$ref": "#/components/schemas/(\w+)"',
                              app.json.dumps(op))
            assert all(ref in schemas for ref in refs), (path, method, refs)
    leads = spec["paths"]["/api/v1/leads"]
    assert {"get", "post"} <= set(leads)
    assert leads["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LeadInput"}
    assert "201" in leads["post"]["responses"]
    assert {p["name"] for p in leads["get"]["parameters"]} >= {"sort", "cursor", "limit", "q"}
    assert spec["paths"]["/api/v1/openapi.json"]["get"]["security"] == []


def test_docs_page_renders_without_inline_styles_or_scripts(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<h2><code>GET /api/v1/leads</code></h2>" in html
    assert "POST /api/v1/leads/{record_id}/convert" in html
    assert "LeadInput" in html and "full_name" in html
    assert "<style" not in html and "style=" not in html and "<script" not in html
    assert "http://" not in html and "https://" not in html
    assert "style-src 'self'" in response.headers["Content-Security-Policy"]


def _query(spec, path):
    return {p["name"]: p for p in spec["paths"][path]["get"]["parameters"] if p["in"] == "query"}


def test_query_parameters_say_what_the_endpoints_take(admin_api):
    spec = admin_api.get("/api/v1/openapi.json").get_json()
    leads = _query(spec, "/api/v1/leads")
    assert leads["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200,
                                        "default": 50}
    assert leads["owner_id"]["schema"] == {"type": "integer", "minimum": 1}
    assert leads["mine"]["schema"] == {"type": "boolean"}
    assert _query(spec, "/api/v1/contacts")["lifecycle_stage"]["schema"]["enum"] == [
        "lead", "prospect", "customer"]
    assert _query(spec, "/api/v1/recycle-bin")["type"]["required"] is True
    # Every value the document offers is taken, and the bounds it gives hold.
    for path, name in (("/api/v1/leads", "sort"), ("/api/v1/contacts", "sort"),
                       ("/api/v1/leads/duplicates", "by"),
                       ("/api/v1/leads/export.csv", "delimiter"),
                       ("/api/v1/custom-fields", "record_type")):
        for value in _query(spec, path)[name]["schema"]["enum"]:
            assert admin_api.get(f"{path}?{name}={value}").status_code == 200, (path, value)
    for path, name in (("/api/v1/leads", "limit"), ("/api/v1/leads/duplicates", "limit"),
                       ("/api/v1/imports", "limit"), ("/api/v1/users", "limit")):
        schema = _query(spec, path)[name]["schema"]
        assert admin_api.get(f"{path}?{name}={schema['maximum']}").status_code == 200
        assert_problem(admin_api.get(f"{path}?{name}={schema['maximum'] + 1}"), 422, name)
        assert_problem(admin_api.get(f"{path}?{name}=0"), 422, name)


def test_bodies_and_answers_are_as_documented(admin_api, new_lead):
    spec = admin_api.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    patch = spec["paths"]["/api/v1/stages/{stage_id}"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StageUpdate"}
    assert "required" not in schemas["StageUpdate"]  # a change names what it changes
    restore = spec["paths"]["/api/v1/recycle-bin/{record_type}/{record_id}/restore"]["post"]
    answer = restore["responses"]["200"]["content"]["application/json"]["schema"]
    assert [ref["$ref"].rsplit("/", 1)[1] for ref in
            schemas[answer["$ref"].rsplit("/", 1)[1]]["oneOf"]] == [
        "LeadOutput", "ContactOutput", "RestoreResult"]
    lead = new_lead(full_name="Back Again")
    assert admin_api.delete(f"/api/v1/leads/{lead['id']}").status_code == 204
    restored = admin_api.post(f"/api/v1/recycle-bin/lead/{lead['id']}/restore").get_json()
    assert set(restored) == set(schemas["LeadOutput"]["properties"])
    docs = admin_api.get("/api/v1/docs").get_data(as_text=True)
    assert ('One of: <a href="#schema-LeadOutput">LeadOutput</a>, '
            '<a href="#schema-ContactOutput">ContactOutput</a>') in docs
