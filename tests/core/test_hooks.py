"""Registration hooks, and two guards: every hookspec is documented and tested,
and docs/hooks.md is what `crm plugins hooks` generates."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from sqlalchemy import inspect as sa_inspect

from crmcore.db import transaction
from crmcore.errors import Conflict
from crmcore.hookdocs import render_markdown, specs
from crmcore.services.records import LEADS
from crmcore.services.records import create as create_record
from tests.fake_plugins import _descriptors
from tests.fake_plugins.alpha import hooks as alpha

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.plugins("alpha")


@pytest.fixture
def crm_extra_plugins():
    return {"alpha": _descriptors()["alpha"]}


def test_hook_crm_models_registers_plugin_tables(app):
    assert ("crm_models", None) in alpha.calls
    assert "alpha_item" in sa_inspect(app.extensions["crm"].engine).get_table_names()


def test_hook_crm_migrations_gives_the_plugin_its_own_version_table(app):
    tables = sa_inspect(app.extensions["crm"].engine).get_table_names()
    assert {"alpha_version", "alembic_version_alpha", "alembic_version"} & set(tables) == {
        "alembic_version_alpha", "alembic_version"}


def test_hook_crm_blueprints_and_settings_reach_the_route(client):
    assert client.get("/alpha/ping").get_json() == {"greeting": "hello"}


def test_hook_crm_cli_commands_is_collected(app):
    commands = [c.name for r in app.extensions["crm"].hook.crm_cli_commands() for c in r or ()]
    assert commands == ["alpha-hello"]


def test_hook_crm_roles_and_crm_permissions_merge(app):
    roles = app.extensions["crm"].roles
    assert roles.roles["alpha_partner"].external
    assert roles.allows("alpha_partner", "alpha.use") and roles.allows("admin", "alpha.use")
    assert not roles.allows("sales", "alpha.use")
    assert roles.internal() == ["admin", "manager", "sales"]


def test_hook_crm_permissions_unknown_role_stops_startup(tmp_path):
    from crmcore.auth.roles import RoleRegistry
    from crmcore.errors import PluginError
    from crmcore.types import Permission

    class Hook:
        def crm_roles(self):
            return [[]]

        def crm_permissions(self):
            return [[Permission("x.y", "x", ("ghost",))]]

    with pytest.raises(PluginError, match="unknown role 'ghost'"):
        RoleRegistry.collect(Hook())


def test_hook_crm_app_created_runs_last(app):
    assert app.jinja_env.globals["alpha_loaded"] is True


def test_hook_crm_after_commit_gets_events_in_order_and_only_after_commit(app, make_user):
    alpha.calls.clear()
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as session:
        create_record(session, admin, LEADS, {"full_name": "A"})
        create_record(session, admin, LEADS, {"full_name": "B"})
        assert not [c for c in alpha.calls if c[0] == "crm_after_commit"
                    and c[1] == ["crm_leads_created", "crm_leads_created"]]
    assert ("crm_after_commit", ["crm_leads_created", "crm_leads_created"]) in alpha.calls


def test_a_rolled_back_savepoint_forgets_only_its_own_events(app, make_user):
    alpha.calls.clear()
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as session:
        create_record(session, admin, LEADS, {"full_name": "Kept", "emails": ["k@example.com"]})
        with pytest.raises(Conflict), session.begin_nested():
            create_record(session, admin, LEADS, {"full_name": "Gone"})
            create_record(session, admin, LEADS, {"full_name": "Twin",
                                                  "emails": ["k@example.com"]})
        create_record(session, admin, LEADS, {"full_name": "After"})
    replayed = [c[1] for c in alpha.calls if c[0] == "crm_after_commit"]
    assert replayed[-1] == ["crm_leads_created", "crm_leads_created"]


def test_every_hookspec_is_documented():
    for name, fn in specs():
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 40, f"{name} needs a docstring saying when it runs and what it gets"
        for param in inspect.signature(fn).parameters:
            if name.startswith(("crm_leads", "crm_lead_", "crm_contacts", "crm_user")):
                continue  # event hooks share the documented (session, actor, ids) shape
            assert f":param {param}:" in doc, f"{name} does not document {param}"


def test_hook_crm_api_schemas(app, client, monkeypatch):
    from crmcore.api.openapi import build_spec
    from crmcore.errors import PluginError

    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["schemas"]["AlphaPing"] == alpha.API_SCHEMAS["AlphaPing"]
    assert not any(path.startswith("/alpha") for path in spec["paths"])  # not under /api
    monkeypatch.setattr(alpha, "API_SCHEMAS", {"LeadInput": {"type": "object"}})
    with pytest.raises(PluginError, match="'LeadInput' is already taken"):
        build_spec(app)


def test_every_hookspec_has_a_test():
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    tested = set(re.findall(r"def (test_hook_\w+)", sources))
    # A test named test_hook_<a>_and_<b> covers every hook name it spells out.
    missing = [name for name, _ in specs() if not any(name in t for t in tested)]
    assert not missing, f"hookspecs without a test_hook_<name> test: {missing}"


def test_hook_reference_in_docs_is_generated_from_the_specs():
    assert (ROOT / "docs" / "hooks.md").read_text() == render_markdown(), (
        "docs/hooks.md is stale: run `crm plugins hooks > docs/hooks.md`")
