"""Hook implementations of the leadworks plugin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmcore import BinType, NavItem, Permission, PersonalField, PersonExport, Role, hookimpl
from crmcore.models import User
from crmcore.types import Person

if TYPE_CHECKING:
    import flask
    from sqlalchemy.orm import Session


@hookimpl
def crm_models() -> None:
    from crmcore_plugins.leadworks import models  # noqa: F401 - importing registers the tables


@hookimpl
def crm_migrations() -> dict[str, Path]:
    return {"leadworks": Path(__file__).parent / "migrations"}


@hookimpl
def crm_roles() -> list[Role]:
    return [Role("advertiser", "Advertiser", external=True, home="leadworks.home")]


@hookimpl
def crm_permissions() -> list[Permission]:
    return [Permission("leadworks.manage",
                       "Manage Leadworks advertisers, their users, keys and the owner rule",
                       ("admin",))]


@hookimpl
def crm_api_schemas(app: flask.Flask) -> dict[str, Any]:
    from crmcore_plugins.leadworks.api_schemas import schemas

    return schemas(app)


@hookimpl
def crm_blueprints(app: flask.Flask) -> list[flask.Blueprint]:
    from crmcore_plugins.leadworks.api import make_blueprint
    from crmcore_plugins.leadworks.portal import blueprint as portal_blueprint
    from crmcore_plugins.leadworks.views import blueprint as admin_blueprint

    return [portal_blueprint, admin_blueprint, make_blueprint(app)]


@hookimpl
def crm_nav_items(user: User) -> list[NavItem]:
    if user.role == "advertiser":
        return [NavItem("My leads", "leadworks.home", 10),
                NavItem("New lead", "leadworks.new_lead", 20),
                NavItem("Upload CSV", "leadworks.upload", 30)]
    return [NavItem("Leadworks", "leadworks_admin.advertisers", 70, "leadworks.manage")]


@hookimpl
def crm_leads_created(session: Session, lead_ids: Sequence[int]) -> None:
    from crmcore_plugins.leadworks.services.handover import on_leads_created

    on_leads_created(session, lead_ids)


@hookimpl
def crm_leads_merged(session: Session, survivor_id: int, merged_ids: Sequence[int]) -> None:
    from crmcore_plugins.leadworks.services.submissions import move_to_survivor

    move_to_survivor(session, survivor_id, merged_ids)


@hookimpl
def crm_leads_purged(session: Session, lead_ids: Sequence[int]) -> None:
    from crmcore_plugins.leadworks.services.submissions import forget_handed_over

    # The submissions stay for the statistics; the person's data goes.
    forget_handed_over(session, lead_ids)


@hookimpl
def crm_recycle_bin_types() -> list[BinType]:
    from crmcore_plugins.leadworks.services import advertisers

    return [BinType("leadworks_advertiser", "Leadworks advertisers", advertisers.bin_list,
                    advertisers.bin_restore, advertisers.bin_purge)]


@hookimpl
def crm_personal_data() -> list[PersonalField]:
    # The rows of advertisers' CSV uploads name the person, and so does a
    # submission's lead as handed over; what else stays of a submission
    # (advertiser, campaign, channel, time) does not.
    return [PersonalField("leadworks_upload", "rows", "Rows of advertisers' CSV uploads",
                          mandatory=True),
            PersonalField("leadworks_submission", "handed_over",
                          "Name and email of a lead as an advertiser handed it over",
                          mandatory=True)]


@hookimpl
def crm_person_export(session: Session, person: Person) -> list[PersonExport]:
    from crmcore_plugins.leadworks.services.privacy import export_person

    return export_person(session, person)


@hookimpl
def crm_person_erase(session: Session, actor: User | None, person: Person,
                     fields: frozenset[str]) -> None:
    from crmcore_plugins.leadworks.services.privacy import erase_handed_over, erase_uploads

    if "leadworks_upload.rows" in fields:
        erase_uploads(session, person)
    if "leadworks_submission.handed_over" in fields:
        erase_handed_over(session, person)


@hookimpl
def crm_demo_data(session: Session, users: Mapping[str, User], password: str) -> list[str]:
    from crmcore_plugins.leadworks.services.demo import load_demo

    return load_demo(session, users, password)
