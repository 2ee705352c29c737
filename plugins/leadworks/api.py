"""The intake API for marketing platforms, under /api/v1/leadworks.

Requests authenticate with an advertiser's key (``Authorization: Bearer``),
never with a session cookie; errors are problem+json like the core API's.
Each POST carries an ``Idempotency-Key``: a retry gets the first answer again.
"""

from __future__ import annotations

import re
from typing import Any

from crmcore_plugins.leadworks.services import (
    access,
    email_history,
    fields,
    idempotency,
    intake,
    submissions,
)
from crmcore_plugins.leadworks.services.idempotency import Answer, Rejected
from crmcore_plugins.leadworks.services.intake import Submitter
from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from crmcore.api.kit import (
    Param,
    doc,
    init_api_blueprint,
    int_arg,
    json_body,
    json_response,
    query_args,
    whole,
)
from crmcore.auth.tokens import token_hash
from crmcore.db import transaction
from crmcore.errors import CrmError, ValidationFailed

DEFAULT_RATE_LIMIT = "120 per minute"
DEFAULT_MAX_BODY = 20 * 1024 * 1024
DEFAULT_BATCH_MAX = 500
PROBLEM = "application/problem+json"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
IDEMPOTENCY_KEY = {"Idempotency-Key": Param(
    "A key of your choosing, 1 to 255 visible ASCII characters: a retry with the same key "
    "and body gets the first answer again (Idempotent-Replayed: true); another body, 422.",
    {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"}, required=True)}


def make_blueprint(app: Flask) -> Blueprint:
    """A blueprint of its own per application: its rate limit and error
    handlers are set up for that application's limiter."""
    blueprint = Blueprint("leadworks_api", __name__, url_prefix="/api/v1/leadworks")
    blueprint.before_request(authenticate)
    blueprint.add_url_rule("/leads", "create_lead", create_lead, methods=["POST"])
    blueprint.add_url_rule("/leads/batch", "create_batch", create_batch, methods=["POST"])
    blueprint.add_url_rule("/leads", "list_leads", list_leads, methods=["GET"])
    init_api_blueprint(app, blueprint, rate_limit=rate_limit, rate_key=rate_key)
    return blueprint


def rate_limit() -> str:
    return str(current_app.config.get("LEADWORKS_RATE_LIMIT", DEFAULT_RATE_LIMIT))


def bearer() -> str | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


def rate_key() -> str:
    """Requests count against their key (its hash: keys are never kept in clear)."""
    key = bearer()
    return "leadworks-key:" + token_hash(key) if key else \
        "leadworks-addr:" + (request.remote_addr or "unknown")


def sessions() -> Any:
    return current_app.extensions["crm"].sessions


def authenticate() -> None:
    limit = int(current_app.config.get("LEADWORKS_MAX_BODY_BYTES", DEFAULT_MAX_BODY))
    request.max_content_length = limit  # also caps bodies sent without Content-Length
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"The body may be at most {limit} bytes.")
    with transaction(sessions()) as session:
        advertiser, api_key = access.advertiser_for_key(session, bearer())
        g.leadworks = Submitter(advertiser.id, advertiser.name, "api", api_key_id=api_key.id)


def submitter() -> Submitter:
    return g.leadworks  # type: ignore[no-any-return]


def idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not KEY_PATTERN.fullmatch(key):
        raise CrmError("Send an Idempotency-Key header (1 to 255 visible ASCII characters) "
                       "so that a retry never creates twice.",
                       {"Idempotency-Key": ["Required."]})
    return key


def respond(answer: Answer) -> Response:
    response = json_response(answer.body, answer.status)
    if answer.status >= 400:
        response.mimetype = PROBLEM
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def rejected(error: CrmError, refusals: int = 0) -> Rejected:
    return Rejected(Answer(error.status, idempotency.problem_body(error.status, error)), refusals)


@doc("leadworks", body="IntakeLead", response="IntakeAnswer", status=201,
     request_headers=IDEMPOTENCY_KEY)
def create_lead() -> Response:
    """One lead: the lead form's fields, ``campaign`` and optional ``messages``
    (raw RFC 822 text, or ``{"base64": ...}``) exchanged with the person."""
    key = idempotency_key()
    data = json_body()
    who = submitter()
    campaign = data.get("campaign")

    def work(session: Any) -> Answer:
        try:
            messages = email_history.decode_messages(session, data.get("messages"))
            lead_fields = {k: v for k, v in data.items() if k not in ("campaign", "messages")}
            created = intake.submit_lead(session, who, campaign, lead_fields, messages)
        except intake.Duplicate as exc:
            raise rejected(exc, refusals=1) from None
        except CrmError as exc:
            raise rejected(exc) from None
        lead = created.lead
        return Answer(201, {"id": lead.id, "status": "created", "campaign": str(campaign).strip(),
                            "stage": intake.stage_names(session, [lead.id]).get(lead.id, ""),
                            "messages": created.messages})

    return respond(idempotency.run_idempotent(sessions(), who, str(campaign or "").strip(),
                                              key, idempotency.body_hash(data), work))


BATCH_KEYS = {"campaign", "leads", "all_or_nothing"}


@doc("leadworks", body="IntakeBatch", response="IntakeBatchAnswer",
     request_headers=IDEMPOTENCY_KEY)
def create_batch() -> Response:
    """Many leads of one campaign: ``{"campaign", "leads": [...], "all_or_nothing"}``.
    Each item gets its own result; invalid and known ones are left out and the
    rest created, unless ``all_or_nothing`` asks to create none then."""
    key = idempotency_key()
    data = json_body()
    unknown = sorted(set(data) - BATCH_KEYS)
    items = data.get("leads")
    errors: dict[str, list[str]] = {k: ["Unknown field."] for k in unknown}
    if not isinstance(items, list) or not items:
        errors["leads"] = ["A non-empty list of leads."]
    if not isinstance(data.get("all_or_nothing", False), bool):
        errors["all_or_nothing"] = ["true or false."]
    if errors:
        raise ValidationFailed("The input has errors; see the fields.", errors)
    limit = int(current_app.config.get("LEADWORKS_BATCH_MAX", DEFAULT_BATCH_MAX))
    if len(items) > limit:  # type: ignore[arg-type]
        raise RequestEntityTooLarge(f"A batch may hold at most {limit} leads; split it.")
    all_or_nothing = bool(data.get("all_or_nothing", False))
    who = submitter()
    campaign_text = str(data.get("campaign") or "").strip()

    def work(session: Any) -> Answer:
        try:
            campaign = fields.check_campaign(data.get("campaign"))
        except CrmError as exc:
            raise rejected(exc) from None
        prepared = intake.prepare_batch(session, items)  # type: ignore[arg-type]
        if all_or_nothing and any(e.status for e in prepared):
            raise _refused_whole(prepared)
        # Another request may take an address between the check and the write:
        # that item alone is refused (or, all or nothing, the whole batch).
        intake.write_batch(session, who, campaign, prepared, all_or_nothing=all_or_nothing)
        if all_or_nothing and any(e.status != 201 for e in prepared):
            raise _refused_whole(prepared)
        duplicates = sum(1 for e in prepared if e.status == 409)
        intake.record_refusal(session, who, campaign, duplicates)
        stages = intake.stage_names(session, [e.lead_id for e in prepared if e.lead_id])
        return Answer(200, {
            "campaign": campaign, "all_or_nothing": all_or_nothing,
            "created": sum(1 for e in prepared if e.status == 201),
            "refused_duplicates": duplicates,
            "invalid": sum(1 for e in prepared if e.status not in (201, 409)),
            "results": [e.result(stages) for e in prepared]})

    return respond(idempotency.run_idempotent(sessions(), who, campaign_text, key,
                                              idempotency.body_hash(data), work))


def _refused_whole(prepared: list[intake.BatchItem]) -> Rejected:
    """All or nothing, and something failed: nothing is created; every failed
    item is named with its errors."""
    failed = {str(e.index): e.errors for e in prepared if e.status not in (0, 201)}
    only_duplicates = all(e.status == 409 for e in prepared if e.status not in (0, 201))
    status = 409 if only_duplicates else 422
    error = CrmError(f"{len(failed)} of {len(prepared)} leads were refused; nothing was "
                     "created (all or nothing).", {"leads": failed})
    error.title = "Conflict" if status == 409 else "Validation failed"
    return Rejected(Answer(status, idempotency.problem_body(status, error)),
                    sum(1 for e in prepared if e.status == 409))


@doc("leadworks", response="IntakeSubmissionPage", query={
    "limit": whole("How many, 1 to 200 (50).", high=200, default=50),
    "before": whole("From next_before: the submissions before that one.", low=0),
    "campaign": "Only this campaign's."})
def list_leads() -> Response:
    """The leads this advertiser handed over, newest first, with their stage."""
    args = query_args({"limit", "before", "campaign"})
    limit = int_arg(args, "limit", 50)
    before = int_arg(args, "before", 0, low=0, high=2**31 - 1)
    with sessions()() as session:
        rows = submissions.own_submissions(session, submitter().advertiser_id, limit=limit + 1,
                                           before=before or None, campaign=args.get("campaign"))
    following = rows[limit - 1].id if len(rows) > limit else None
    return json_response({"items": [
        {"submission_id": r.id, "lead_id": r.lead_id, "full_name": r.name, "email": r.email,
         "campaign": r.campaign, "channel": r.channel, "stage": r.stage,
         "submitted_at": r.created_at.isoformat()} for r in rows[:limit]],
        "next_before": following})
