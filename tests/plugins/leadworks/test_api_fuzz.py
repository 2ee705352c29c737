"""Whatever an advertiser's system sends the intake API, it gets a clear answer:
generated bodies (any JSON, and near-valid leads and batches) never make a
server error, and every refusal is a problem document."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.plugins("mail", "leadworks")

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)
FIELDS = ("full_name", "emails", "phones", "company", "source", "tags", "owner_id",
          "campaign", "messages", "custom", "stage_id", "location")
# Leads that are nearly right: the fields the API knows, with any values.
LEAD = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6)
BODIES = (JSON | LEAD | st.fixed_dictionaries({
    "campaign": JSON, "leads": st.lists(LEAD, max_size=4),
    "all_or_nothing": JSON}))


@pytest.fixture
def crm_config(crm_config: dict[str, Any]) -> dict[str, Any]:
    return {**crm_config, "LEADWORKS_RATE_LIMIT": "100000/minute"}


def test_any_body_gets_an_answer_not_a_server_error(make_advertiser, make_key, key_client):
    api = key_client(make_key(make_advertiser()))

    @given(body=BODIES, batch=st.booleans())
    @settings(max_examples=150, suppress_health_check=list(HealthCheck), database=None)
    def answered(body: Any, batch: bool) -> None:
        response = api.post("/api/v1/leadworks/leads/batch" if batch else
                            "/api/v1/leadworks/leads", json=body)
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json"
            assert response.get_json()["detail"]

    answered()
