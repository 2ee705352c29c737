"""Sign-in, sign-out, the account pages and the dashboard."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask import session as cookie_session
from flask_login import current_user, logout_user
from sqlalchemy import func, or_, select

from crmcore.app import db
from crmcore.auth.roles import can
from crmcore.auth.throttle import LoginThrottle
from crmcore.errors import CrmError
from crmcore.models import ApiToken, Contact, Lead, TimelineEntry
from crmcore.schemas.users import normalize_email
from crmcore.services import users as user_service
from crmcore.web.common import (
    actor,
    all_stages,
    bp,
    error_messages,
    home_url,
    render,
    safe_next,
    users_by_id,
)
from crmcore.web.security import start_session

EMAIL_LIMIT = 5
IP_LIMIT = 20


def throttle() -> LoginThrottle:
    return LoginThrottle(current_app.extensions["crm"].sessions)


def throttle_keys(email: str) -> dict[str, int]:
    try:
        normalized = normalize_email(email)
    except Exception:
        normalized = email.strip().lower()
    config = current_app.config
    return {
        f"email:{normalized}": int(config.get("WEB_LOGIN_MAX_FAILURES", EMAIL_LIMIT)),
        f"ip:{request.remote_addr}": int(config.get("WEB_LOGIN_MAX_FAILURES_PER_IP", IP_LIMIT)),
    }


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = safe_next(request.values.get("next"))
    # Only a POST signs in: Flask also routes HEAD here, and Flask-WTF lets
    # HEAD past its CSRF and Referer checks as a safe method.
    if request.method != "POST":
        if current_user.is_authenticated:
            return redirect(home_url(current_user) if next_url == "/" else next_url)
        return render("web/login.html", next=next_url, email="")
    email = request.form.get("email", "")[:320]
    password = request.form.get("password", "")[:1024]
    keys = throttle_keys(email)
    wait = throttle().retry_after(keys)
    if wait:
        minutes = (wait + 59) // 60
        message = (f"Too many failed sign-in attempts. Try again in {minutes} "
                   f"minute{'s' if minutes != 1 else ''}.")
        response = render("web/login.html", 429, next=next_url, email=email, error=message)
        return response[0], 429, {"Retry-After": str(wait)}
    user = user_service.authenticate(current_app.extensions["crm"].sessions, email, password)
    if user is None:
        throttle().fail(*keys)
        return render("web/login.html", 401, next=next_url, email=email,
                      error="Wrong email or password.")
    throttle().reset(next(iter(keys)))
    start_session(user)
    return redirect(home_url(user) if next_url == "/" else next_url, 303)


@bp.post("/logout")
def logout() -> Any:
    session = db()
    user_service.end_sessions(session, actor())
    session.commit()
    logout_user()
    cookie_session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("web.login"), 303)


@bp.route("/account/password", methods=["GET", "POST"])
def account_password() -> Any:
    if request.method != "POST":
        return render("web/password.html", errors={})
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return render("web/password.html", 422,
                      errors={"confirm_password": ["The two new passwords differ."]})
    user_id = actor().id
    # The service checks and hashes outside any transaction that writes: the
    # request's, which on SQLite holds the write lock, ends first.
    db().commit()
    try:
        user = user_service.change_password(current_app.extensions["crm"].sessions, user_id,
                                            request.form.get("current_password", ""), new)
    except CrmError as exc:
        return render("web/password.html", exc.status, errors=error_messages(exc))
    start_session(user)  # this session lives on with the new version; others die
    flash("Your password was changed; other sessions were signed out.", "info")
    return redirect(url_for("web.account_password"), 303)


def _tokens() -> list[ApiToken]:
    return list(db().scalars(select(ApiToken).where(ApiToken.user_id == actor().id)
                             .order_by(ApiToken.id.desc())))


@bp.get("/account/tokens")
def account_tokens() -> Any:
    return render("web/tokens.html", tokens=_tokens(), new_token=None)


@bp.post("/account/tokens")
def account_tokens_create() -> Any:
    session = db()
    token = user_service.issue_token(session, actor(), actor(),
                                     request.form.get("name", "").strip())
    session.commit()
    # Shown once, in this response only; it is never stored in plain text.
    return render("web/tokens.html", 201, tokens=_tokens(), new_token=token)


@bp.post("/account/tokens/<int:token_id>/revoke")
def account_tokens_revoke(token_id: int) -> Any:
    session = db()
    user_service.revoke_token(session, actor(), token_id)
    session.commit()
    flash("The token was revoked.", "info")
    return redirect(url_for("web.account_tokens"), 303)


@bp.get("/")
def dashboard() -> Any:
    session = db()
    user = actor()
    counts = dict(session.execute(
        select(Lead.stage_id, func.count(Lead.id))
        .where(Lead.owner_id == user.id, Lead.deleted_at.is_(None))
        .group_by(Lead.stage_id)).all())
    stages = all_stages()
    activity = recent_activity(user)
    names = record_names(activity)
    people = users_by_id(e.actor_id for e in activity)
    hook = current_app.extensions["crm"].hook
    widgets = sorted((w for result in hook.crm_dashboard_widgets(session=session, user=user)
                      for w in (result or ())), key=lambda w: w.order)
    return render("web/dashboard.html", stages=stages, counts=counts, activity=activity,
                  names=names, people=people, widgets=widgets)


def recent_activity(user: Any, limit: int = 15) -> list[TimelineEntry]:
    """The latest timeline entries of live records the user may see."""
    session = db()
    query = select(TimelineEntry)
    if not can(session, user, "records.view_all"):
        mine_leads = select(Lead.id).where(Lead.owner_id == user.id, Lead.deleted_at.is_(None))
        mine_contacts = select(Contact.id).where(Contact.owner_id == user.id,
                                                 Contact.deleted_at.is_(None))
        query = query.where(or_(
            (TimelineEntry.record_type == "lead") & TimelineEntry.record_id.in_(mine_leads),
            (TimelineEntry.record_type == "contact")
            & TimelineEntry.record_id.in_(mine_contacts),
        ))
    return list(session.scalars(query.order_by(TimelineEntry.id.desc()).limit(limit)))


def record_names(entries: list[TimelineEntry]) -> dict[tuple[str, int], str]:
    """``{(record_type, id): name}`` for the live records the entries belong to."""
    session = db()
    out: dict[tuple[str, int], str] = {}
    lead_ids = {e.record_id for e in entries if e.record_type == "lead"}
    contact_ids = {e.record_id for e in entries if e.record_type == "contact"}
    if lead_ids:
        for rid, name in session.execute(select(Lead.id, Lead.full_name).where(
                Lead.id.in_(lead_ids), Lead.deleted_at.is_(None))):
            out[("lead", rid)] = name
    if contact_ids:
        for rid, first, last in session.execute(
                select(Contact.id, Contact.first_name, Contact.last_name).where(
                    Contact.id.in_(contact_ids), Contact.deleted_at.is_(None))):
            out[("contact", rid)] = f"{first} {last}".strip()
    return out
