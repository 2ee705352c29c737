"""The core's migrations build exactly the tables and indexes its models declare,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from crmcore.db import Base

pytestmark = pytest.mark.plugins()


def test_the_core_migrations_build_what_the_models_declare(app):
    with app.extensions["crm"].engine.connect() as conn:
        core = {name for name in inspect(conn).get_table_names()
                if not name.startswith("alembic_version")}

        def ours(obj, name, type_, reflected, compare_to):
            return type_ != "table" or name in core

        context = MigrationContext.configure(conn, opts={"include_object": ours})
        assert compare_metadata(context, Base.metadata) == []
