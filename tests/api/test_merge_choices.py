"""POST /api/v1/{leads,contacts}/{id}/merge: a choice of a custom field names
one the records have."""

from __future__ import annotations

from tests.api.conftest import assert_problem


def test_a_custom_choice_names_a_custom_field(admin_api, new_lead):
    assert admin_api.post("/api/v1/custom-fields", json={
        "record_type": "lead", "name": "plan", "label": "Plan", "field_type": "text"}
    ).status_code == 201
    keep = new_lead(full_name="Twin", custom={"plan": "free"})
    other = new_lead(full_name="Twin", custom={"plan": "pro"})
    url = f"/api/v1/leads/{keep['id']}/merge"

    body = assert_problem(admin_api.post(url, json={"other_ids": [other["id"]], "choices": {
        "custom.": other["id"], "custom.plna": other["id"], "custom.plan": other["id"]}}),
        422, "custom.", "custom.plna")
    assert body["errors"]["custom."] == ["Name a custom field after “custom.”."]
    assert body["errors"]["custom.plna"] == ["No custom field of leads is named “plna”."]
    assert "custom.plan" not in body["errors"]
    # Nothing was merged.
    assert admin_api.get(f"/api/v1/leads/{other['id']}").status_code == 200

    merged = admin_api.post(url, json={"other_ids": [other["id"]],
                                       "choices": {"custom.plan": other["id"]}})
    assert merged.status_code == 200 and merged.get_json()["custom"] == {"plan": "pro"}
