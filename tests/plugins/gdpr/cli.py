"""Running ``crm`` in-process against the test's database, as cron would."""

from __future__ import annotations

from click.testing import CliRunner, Result

from crmcore.cli import cli


def runner(app):
    env = {"CRM_DATABASE_URL": app.extensions["crm"].engine.url.render_as_string(
               hide_password=False),
           "CRM_INSTANCE_PATH": str(app.extensions["crm"].instance),
           "CRM_PLUGINS": "gdpr"}

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return run
