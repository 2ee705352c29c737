"""The hook reference, rendered from the hook specifications' docstrings."""

from __future__ import annotations

import inspect

from crmcore import hookspecs


def specs() -> list[tuple[str, object]]:
    """Every hook specification, in the order the module defines them."""
    return [
        (name, fn)
        for name, fn in vars(hookspecs).items()
        if name.startswith("crm_") and callable(fn) and hasattr(fn, "crm_spec")
    ]


IN_TRANSACTION_PREFIXES = ("crm_leads_", "crm_lead_", "crm_contacts_", "crm_user_created")


def kind(name: str) -> str:
    """When a hook runs relative to the caller's transaction."""
    if name == "crm_after_commit":
        return "after commit; collects from every plugin"
    if name.startswith(IN_TRANSACTION_PREFIXES):
        return "inside the caller's transaction; collects from every plugin"
    return "collects results from every plugin"


def render_markdown() -> str:
    out = [
        "# Hook reference",
        "",
        "Generated from `crmcore/hookspecs.py` by `crm plugins hooks`; do not edit by hand.",
        "",
        inspect.cleandoc(hookspecs.__doc__ or ""),
        "",
    ]
    for name, fn in specs():
        signature = str(inspect.signature(fn)).replace("'", "")  # type: ignore[arg-type]
        out += [
            f"## `{name}`",
            "",
            f"```python\n{name}{signature}\n```",
            "",
            f"*{kind(name)}*",
            "",
            inspect.cleandoc(fn.__doc__ or ""),
            "",
        ]
    return "\n".join(out)
