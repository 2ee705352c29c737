"""The intake API against the OpenAPI document it joins (``crm_api_schemas``):
requests generated from it with an advertiser's key never make a server
error, and every answer's status, media type and body are as documented."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.plugins("mail", "leadworks")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def crm_config(crm_config: dict[str, Any]) -> dict[str, Any]:
    return {**crm_config, "LEADWORKS_RATE_LIMIT": "100000/minute"}


def test_the_intake_answers_as_documented(app, make_advertiser, make_key, key_client):
    key = make_key(make_advertiser())
    api = key_client(key)
    # Something to list, so that a page's items are checked too.
    assert api.post("/api/v1/leadworks/leads", json={
        "campaign": "spring", "full_name": "Ada Lovelace",
        "emails": ["ada@example.com"]}).status_code == 201
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    intake = [op for op in operations if op.path.startswith("/api/v1/leadworks/")]
    assert len(intake) == 3

    # Answers random bodies seldom reach: a lead created with a message, and a
    # batch of one new lead and one known email.
    by_label = {op.label: op for op in intake}
    message = "From: ada@example.com\r\nSubject: Hello\r\nMessage-ID: <1@x>\r\n\r\nHi\r\n"
    for label, body, status in (
            ("POST /api/v1/leadworks/leads", {
                "campaign": "spring", "full_name": "Grace Hopper",
                "emails": ["grace@example.com"], "messages": [message]}, 201),
            ("POST /api/v1/leadworks/leads/batch", {"campaign": "spring", "leads": [
                {"full_name": "Alan Turing", "emails": ["alan@example.com"]},
                {"full_name": "Ada Again", "emails": ["ada@example.com"]}]}, 200)):
        case = by_label[label].Case(body=body, media_type="application/json",
                                    headers={"Idempotency-Key": f"fixed-{status}"})
        answer = case.call_and_validate(headers={"Authorization": f"Bearer {key}"},
                                        checks=CHECKS)
        assert answer.status_code == status, answer.text

    for operation in intake:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, suppress_health_check=list(HealthCheck), database=None)
        def answers_as_documented(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

        answers_as_documented()
