"""The JSON API under /api/v1.

Thin endpoints over :mod:`crmcore.services`: bearer-token authentication, one
transaction per write, ``application/problem+json`` for every error, ETags and
``If-Match`` for changes, per-token rate limits, and an OpenAPI description at
``/api/v1/openapi.json`` rendered for people at ``/api/v1/docs``.
"""

from __future__ import annotations

from flask import Flask


def init_api(app: Flask) -> None:
    """Register the API blueprint."""
    # Importing the view modules adds their routes and handlers to the blueprint.
    from crmcore.api import (  # noqa: F401
        custom_fields,
        imports,
        openapi,
        records,
        recycle_bin,
        stages,
        users,
    )
    from crmcore.api.auth import init_rate_limits
    from crmcore.api.blueprint import bp
    from crmcore.api.problems import register_app_handlers
    from crmcore.web.security import csrf

    # Requests carry a bearer token, never the session cookie: no CSRF to fear.
    csrf.exempt(bp)
    init_rate_limits(app)
    app.register_blueprint(bp)
    register_app_handlers(app)
