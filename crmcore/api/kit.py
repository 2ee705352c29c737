"""What a plugin's JSON endpoints use of the core: problem+json errors, JSON
bodies, query arguments and responses shaped like the core API's.

Part of the public plugin API; the rest of ``crmcore.api`` is not.
"""

from __future__ import annotations

from crmcore.api.blueprint import empty, int_arg, json_body, json_response, query_args
from crmcore.api.problems import problem, register_problem_handlers

__all__ = [
    "empty",
    "int_arg",
    "json_body",
    "json_response",
    "problem",
    "query_args",
    "register_problem_handlers",
]
