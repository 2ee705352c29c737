"""The core's ``crm`` commands, one module per group."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from sqlalchemy.exc import DBAPIError

from crmcore.errors import CrmError, interrupted

# PostgreSQL's SQLSTATE for a missing table; SQLite says it in words.
_UNDEFINED_TABLE = "42P01"


def clear_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a person can act on into a clear message and exit 1:
    the service's refusals, and a database that cannot be reached or has not
    been set up."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CrmError as exc:
            lines = [exc.detail] + [
                f"  {field}: {' '.join(map(str, msgs))}"
                for field, messages in exc.errors.items()
                # A message the detail already says is not repeated under its field.
                if (msgs := [m for m in (messages if isinstance(messages, list) else [messages])
                             if str(m) not in exc.detail])
            ]
            raise click.ClickException("\n".join(lines)) from None
        except DBAPIError as exc:
            if interrupted(exc):
                raise click.Abort from None  # "Aborted!", as for Ctrl-C itself
            if exc.statement is None:  # raised while connecting
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
                raise click.ClickException(
                    f"Cannot reach the database ({reason}): check CRM_DATABASE_URL (and "
                    "CRM_INSTANCE_PATH, where SQLite's file lives).") from None
            if not _missing_table(exc):
                raise
            reason = str(exc.orig).strip().splitlines()[0]
            raise click.ClickException(
                f"The database is not set up for this command ({reason}): run `crm init`, "
                "or `crm db upgrade` after installing a new version.") from None

    return wrapper


def utf8(text: str) -> bool:
    """Whether ``text`` can be stored: no surrogates standing for bytes the
    terminal could not decode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _missing_table(exc: DBAPIError) -> bool:
    return (getattr(exc.orig, "sqlstate", None) == _UNDEFINED_TABLE
            or "no such table" in str(exc.orig))
