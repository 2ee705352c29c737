"""Tests of the example plugin with crmcore's testing kit.

The kit is a pytest plugin installed with crmcore, so its fixtures (``app``,
``client``, ``db_session``, ``make_user``, ``api_client``, ...) and the
``@pytest.mark.plugins(...)`` marker need no conftest. Each test gets a fresh,
migrated database (core and enabled plugins) in its temporary folder.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from crmcore import NavItem, PluginInfo, hookimpl
from crmcore.db import Base
from crmcore.errors import Vetoed
from crmcore.models import User

try:
    import crm_example
except ImportError:
    # A source checkout where the plugin is not pip-installed (crmcore's own
    # test run): import it from the folder above. Installed, this is not needed.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import crm_example


@pytest.fixture
def crm_extra_plugins():
    """Installed (``pip install -e .``), the plugin is found by its entry point.
    Otherwise register its descriptor directly, as the kit allows for throwaway
    plugins, so that the tests run either way. ``vetoer`` is a throwaway plugin
    whose hooks are this module's ``@hookimpl`` functions."""
    extra = {"vetoer": VETOER}
    if not any(ep.name == "example" for ep in entry_points(group="crm.plugins")):
        extra["example"] = crm_example.plugin
    return extra


VETOER = PluginInfo(name="vetoer", description="refuses every new user", hooks=__name__)


@hookimpl
def crm_user_created(session, actor, user_ids):
    raise Vetoed("no new users today")


@pytest.mark.plugins("example")
def test_new_user_gets_a_note(make_user, client):
    make_user(email="ada@example.com")

    response = client.get("/example/notes")

    assert response.status_code == 200
    assert response.get_json() == {"greeting": "Hello", "notes": ["Welcome, ada@example.com!"]}


@pytest.mark.plugins("example", "vetoer")
def test_note_rolls_back_with_the_user(make_user, db_session):
    # `example` runs first (load order is by name) and adds its note, then
    # `vetoer` refuses the user: the whole transaction, note included, rolls back.
    from crm_example.models import ExampleNote

    with pytest.raises(Vetoed):
        make_user(email="ada@example.com")

    assert db_session.scalars(select(ExampleNote)).all() == []
    assert db_session.scalars(select(User)).all() == []


# Settings are read when the app is built, so set them in fixtures that run
# before `client` (which builds the app through `app`).


@pytest.fixture
def greeting_env(monkeypatch):
    monkeypatch.setenv("CRM_EXAMPLE_GREETING", "Hi")


@pytest.mark.plugins("example")
def test_greeting_from_the_environment(greeting_env, client):
    assert client.get("/example/notes").get_json()["greeting"] == "Hi"


@pytest.fixture
def plugins_toml(crm_config):
    instance = Path(crm_config["INSTANCE_PATH"])
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "plugins.toml").write_text('[settings.example]\ngreeting = "Welcome"\n')


@pytest.mark.plugins("example")
def test_greeting_from_plugins_toml(plugins_toml, client):
    assert client.get("/example/notes").get_json()["greeting"] == "Welcome"


@pytest.mark.plugins("example")
def test_nav_item(app, make_user):
    items = app.extensions["crm"].hook.crm_nav_items(user=make_user())
    assert [NavItem("Notes", "example.notes")] in items


def _ours(obj, name, type_, reflected, compare_to):
    return type_ != "table" or name.startswith("example_")


@pytest.mark.plugins("example")
def test_migration_matches_the_models(app):
    # Alembic's autogenerate comparison of the migrated database with the
    # models, limited to this plugin's tables: a column added to a model but
    # forgotten in a migration shows up here.
    with app.extensions["crm"].engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _ours})
        assert compare_metadata(context, Base.metadata) == []


@pytest.mark.plugins()
def test_disabled_plugin_adds_nothing(client, make_user):
    make_user()
    assert client.get("/example/notes").status_code == 404
