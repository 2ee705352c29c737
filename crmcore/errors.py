"""Errors that cross layers: services raise them, the API, the web UI and the CLI
turn each into its own kind of clear answer (an HTTP status, a flashed message, a
CLI message)."""

from __future__ import annotations

from collections.abc import Mapping


class CrmError(Exception):
    """Base of every error the core reports to a person."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: Mapping[str, object] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = dict(errors or {})


class StartupError(CrmError):
    """The application cannot start as configured; the message says why."""

    title = "Start-up failed"


class PluginError(StartupError):
    """A plugin cannot be enabled or loaded; the message names it."""

    title = "Plugin error"


class ValidationFailed(CrmError):
    """Input did not validate; ``errors`` maps each field to its messages."""

    status = 422
    title = "Validation failed"


class NotAuthenticated(CrmError):
    """No credentials, or ones that are unknown, revoked or of an inactive user."""

    status = 401
    title = "Unauthorized"


class NotFound(CrmError):
    """No such record, or one the actor may not see: the same answer for both."""

    status = 404
    title = "Not found"


class Forbidden(CrmError):
    """The actor may see the record but not do this to it."""

    status = 403
    title = "Forbidden"


class Conflict(CrmError):
    """The change collides with stored data (a duplicate key, a stale version)."""

    status = 409
    title = "Conflict"


class StaleVersion(Conflict):
    """Someone else saved the record since the version the change was made to."""


class PreconditionFailed(CrmError):
    """An If-Match version did not match the stored one."""

    status = 412
    title = "Precondition failed"


class PreconditionRequired(CrmError):
    """A change that needs an ``If-Match`` header came without one."""

    status = 428
    title = "Precondition required"


class Vetoed(CrmError):
    """Raised by a plugin's event hook to refuse a change; the transaction rolls back."""

    status = 409
    title = "Refused by a plugin"


class ErasureFailed(CrmError):
    """An owner of personal data (the core or a plugin) failed to erase it; the
    whole anonymization was rolled back."""

    status = 500
    title = "Anonymization failed"


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is Ctrl-C (or the SIGTERM a worker turns into it), or
    was raised while one was handled: a driver asked to roll back a statement
    cut short may fail ("another command is already in progress"), and that
    error, not the interrupt, then reaches the caller."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt | SystemExit):
            return True
        seen = seen.__context__
    return False
