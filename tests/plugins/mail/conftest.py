"""Fixtures for the mail plugin's tests: the app's session factory and the
`crm` command line run against the app's database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result

from crmcore.cli import cli


@pytest.fixture
def sessions(app: Any) -> Any:
    return app.extensions["crm"].sessions


@pytest.fixture
def crm(app: Any) -> Callable[..., Result]:
    """Run ``crm ARGS`` in-process on the app's database and instance, with
    only the mail plugin enabled."""
    runtime = app.extensions["crm"]
    env = {"CRM_INSTANCE_PATH": str(runtime.instance),
           "CRM_DATABASE_URL": runtime.engine.url.render_as_string(hide_password=False),
           "CRM_PLUGINS": "mail"}

    def run(*args: str, **extra_env: str) -> Result:
        return CliRunner().invoke(cli, list(args), env={**env, **extra_env},
                                  catch_exceptions=False)

    return run
