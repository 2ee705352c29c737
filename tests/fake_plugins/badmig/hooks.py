"""A plugin whose second migration fails."""

from pathlib import Path

from crmcore import hookimpl


@hookimpl
def crm_migrations():
    return {"badmig": Path(__file__).parent / "migrations"}
