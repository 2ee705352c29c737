"""Bearer-token authentication and per-token rate limits.

The API never looks at the session cookie: a request is who its
``Authorization: Bearer <token>`` header says, or it is refused with 401.
"""

from __future__ import annotations

import os

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from werkzeug.exceptions import RequestEntityTooLarge

from crmcore.api.blueprint import bp
from crmcore.app import db
from crmcore.auth.tokens import token_hash
from crmcore.errors import NotAuthenticated
from crmcore.services.records import is_external
from crmcore.services.users import user_for_token

DEFAULT_RATE_LIMIT = "600 per minute"
DEFAULT_MAX_BODY = 1024 * 1024

# Endpoints anyone may read: the API's own description.
PUBLIC = {"api.openapi_json", "api.docs"}


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def body_limit() -> int:
    """The largest body the request's endpoint takes: ``API_MAX_CONTENT_LENGTH``
    (1 MB) unless the view says otherwise with an ``upload_limit()`` of its own,
    as the CSV upload does."""
    upload_limit = getattr(current_app.view_functions.get(request.endpoint or ""),
                           "upload_limit", None)
    if upload_limit is not None:
        return int(upload_limit())
    return int(current_app.config.get("API_MAX_CONTENT_LENGTH", DEFAULT_MAX_BODY))


@bp.before_request
def authenticate() -> None:
    limit = body_limit()
    request.max_content_length = limit  # also caps bodies sent without Content-Length
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"The body may be at most {limit} bytes.")
    if request.endpoint in PUBLIC:
        return
    token = bearer_token()
    if token is None:
        raise NotAuthenticated("Send an API token as 'Authorization: Bearer <token>'.")
    user = user_for_token(db(), token)
    if user is None:
        raise NotAuthenticated("The token is unknown, revoked or belongs to an inactive user.")
    if is_external(db(), user):
        # Portal users work through their plugin's endpoints only.
        raise NotAuthenticated("This token belongs to a portal user; the CRM API is for staff.")
    g.api_user = user


@bp.after_request
def rate_limit_headers(response: Response) -> Response:
    limiter = current_app.extensions.get("crm_api_limiter")
    current = limiter.current_limit if limiter is not None else None
    if current is not None:
        response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
        response.headers["X-RateLimit-Remaining"] = str(current.remaining)
        response.headers["X-RateLimit-Reset"] = str(int(current.reset_at))
    return response


def rate_key() -> str:
    """Requests count against their token (its hash), or their address without one."""
    token = bearer_token()
    if token is not None:
        return "token:" + token_hash(token)
    return "addr:" + (request.remote_addr or "unknown")


def rate_limit() -> str:
    return str(current_app.config["API_RATE_LIMIT"])


def init_rate_limits(app: Flask) -> Limiter:
    """One limiter per application, applied to the API blueprint only."""
    app.config.setdefault("API_RATE_LIMIT",
                          os.environ.get("CRM_API_RATE_LIMIT") or DEFAULT_RATE_LIMIT)
    storage = (app.config.get("API_RATELIMIT_STORAGE_URI")
               or os.environ.get("CRM_RATELIMIT_STORAGE_URI") or "memory://")
    # flask-limiter's own headers would put Retry-After on every answer; the
    # API adds X-RateLimit-* itself and Retry-After only to a 429.
    limiter = Limiter(rate_key, app=app, storage_uri=storage, headers_enabled=False,
                      key_prefix="crm-api")
    limiter.limit(rate_limit)(bp)
    app.extensions["crm_api_limiter"] = limiter
    return limiter
