"""Every API error as RFC 9457 ``application/problem+json``."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.http import HTTP_STATUS_CODES

from crmcore.api.blueprint import bp
from crmcore.db import MAX_INT, is_busy, out_of_range
from crmcore.errors import CrmError

log = logging.getLogger("crmcore.api")

PROBLEM = "application/problem+json"


def problem(status: int, detail: str, *, title: str | None = None,
            errors: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = dict(errors)
    response = current_app.response_class(current_app.json.dumps(body), status=status,
                                          mimetype=PROBLEM)
    response.headers.update(dict(headers or {}))
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="crm"'
    return response


def _rollback() -> None:
    session = g.get("db")
    if session is not None:
        session.rollback()


def crm_error(exc: CrmError) -> Response:
    _rollback()
    return problem(exc.status, exc.detail, title=exc.title, errors=exc.errors)


def validation_error(exc: ValidationError) -> Response:
    _rollback()
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return problem(422, "The input has errors; see the fields.", title="Validation failed",
                   errors=messages)


def stale(_exc: StaleDataError) -> Response:
    _rollback()
    return problem(412, "Someone else saved this record first; reload it and retry.",
                   title="Precondition failed")


def integrity(_exc: IntegrityError) -> Response:
    _rollback()
    log.warning("integrity error in %s %s", request.method, request.path, exc_info=True)
    return problem(409, "The change collides with stored data.", title="Conflict")


def _retry_after() -> str | None:
    limiter = current_app.extensions.get("crm_api_limiter")
    current = limiter.current_limit if limiter is not None else None
    if current is None:
        return None
    return str(max(1, int(current.reset_at - time.time()) + 1))


def http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers: dict[str, str] = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    if status == 429:
        retry = _retry_after()
        if retry:
            headers["Retry-After"] = retry
        return problem(429, "Too many requests; slow down and retry later.", headers=headers)
    detail = exc.description if status < 500 else "The server could not handle the request."
    return problem(status, detail or HTTP_STATUS_CODES.get(status, "Error"), headers=headers)


def unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return http_error(exc)
    _rollback()
    if is_busy(exc):
        log.warning("database busy in %s %s", request.method, request.path)
        return problem(503, "The database is busy with other writes; retry in a moment.",
                       headers={"Retry-After": "1"})
    if out_of_range(exc):
        # Worth a field check in the schema that let it through. Not the
        # statement: its parameters are people's data.
        log.warning("number out of range in %s %s", request.method, request.path)
        return problem(422, f"A number in the request is larger than the CRM stores "
                       f"(at most {MAX_INT}).", title="Validation failed")
    log.exception("unexpected error in %s %s", request.method, request.path)
    return problem(500, "The server failed to handle the request; it has been logged.")


def register_problem_handlers(blueprint: Blueprint) -> None:
    """Answer every error raised in ``blueprint``'s views as problem+json."""
    blueprint.register_error_handler(CrmError, crm_error)
    blueprint.register_error_handler(ValidationError, validation_error)
    blueprint.register_error_handler(StaleDataError, stale)
    blueprint.register_error_handler(IntegrityError, integrity)
    blueprint.register_error_handler(HTTPException, http_error)
    blueprint.register_error_handler(Exception, unexpected)


register_problem_handlers(bp)  # once, at import


def register_app_handlers(app: Flask) -> None:
    """404 and 405 raised by routing belong to no blueprint: answer them as
    problems under /api/ and leave every other path to whoever handled it before."""
    for exc_class in (NotFound, MethodNotAllowed):
        previous = app.error_handler_spec.get(None, {}).get(exc_class.code, {}).get(exc_class)

        def handler(exc: HTTPException, previous: Any = previous) -> Any:
            if request.path.startswith("/api/"):
                return http_error(exc)
            return previous(exc) if previous is not None else exc

        app.register_error_handler(exc_class, handler)
