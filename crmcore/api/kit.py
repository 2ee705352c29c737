"""What a plugin's JSON endpoints use of the core: problem+json errors, JSON
bodies, query arguments and responses shaped like the core API's, and
:func:`doc` notes that put them in the OpenAPI document (their schemas come
from the ``crm_api_schemas`` hook).

Part of the public plugin API; the rest of ``crmcore.api`` is not.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask

from crmcore.api.blueprint import (
    Param,
    doc,
    empty,
    int_arg,
    json_body,
    json_response,
    one_of,
    query_args,
    whole,
)
from crmcore.api.problems import problem, register_problem_handlers

__all__ = [
    "Param",
    "doc",
    "empty",
    "init_api_blueprint",
    "int_arg",
    "json_body",
    "json_response",
    "one_of",
    "problem",
    "query_args",
    "register_problem_handlers",
    "whole",
]


def init_api_blueprint(app: Flask, blueprint: Blueprint, *,
                       rate_limit: str | Callable[[], str] | None = None,
                       rate_key: Callable[[], str] | None = None) -> None:
    """Make ``blueprint`` a JSON API like the core's: problem+json errors, no CSRF
    (clients authenticate per request, never by cookie) and, with ``rate_limit``
    (``"60 per minute"``), a limit per ``rate_key()`` (e.g. the API key's hash),
    answered with 429 and ``Retry-After``. Call it from ``crm_blueprints`` before
    returning the blueprint."""
    from crmcore.web.security import csrf

    # A module-level blueprint serves every app built in the process (tests
    # build many); Flask allows setting up its handlers only before the first.
    if not getattr(blueprint, "_crm_problem_handlers", False):
        register_problem_handlers(blueprint)
        blueprint._crm_problem_handlers = True  # type: ignore[attr-defined]
    csrf.exempt(blueprint)
    if rate_limit is not None:
        limiter = app.extensions["crm_api_limiter"]
        limiter.limit(rate_limit, key_func=rate_key)(blueprint)
