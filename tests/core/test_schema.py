"""The core's migrations build exactly the tables and indexes its models declare,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.dialects import postgresql

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


@pytest.mark.postgres_only
@pytest.mark.plugins("gdpr", "leadworks", "mail")
def test_every_byte_ordered_column_has_its_collation(app):
    """Alembic's comparison leaves collations out: a migration that forgot one
    would pass the test above, and PostgreSQL would order the column by the
    database's locale."""
    declared = {(table.name, column.name) for table in Base.metadata.tables.values()
                for column in table.columns
                if getattr(column.type.dialect_impl(postgresql.dialect()),
                           "collation", None) == "C"}
    with app.extensions["crm"].engine.connect() as conn:
        stored = {tuple(row) for row in conn.execute(text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE collation_name = 'C' AND table_schema = current_schema()"))}
    assert ("other_keys", "value") in declared
    assert stored == declared
