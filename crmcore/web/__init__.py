"""The web shell: security wiring (login, CSRF, headers) and the core's pages."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from crmcore.db import is_busy, out_of_range
from crmcore.errors import CrmError
from crmcore.request_text import UnstorableText
from crmcore.web.common import safe_next
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

    # Every blueprint's forms, plugins' included (the web blueprint registers
    # it too, as its handler of HTTP errors would answer first).
    app.register_error_handler(CSRFError, csrf_failed)

    @app.errorhandler(UnstorableText)
    def unstorable_text(exc: UnstorableText) -> Any:
        # Pages of blueprints without a handler for the core's errors.
        return _error_page(exc.status, exc.title, exc.detail)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")


def _error_page(status: int, title: str, detail: str, back_url: str | None = None,
                back_label: str | None = None) -> tuple[str, int]:
    return render_template("web/error.html", status=status, title=title, detail=detail,
                           back_url=back_url, back_label=back_label), status


def csrf_failed(_exc: CSRFError) -> Any:
    """A form posted without a valid CSRF token: one signed out meanwhile (in
    another tab), or a forged request. The page leads back to the form; it does
    not offer to send the input again, as a forged request's input would then
    go through with a fresh token."""
    back = _form_page_url()
    return _error_page(400, "The form expired",
                       "This form expired or you were signed out, so nothing was saved. "
                       "Open the form again (sign in if asked) and redo your input; your "
                       "browser's Back button may still show what you typed.",
                       back, "Back to the form" if back else None)


def _form_page_url() -> str | None:
    """The page the failed form was on: the posted URL itself when it also
    answers GET (``/leads/new``, ``/leads/3/edit``), else the same-origin page
    the browser says it came from (a comment form on ``/leads/3``)."""
    methods = request.url_rule.methods if request.url_rule is not None else None
    if methods and "GET" in methods:
        return request.full_path.rstrip("?")
    referrer = request.referrer or ""
    origin = request.host_url.rstrip("/")
    if referrer.startswith(origin + "/"):
        return safe_next(referrer[len(origin):])
    return None


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

    bp.register_error_handler(CSRFError, csrf_failed)

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code in (404, 403):
            return _error_page(exc.code, "Not found" if exc.code == 404 else "Forbidden",
                               "There is nothing here." if exc.code == 404
                               else "You may not do this.")
        return exc


_register_error_handlers()
