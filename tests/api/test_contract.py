"""The API against its own OpenAPI document: requests generated from the
document (schemathesis), valid and not, never make a server error, and every
answer has a status, media type and body the document gives for it."""

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

pytestmark = pytest.mark.plugins()

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# Requests per operation: each finds the commonest slips of its kind; the
# operations together are a few hundred requests, seconds on SQLite.
EXAMPLES = 8


@pytest.fixture
def crm_config(crm_config: dict[str, Any]) -> dict[str, Any]:
    return {**crm_config, "API_RATE_LIMIT": "100000/minute"}


# An admin may do anything; a sales user meets the refusals (403, 404) too.
@pytest.mark.parametrize("role", ["admin", "sales"])
def test_every_answer_is_as_documented(app: Any, api_client: Any, make_user: Any,
                                       new_lead: Any, role: str) -> None:
    admin = api_client(make_user("admin"))
    new_lead(admin, full_name="Ada Lovelace", emails=["ada@example.com"])
    caller = admin if role == "admin" else api_client(make_user(role))
    headers = {"Authorization": f"Bearer {caller.token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck),
                  database=None)
        def answers_as_documented(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        answers_as_documented()
