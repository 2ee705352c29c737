"""The API's idempotent requests: each POST carries an ``Idempotency-Key``,
and a retry with the same key and body gets the first answer again (refusals
included) for 24 hours; the same key with another body is 422."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from crmcore_plugins.leadworks.models import IdempotentRequest
from crmcore_plugins.leadworks.services.intake import Submitter, record_refusal
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crmcore.db import transaction, utcnow
from crmcore.errors import Conflict, CrmError, ValidationFailed

IDEMPOTENCY_HOURS = 24


@dataclass
class Answer:
    """An answer of the API as it is stored for replays."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


class Rejected(Exception):
    """Roll the work back and answer this (a 409 or 422 is an answer too: a
    retry must get it again), recording ``refusals`` duplicates."""

    def __init__(self, answer: Answer, refusals: int = 0) -> None:
        super().__init__(answer.status)
        self.answer = answer
        self.refusals = refusals


def body_hash(data: Any) -> str:
    """A hash of the request's meaning: the same JSON however it is spaced."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def problem_body(status: int, error: CrmError) -> dict[str, Any]:
    """``error`` as an application/problem+json body."""
    body: dict[str, Any] = {"type": "about:blank", "title": error.title, "status": status,
                            "detail": error.detail}
    if error.errors:
        body["errors"] = error.errors
    return body


def _replay(session: Session, advertiser_id: int, key: str, digest: str) -> Answer | None:
    row = session.scalar(select(IdempotentRequest).where(
        IdempotentRequest.advertiser_id == advertiser_id, IdempotentRequest.key == key))
    if row is None:
        return None
    if row.body_hash != digest:
        raise ValidationFailed(
            "This Idempotency-Key was used for a different request; use a new key.",
            {"Idempotency-Key": ["Used before with a different body."]})
    return Answer(row.status, row.response, replayed=True)


def run_idempotent(sessions: sessionmaker[Session], submitter: Submitter, campaign: str,
                   key: str, digest: str, work: Callable[[Session], Answer]) -> Answer:
    """Run ``work`` once per (advertiser, key) and store its answer. The key is
    claimed by a row with a unique constraint in the work's own transaction: a
    concurrent twin's claim waits for the first to commit and then replays its
    answer, so that a lead is never created twice. ``work`` raises
    :class:`Rejected` to roll its own changes back and answer; the claim then
    keeps that answer and the refused duplicates are counted."""
    with sessions() as session:
        answer = _replay(session, submitter.advertiser_id, key, digest)
        if answer is not None:
            return answer
    with transaction(sessions) as session:
        session.execute(delete(IdempotentRequest).where(
            IdempotentRequest.advertiser_id == submitter.advertiser_id,
            IdempotentRequest.created_at < utcnow() - timedelta(hours=IDEMPOTENCY_HOURS)))
        claim = IdempotentRequest(advertiser_id=submitter.advertiser_id, key=key,
                                  body_hash=digest, status=0, response={})
        try:
            with session.begin_nested():
                session.add(claim)
        except IntegrityError:
            # The twin that holds the key has committed (the insert waited for
            # it), and a new statement sees its answer.
            answer = _replay(session, submitter.advertiser_id, key, digest)
            if answer is None:
                raise Conflict("A request with this Idempotency-Key is in progress; "
                               "retry.") from None
            return answer
        try:
            with session.begin_nested():
                answer = work(session)
        except Rejected as rejected:
            record_refusal(session, submitter, campaign, rejected.refusals)
            answer = rejected.answer
        claim.status, claim.response = answer.status, answer.body
    return answer
