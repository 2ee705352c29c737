"""The OpenAPI document and the docs page."""

from __future__ import annotations

import re

import pytest

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
