"""The web shell: security wiring (login, CSRF, headers) and the core's pages."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from crmcore.db import is_busy, out_of_range
from crmcore.errors import CrmError
from crmcore.request_text import UnstorableText
from crmcore.web.security import init_security


def init_web(app: Flask) -> None:
    init_security(app)

    from crmcore.web import admin, auth, imports, merge, records  # noqa: F401 - register the views
    from crmcore.web.common import bp

    app.register_blueprint(bp)

    @app.errorhandler(OperationalError)
    def database_busy(exc: OperationalError) -> Any:
        # Every blueprint's pages, plugins' included: SQLite busy with an
        # import is a moment to wait, not a server fault.
        if not is_busy(exc):
            raise exc
        from crmcore.app import db

        db().rollback()
        page, status = _error_page(503, "Busy", "The database is busy with other work; "
                                   "try again in a moment.")
        return page, status, {"Retry-After": "1"}

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def number_out_of_range(exc: Exception) -> Any:
        if not out_of_range(exc):
            raise exc
        from crmcore.app import db

        db().rollback()
        return _error_page(400, "Bad request", "A number in the request is larger than "
                           "the CRM stores.")

    @app.errorhandler(UnstorableText)
    def unstorable_text(exc: UnstorableText) -> Any:
        # Pages of blueprints without a handler for the core's errors.
        return _error_page(exc.status, exc.title, exc.detail)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")


def _error_page(status: int, title: str, detail: str) -> tuple[str, int]:
    return render_template("web/error.html", status=status, title=title, detail=detail), status


def _register_error_handlers() -> None:
    from crmcore.web.common import bp

    @bp.errorhandler(CrmError)
    def crm_error(exc: CrmError) -> Any:
        from crmcore.app import db

        db().rollback()
        if exc.status == 404:
            # The same page for "does not exist" and "not yours": it reveals nothing.
            return _error_page(404, "Not found", "There is nothing here.")
        if exc.status == 403:
            return _error_page(403, "Forbidden", "You may not do this.")
        return _error_page(exc.status, exc.title, exc.detail)

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code in (404, 403):
            return _error_page(exc.code, "Not found" if exc.code == 404 else "Forbidden",
                               "There is nothing here." if exc.code == 404
                               else "You may not do this.")
        return exc


_register_error_handlers()
