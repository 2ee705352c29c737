"""The core's ``crm`` commands, one module per group."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from crmcore.errors import CrmError


def clear_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a person can act on into a clear message and exit 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CrmError as exc:
            lines = [exc.detail] + [
                f"  {field}: {' '.join(map(str, msgs if isinstance(msgs, list) else [msgs]))}"
                for field, msgs in exc.errors.items()
            ]
            raise click.ClickException("\n".join(lines)) from None

    return wrapper
