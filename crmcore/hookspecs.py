"""Hook specifications: the contract between crmcore and its plugins.

This module is the plugin authors' reference; ``docs/hooks.md`` is generated
from it by ``crm plugins hooks --markdown`` and a test keeps the two equal.

Three kinds of hooks:

* **Registration hooks** run once while ``create_app`` builds the application
  and collect a result from every enabled plugin.
* **Request hooks** (navigation, widgets, schema fields, ...) run while a page or
  an API response is built and collect a result from every enabled plugin.
* **Event hooks** announce a change to core records. They run *inside the
  caller's transaction*, with the caller's ``session``: a plugin may write its
  own rows there, and may veto the change by raising
  :class:`crmcore.errors.Vetoed`, which rolls everything back. Each event is then
  replayed once to :func:`crm_after_commit` when the transaction has committed;
  side effects that leave the process belong there (or in an outbox row written
  inside the transaction). Event hooks are batch-shaped: one call carries every
  record a bulk operation touched, and a single-record operation passes a list
  of one, so that no plugin makes bulk work slow.

No hook is ``firstresult``: every hook collects results from every enabled
plugin. Implementations are called in plugin load order (dependencies before
the plugins that require them, otherwise alphabetical), core first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import click
    import flask
    import marshmallow
    from sqlalchemy.orm import Session

    from crmcore.models import Lead, User
    from crmcore.types import (
        Action,
        BinType,
        Event,
        NavItem,
        Permission,
        Person,
        PersonalField,
        PersonExport,
        Role,
        TimelineItem,
        Widget,
    )

hookspec = pluggy.HookspecMarker("crm")


# -- registration: called once by create_app -------------------------------------


@hookspec
def crm_models() -> None:
    """Import the plugin's SQLAlchemy models so that they join the shared metadata.

    Called once by ``create_app`` (and by ``crm db`` commands) before the metadata
    is used. Models subclass :class:`crmcore.db.Base`; their table names must start
    with the plugin's name and an underscore (``leadworks_advertiser``), which the
    core checks after this hook and refuses the plugin otherwise.

    :return: nothing; importing the module is the registration.
    """


@hookspec
def crm_migrations() -> Mapping[str, Path] | None:
    """Name the plugin's Alembic migrations folder.

    Called by ``crm db upgrade``, ``crm db current``, ``crm init`` and when a plugin
    is enabled. Each plugin has a branch of its own with its own version table
    (``alembic_version_<name>``), so that disabling a plugin leaves its tables and
    its recorded revision alone and enabling it again continues where it stopped.
    Core migrations run first, then plugins in load order.

    :return: ``{plugin_name: path_to_folder}``; the folder holds ``versions/``.
    """


@hookspec
def crm_blueprints(app: flask.Flask) -> Sequence[flask.Blueprint] | None:
    """Return Flask blueprints to register on the application.

    Called once by ``create_app`` after the core blueprints are registered. A
    blueprint's name must be unique; by convention it is the plugin's name and its
    URL prefix ``/<name>`` (``/api/v1/<name>`` for JSON endpoints). A blueprint
    created with ``template_folder`` and ``static_folder`` serves its own templates
    and static files; the application's own templates win over a plugin's.

    :param app: the application being built.
    :return: a list of blueprints.
    """


@hookspec
def crm_api_schemas(app: flask.Flask) -> Mapping[str, Any] | None:
    """Return the schemas a plugin's JSON endpoints name in the OpenAPI document.

    Called once per application, when ``/api/v1/openapi.json`` (or the docs
    page) is first asked for. A view of a plugin's blueprint under ``/api/``
    joins the document when it carries a note from
    ``crmcore.api.kit.doc(tag, body=..., response=..., query=..., request_headers=...)``;
    the names its ``body`` and ``response`` give are looked up among the core's
    schemas and these. A name the core or another plugin already uses is a
    ``PluginError``.

    :param app: the application the document describes.
    :return: ``{name: schema}``: a marshmallow schema (class or instance), or a
        JSON Schema object (a ``dict``) for what marshmallow cannot say.
    """


@hookspec
def crm_cli_commands() -> Sequence[click.Command] | None:
    """Return click commands or groups to add under ``crm``.

    Called when the ``crm`` command line starts. A name already taken by the core
    or another plugin is refused with a warning naming both; a plugin that fails
    here is reported and the rest of the CLI still works.

    :return: a list of ``click.Command`` objects.
    """


@hookspec
def crm_roles() -> Sequence[Role] | None:
    """Return user roles the plugin adds, typically external ones (``partner``,
    ``advertiser``) whose users see only the plugin's portal.

    Called once by ``create_app``. The core contributes ``admin``, ``manager`` and
    ``sales`` through this same hook. A role name defined twice stops start-up.

    :return: a list of :class:`crmcore.Role`.
    """


@hookspec
def crm_permissions() -> Sequence[Permission] | None:
    """Return permissions the plugin checks, with the roles that hold them by default.

    Called once by ``create_app``; the result is merged into each role's
    permission set. Services check permissions with
    :func:`crmcore.auth.permissions.require`.

    :return: a list of :class:`crmcore.Permission`.
    """


@hookspec
def crm_app_created(app: flask.Flask) -> None:
    """React to the finished application, e.g. to add template filters or
    context processors.

    Called once at the end of ``create_app``, after every blueprint is registered.

    :param app: the application.
    """


# -- request: called while pages and responses are built --------------------------


@hookspec
def crm_nav_items(user: User) -> Sequence[NavItem] | None:
    """Return navigation entries for the web UI's top bar.

    Called for each page rendered for a signed-in user. Entries whose
    ``permission`` the user lacks are dropped by the core.

    :param user: the signed-in user.
    :return: a list of :class:`crmcore.NavItem`.
    """


@hookspec
def crm_dashboard_widgets(session: Session, user: User) -> Sequence[Widget] | None:
    """Return panels for the dashboard.

    Called when the dashboard is rendered. Keep it to one or two queries: it runs
    on every dashboard view.

    :param session: the request's database session (read only).
    :param user: the signed-in user.
    :return: a list of :class:`crmcore.Widget`.
    """


@hookspec
def crm_schema_fields(record_type: str) -> Mapping[str, marshmallow.fields.Field] | None:
    """Add fields to a core record's marshmallow schema.

    Called once per record type (``"lead"``, ``"contact"``) when its schema class is
    built. Values of these fields are validated like core fields and kept in the
    record's ``plugin_data``; they appear in the API, in forms and in exports.
    Names must be prefixed with the plugin's name (``leadworks_campaign``).

    :param record_type: ``"lead"`` or ``"contact"``.
    :return: ``{field_name: marshmallow_field}``.
    """


@hookspec
def crm_record_actions(record_type: str, record: Any, user: User) -> Sequence[Action] | None:
    """Offer actions on a record page: convert, send a message, create a task, ...

    Called when a lead or contact page is rendered. Actions whose ``permission`` the
    user lacks are dropped by the core.

    :param record_type: ``"lead"`` or ``"contact"``.
    :param record: the record shown.
    :param user: the signed-in user.
    :return: a list of :class:`crmcore.Action`.
    """


@hookspec
def crm_timeline_items(session: Session, record_type: str, record_id: int
                       ) -> Sequence[TimelineItem] | None:
    """Add entries a plugin keeps in its own tables to a record's timeline.

    Called when a timeline is shown (web page and API). The core merges them with
    its own entries by time. Keep it to one query.

    :param session: the request's session (read only).
    :param record_type: ``"lead"`` or ``"contact"``.
    :param record_id: the record's id.
    :return: a list of :class:`crmcore.TimelineItem`.
    """


@hookspec
def crm_conversion_steps(lead: Lead, contact_id: int, user: User) -> Sequence[Action] | None:
    """Offer the next steps after a lead became a contact (a quote, an invoice, an
    opportunity). Called when the conversion result is shown; each action's URL is
    built with ``record_id=contact_id``. To act during the conversion itself,
    implement :func:`crm_lead_converted`.

    :param lead: the converted lead.
    :param contact_id: the contact made from it.
    :param user: the signed-in user.
    :return: a list of :class:`crmcore.Action`.
    """


@hookspec
def crm_recycle_bin_types() -> Sequence[BinType] | None:
    """Register plugin records that go to the recycle bin beside leads and contacts.

    Called when the recycle bin is listed, restored from or purged (web and API).

    :return: a list of :class:`crmcore.BinType`.
    """


@hookspec
def crm_lead_score_parts(session: Session, leads: Sequence[Lead]) -> Mapping[int, int] | None:
    """Add points to leads' scores. Inside the transaction.

    Called with every lead created or edited, in one batch per operation; a lead's
    score is the sum of every plugin's part (the core adds points for contact
    details). Must not write; read in one query for the whole batch. A CSV import
    scores leads before writing them and passes read-only stand-ins that carry
    their columns (and their reserved ids) as attributes.

    :param session: the transaction's session.
    :param leads: the leads to score.
    :return: ``{lead_id: points}``; leads left out get no points from this plugin.
    """


@hookspec
def crm_demo_data(session: Session, users: Mapping[str, User], password: str
                  ) -> Sequence[str] | None:
    """Add the plugin's demo records, so that a newcomer's demo shows it at work.

    Called each time ``crm demo`` runs, inside its transaction, once the core's
    demo users, leads and contacts exist. Add your records unless they are there
    already (a plugin enabled after the demo was loaded gets its turn on the next
    run), and return the lines to print every time.

    :param session: the demo's transaction.
    :param users: the core's demo users by role (``admin``, ``manager``, ``sales``).
    :param password: the demo password, for any demo account the plugin creates.
    :return: lines to print after the core's sign-in help (e.g. a portal login).
    """


# -- personal data: the privacy contract -----------------------------------------------
#
# The core and every plugin that stores something about a person implement these
# three hooks; a privacy plugin (``gdpr``) drives them. Anonymization and export
# are always about one :class:`crmcore.Person`: a lead or contact and the email
# addresses, phones and names it carries.


@hookspec
def crm_personal_data() -> Sequence[PersonalField] | None:
    """Declare, per record type, which fields hold personal data.

    Called when the privacy settings are shown and before each anonymization, to
    know every field there is. Mark the fields that name the person
    ``mandatory``: they are always erased. The admin chooses which of the others
    are erased too.

    :return: a list of :class:`crmcore.PersonalField`.
    """


@hookspec
def crm_person_export(session: Session, person: Person) -> Sequence[PersonExport] | None:
    """Return everything the plugin holds about ``person``, for a subject access
    or portability request (GDPR Articles 15 and 20).

    Called inside a read-only transaction, for an export from the record page or
    ``crm gdpr export``. Match your rows by ``person.record_id`` where they point
    at the record, and by ``person.emails`` where they only carry an address.

    :param session: the transaction's session.
    :param person: who the export is about.
    :return: a list of :class:`crmcore.PersonExport` (usually one).
    """


@hookspec
def crm_person_erase(session: Session, actor: User | None, person: Person,
                     fields: frozenset[str]) -> None:
    """Erase what the plugin holds about ``person``. Inside the transaction.

    Called once per anonymized person, core first. Overwrite or delete the
    values of the selected fields (mandatory ones included) wherever you keep
    them, and any text of yours that quotes them; keep what statistics need (dates,
    amounts, stages). Must be idempotent: anonymizing twice is harmless. An
    exception rolls back the whole anonymization, and the error names your plugin.

    :param session: the transaction's session.
    :param actor: who anonymizes, or ``None`` for a retention sweep.
    :param person: the person, as the record stood before anonymization.
    :param fields: the keys (``"{record_type}.{name}"``) of the fields to erase.
    """


# -- events: inside the caller's transaction -----------------------------------------


@hookspec
def crm_user_created(session: Session, actor: User | None, user_ids: Sequence[int]) -> None:
    """Users were created. Inside the transaction; see the module docs.

    :param session: the transaction's session.
    :param actor: who did it; ``None`` for the command line and system jobs.
    :param user_ids: the new users' ids.
    """


@hookspec
def crm_leads_created(session: Session, actor: User | None, lead_ids: Sequence[int]) -> None:
    """Leads were created (one from a form, many from an import). Inside the transaction.

    :param session: the transaction's session.
    :param actor: who did it, or ``None``.
    :param lead_ids: the new leads' ids.
    """


@hookspec
def crm_leads_updated(
    session: Session, actor: User | None, changes: Mapping[int, Mapping[str, tuple[Any, Any]]]
) -> None:
    """Leads were edited. Inside the transaction.

    :param changes: ``{lead_id: {field: (old_value, new_value)}}``, only fields
        that changed. A stage change is reported here too, and also to
        :func:`crm_leads_stage_changed`.
    """


@hookspec
def crm_leads_stage_changed(
    session: Session, actor: User | None, changes: Sequence[tuple[int, int | None, int]]
) -> None:
    """Leads moved to another stage. Inside the transaction.

    :param changes: ``(lead_id, old_stage_id, new_stage_id)`` per lead.
    """


@hookspec
def crm_lead_converted(session: Session, actor: User | None, lead_id: int, contact_id: int) -> None:
    """A lead became a contact. Inside the transaction; a plugin adds conversion
    steps (quote, invoice, opportunity) by writing its rows here.

    :param lead_id: the converted lead, which stays as history.
    :param contact_id: the contact made from it.
    """


@hookspec
def crm_leads_deleted(session: Session, actor: User | None, lead_ids: Sequence[int]) -> None:
    """Leads went to the recycle bin. Inside the transaction."""


@hookspec
def crm_leads_restored(session: Session, actor: User | None, lead_ids: Sequence[int]) -> None:
    """Leads came back from the recycle bin. Inside the transaction."""


@hookspec
def crm_leads_purged(session: Session, actor: User | None, lead_ids: Sequence[int]) -> None:
    """Leads are about to be deleted for good: purged from the recycle bin, or
    removed by reverting the import that created them. Inside the transaction,
    before their rows go: delete your plugin's rows that belong to them. Their
    ids are never given to another lead, so a row left behind would name no
    one, and keep what was meant to go.

    :param lead_ids: at most a few thousand at a time; reverting a large
        import calls the hook once per batch.
    """


@hookspec
def crm_contacts_created(
    session: Session, actor: User | None, contact_ids: Sequence[int]
) -> None:
    """Contacts were created (by a form, an import or a conversion). Inside the transaction."""


@hookspec
def crm_contacts_updated(
    session: Session, actor: User | None, changes: Mapping[int, Mapping[str, tuple[Any, Any]]]
) -> None:
    """Contacts were edited. Inside the transaction.

    :param changes: ``{contact_id: {field: (old_value, new_value)}}``.
    """


@hookspec
def crm_contacts_deleted(
    session: Session, actor: User | None, contact_ids: Sequence[int]
) -> None:
    """Contacts went to the recycle bin. Inside the transaction."""


@hookspec
def crm_contacts_restored(
    session: Session, actor: User | None, contact_ids: Sequence[int]
) -> None:
    """Contacts came back from the recycle bin. Inside the transaction."""


@hookspec
def crm_contacts_purged(
    session: Session, actor: User | None, contact_ids: Sequence[int]
) -> None:
    """Contacts are about to be deleted for good; see :func:`crm_leads_purged`."""


@hookspec
def crm_leads_merged(session: Session, actor: User | None, survivor_id: int,
                     merged_ids: Sequence[int]) -> None:
    """Leads were merged into ``survivor_id``; the others are in the recycle bin.
    Inside the transaction: move your plugin's rows to the survivor here.

    :param survivor_id: the lead that stays.
    :param merged_ids: the leads merged into it.
    """


@hookspec
def crm_contacts_merged(session: Session, actor: User | None, survivor_id: int,
                        merged_ids: Sequence[int]) -> None:
    """Contacts were merged into ``survivor_id``. Inside the transaction; see
    :func:`crm_leads_merged`."""


@hookspec
def crm_leads_kept_apart(session: Session, actor: User | None,
                         pairs: Sequence[tuple[int, int]]) -> None:
    """A user said that leads are different people ("not duplicates"); the
    duplicate lists leave these pairs out from now on. Inside the transaction:
    forget here what your plugin holds because it took them for one person
    (the ``gdpr`` plugin forgets the merge between them, so that erasing one
    no longer erases the other). Called for every pair named, also one that
    was kept apart already; taking it back (may be duplicates again) calls
    nothing.

    :param pairs: ``(low_id, high_id)`` per pair of leads, the lower id first;
        both may be live or one restored after a merge of the two.
    """


@hookspec
def crm_contacts_kept_apart(session: Session, actor: User | None,
                            pairs: Sequence[tuple[int, int]]) -> None:
    """Contacts are different people; see :func:`crm_leads_kept_apart`."""


# -- after commit --------------------------------------------------------------------


@hookspec
def crm_after_commit(events: Sequence[Event]) -> None:
    """Every event raised in a transaction, replayed once after it committed.

    Called outside any transaction, in the order the events were raised. Nothing is
    replayed for a transaction that rolled back. An exception here is logged and
    does not undo the committed work, so keep side effects idempotent.

    :param events: :class:`crmcore.Event` objects; ``event.name`` is the event hook's
        name and ``event.payload`` its arguments other than ``session``.
    """
