"""``crm users ...`` and ``crm tokens ...``."""

from __future__ import annotations

import sys

import click

from crmcore.app import build_runtime
from crmcore.commands import clear_errors
from crmcore.db import transaction
from crmcore.services import users as user_service


@click.group("users")
def users_group() -> None:
    """Manage users."""


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, help="admin, manager, sales or a plugin's role.")
@click.option("--name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@clear_errors
def create_user(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create a user; the password is prompted for, or read with --password-stdin."""
    password = _password(password_stdin)
    runtime = build_runtime()
    with transaction(runtime.sessions) as session:
        user = user_service.create_user(
            session, None, {"email": email, "role": role, "name": name, "password": password}
        )
        click.echo(f"created user {user.email} ({user.role}), id {user.id}")


@users_group.command("set-password")
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@clear_errors
def set_password(email: str, password_stdin: bool) -> None:
    """Give a user a new password (one who forgot theirs); their sessions end."""
    password = _password(password_stdin)
    runtime = build_runtime()
    with runtime.sessions() as session:
        user_id = user_service.user_by_email(session, email).id
    user = user_service.set_password(runtime.sessions, None, user_id, password)
    click.echo(f"new password set for {user.email}; their sessions were signed out")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group("tokens")
def tokens_group() -> None:
    """Manage API tokens."""


@tokens_group.command("create")
@click.option("--email", required=True, help="The user the token acts as.")
@click.option("--name", default="cli", help="A label to recognize the token by.")
@clear_errors
def create_token(email: str, name: str) -> None:
    """Print a new API token for a user. It is shown once and stored hashed."""
    runtime = build_runtime()
    with transaction(runtime.sessions) as session:
        user = user_service.user_by_email(session, email)
        token = user_service.issue_token(session, None, user, name)
    click.echo(token)


COMMANDS = [users_group, tokens_group]


@click.command("demo")
@click.option("--count", default=500, show_default=True, help="Leads (and as many contacts).")
@clear_errors
def demo(count: int) -> None:
    """Load demo users, leads and contacts (once) and print how to sign in."""
    from crmcore.demo import load_demo, load_plugin_demos, login_help

    runtime = build_runtime()
    with transaction(runtime.sessions) as session:
        if not load_demo(session, count, echo=click.echo):
            click.echo("the demo data is already loaded")
        extra = load_plugin_demos(session)
    click.echo(login_help(extra))


COMMANDS.append(demo)
