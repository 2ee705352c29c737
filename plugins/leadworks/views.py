"""The admin's pages: advertisers, their users, invitations and keys, the
owner rule and the statistics. Thin views over the services, which check
``leadworks.manage`` themselves."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmcore_plugins.leadworks.models import OWNER_MODES, Advertiser
from crmcore_plugins.leadworks.services import access, owners
from crmcore_plugins.leadworks.services import advertisers as advertiser_service
from crmcore_plugins.leadworks.services import stats as stats_service
from flask import Blueprint, flash, redirect, request, url_for

from crmcore import mail
from crmcore.errors import CrmError
from crmcore.web.kit import actor, db, error_messages, render, require_permission, staff_pages

log = logging.getLogger("crmcore.leadworks")

blueprint = Blueprint("leadworks_admin", __name__, url_prefix="/leadworks/admin",
                      template_folder="templates")
staff_pages(blueprint)


@blueprint.before_request
def managers_only() -> None:
    require_permission(advertiser_service.MANAGE)


@blueprint.errorhandler(CrmError)
def crm_error(exc: CrmError) -> Any:
    db().rollback()
    return render("web/error.html", exc.status, title=exc.title, detail=exc.detail)


def advertiser_form() -> dict[str, Any]:
    return {"name": request.form.get("name", ""),
            "contact_email": request.form.get("contact_email", "")}


# -- advertisers ---------------------------------------------------------------------------


def index_page(form: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
               message: str | None = None, status: int = 200) -> Any:
    session = db()
    advertisers = advertiser_service.list_advertisers(session, actor())
    rule = owners.owner_rule(session)
    return render("leadworks/admin_advertisers.html", status, advertisers=advertisers,
                  counts=stats_service.lead_counts(session, [a.id for a in advertisers]),
                  form=form or {"name": "", "contact_email": ""}, errors=errors or {},
                  message=message, rule=rule, modes=OWNER_MODES,
                  candidates=owners.candidate_owners(session))


@blueprint.get("/")
def advertisers() -> Any:
    return index_page()


@blueprint.post("/advertisers")
def advertiser_create() -> Any:
    session = db()
    form = advertiser_form()
    try:
        advertiser = advertiser_service.create_advertiser(session, actor(), form)
        advertiser_id = advertiser.id
        session.commit()
    except CrmError as exc:
        session.rollback()
        return index_page(form, error_messages(exc), exc.detail, exc.status)
    flash(f"Advertiser {form['name'].strip()} was created.", "info")
    return redirect(url_for("leadworks_admin.advertiser", advertiser_id=advertiser_id), 303)


def detail_page(advertiser: Advertiser, *, new_key: str | None = None,
                errors: dict[str, list[str]] | None = None, message: str | None = None,
                status: int = 200, form: dict[str, Any] | None = None) -> Any:
    session = db()
    return render("leadworks/admin_advertiser.html", status, advertiser=advertiser,
                  people=access.people(session, actor(), advertiser),
                  keys=access.list_keys(session, actor(), advertiser), new_key=new_key,
                  errors=errors or {}, message=message,
                  form=form or {"name": advertiser.name,
                                "contact_email": advertiser.contact_email},
                  count=stats_service.lead_counts(session, [advertiser.id]).get(advertiser.id, 0))


@blueprint.get("/advertisers/<int:advertiser_id>")
def advertiser(advertiser_id: int) -> Any:
    return detail_page(advertiser_service.get_advertiser(db(), actor(), advertiser_id))


@blueprint.post("/advertisers/<int:advertiser_id>")
def advertiser_update(advertiser_id: int) -> Any:
    session = db()
    found = advertiser_service.get_advertiser(session, actor(), advertiser_id)
    form = advertiser_form()
    try:
        advertiser_service.update_advertiser(
            session, actor(), found, {**form, "is_active": request.form.get("is_active") == "1"})
        session.commit()
    except CrmError as exc:
        session.rollback()
        found = advertiser_service.get_advertiser(session, actor(), advertiser_id)
        return detail_page(found, errors=error_messages(exc), message=exc.detail,
                           status=exc.status, form=form)
    flash("The advertiser was saved.", "info")
    return redirect(url_for("leadworks_admin.advertiser", advertiser_id=advertiser_id), 303)


@blueprint.post("/advertisers/<int:advertiser_id>/delete")
def advertiser_delete(advertiser_id: int) -> Any:
    session = db()
    found = advertiser_service.get_advertiser(session, actor(), advertiser_id)
    name = found.name
    advertiser_service.delete_advertiser(session, actor(), found)
    session.commit()
    flash(f"Advertiser {name} was moved to the recycle bin.", "info")
    return redirect(url_for("leadworks_admin.advertisers"), 303)


# -- users and keys ------------------------------------------------------------------------


@blueprint.post("/advertisers/<int:advertiser_id>/invite")
def advertiser_invite(advertiser_id: int) -> Any:
    session = db()
    found = advertiser_service.get_advertiser(session, actor(), advertiser_id)
    try:
        invitation, token = access.invite(session, actor(), found, {
            "email": request.form.get("email", ""), "name": request.form.get("name", "")})
        message = access.invitation_mail(
            invitation, found, url_for("leadworks.invitation", token=token, _external=True))
        email = invitation.email
        session.commit()
    except CrmError as exc:
        session.rollback()
        found = advertiser_service.get_advertiser(session, actor(), advertiser_id)
        return detail_page(found, errors=error_messages(exc), message=exc.detail,
                           status=exc.status)
    try:
        mail.send(message)  # after the commit: a rolled-back invitation tells nobody
    except Exception as exc:
        log.warning("invitation mail to %s failed: %s", email, type(exc).__name__)
        flash(f"The invitation was saved but the email to {email} could not be sent "
              f"({type(exc).__name__}); check the mail settings and invite again.", "error")
    else:
        flash(f"An invitation was sent to {email}.", "info")
    return redirect(url_for("leadworks_admin.advertiser", advertiser_id=advertiser_id), 303)


@blueprint.post("/advertisers/<int:advertiser_id>/keys")
def key_create(advertiser_id: int) -> Any:
    session = db()
    found = advertiser_service.get_advertiser(session, actor(), advertiser_id)
    try:
        _, key = access.issue_key(session, actor(), found, {"name": request.form.get(
            "name", "")})
        session.commit()
    except CrmError as exc:
        session.rollback()
        return detail_page(found, errors=error_messages(exc), message=exc.detail,
                           status=exc.status)
    # Shown on this response only: no redirect, no flash, nothing stored in clear.
    return detail_page(found, new_key=key, status=201)


@blueprint.post("/advertisers/<int:advertiser_id>/keys/<int:key_id>/revoke")
def key_revoke(advertiser_id: int, key_id: int) -> Any:
    session = db()
    found = advertiser_service.get_advertiser(session, actor(), advertiser_id)
    access.revoke_key(session, actor(), found, key_id)
    session.commit()
    flash("The key was revoked.", "info")
    return redirect(url_for("leadworks_admin.advertiser", advertiser_id=advertiser_id), 303)


# -- owner rule ------------------------------------------------------------------------------


@blueprint.post("/owner-rule")
def owner_rule() -> Any:
    session = db()
    mode = request.form.get("mode", "")
    chosen = request.form.getlist("user_ids")
    try:
        user_ids = [int(i) for i in chosen]
    except ValueError:
        user_ids = []
    try:
        owners.set_owner_rule(session, actor(), {"mode": mode, "user_ids": user_ids})
        session.commit()
    except CrmError as exc:
        session.rollback()
        return index_page(errors=error_messages(exc), message=exc.detail, status=exc.status)
    flash("The owner rule was saved.", "info")
    return redirect(url_for("leadworks_admin.advertisers"), 303)


# -- statistics ------------------------------------------------------------------------------


def _day(text: str, name: str, errors: dict[str, list[str]]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = ["A date as YYYY-MM-DD."]
        return None


def _midnight(day: date | None, *, after: bool = False) -> datetime | None:
    """Midnight UTC at the start of ``day``, or of the day after it; None (no
    bound) without a day, or after the last day there is."""
    if day is None or (after and day == date.max):
        return None
    if after:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@blueprint.get("/stats")
def stats() -> Any:
    """Leads per advertiser and campaign, and refused duplicates, over a
    period of whole days (``from`` to ``to``, both included; UTC)."""
    errors: dict[str, list[str]] = {}
    start_text = request.args.get("from", "").strip()
    end_text = request.args.get("to", "").strip()
    since = _midnight(_day(start_text, "from", errors))
    until = _midnight(_day(end_text, "to", errors), after=True)
    rows = stats_service.stats(db(), actor(), since, until)
    return render("leadworks/admin_stats.html", 422 if errors else 200, rows=rows,
                  errors=errors, start=start_text, end=end_text,
                  total_leads=sum(r.leads for r in rows),
                  total_refused=sum(r.refused for r in rows))
