"""``crm run`` and ``crm shell``."""

from __future__ import annotations

import code

import click

from crmcore.commands import clear_errors


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Reload on code changes and show tracebacks.")
@clear_errors
def run(host: str, port: int, debug: bool) -> None:
    """Run the development server. For production use gunicorn with crmcore.wsgi:app."""
    from crmcore.app import check_database, create_app

    # The development server speaks plain HTTP, where browsers drop Secure cookies.
    app = create_app({"SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                      "DEV_SERVER": True})
    check_database(app)
    click.echo(f"crmcore on http://{host}:{port}/")
    app.run(host=host, port=port, debug=debug, use_reloader=debug)


@click.command("shell")
@clear_errors
def shell() -> None:
    """An interactive Python shell with the app, a session and the models loaded."""
    from crmcore import models
    from crmcore.app import create_app, db

    app = create_app()
    with app.app_context():
        names = {"app": app, "session": db(), "models": models}
        code.interact(banner=f"crmcore shell; names: {', '.join(names)}", local=names)


COMMANDS = [run, shell]
