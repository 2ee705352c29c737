"""Login sessions, CSRF and security headers for every response."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request, session
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from crmcore.models import User

csrf = CSRFProtect()

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def init_security(app: Flask) -> None:
    # __Host- binds the cookie to this exact origin over HTTPS. Flask's default
    # name "session" counts as unset (a setdefault would never apply).
    if app.config.get("SESSION_COOKIE_SECURE") and \
            app.config.get("SESSION_COOKIE_NAME", "session") == "session":
        app.config["SESSION_COOKIE_NAME"] = "__Host-crm_session"
    csrf.init_app(app)
    login = LoginManager(app)
    login.login_view = "web.login"
    login.session_protection = None  # the session id is renewed at login instead

    @login.user_loader
    def load_user(user_id: str) -> User | None:
        from crmcore.app import db

        user = db().get(User, int(user_id)) if user_id.isdigit() else None
        # A session dies when its user is deactivated or bumps session_version.
        if user is None or not user.is_active or session.get("_sv") != user.session_version:
            return None
        return user

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.endpoint and not request.endpoint.startswith("static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def start_session(user: User, **extra: Any) -> None:
    """Begin a login session: a fresh session (no fixation) bound to the user's
    session version."""
    from flask_login import login_user

    session.clear()
    login_user(user, **extra)
    session["_sv"] = user.session_version
