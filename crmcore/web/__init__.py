"""The web shell: security wiring (login, CSRF, headers) and the core's pages."""

from __future__ import annotations

from flask import Flask, Response

from crmcore.web.security import init_security


def init_web(app: Flask) -> None:
    init_security(app)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")
