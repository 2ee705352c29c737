"""How the app's URL rules are made: ids that fit a column, builders made on use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import IntegerConverter, Map, Rule

from crmcore.db import MAX_INT


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route, the core's and plugins': a number larger
    than the database stores names nothing, so it matches no route (404)
    instead of reaching a query."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_INT)
        super().__init__(url_map, *args, **kwargs)


class LazyBuildRule(Rule):
    """A URL rule that compiles its URL builders when ``url_for`` first needs them.

    Werkzeug compiles two builder functions (from a syntax tree) for every rule
    as it is added, about a sixth of building the app with every plugin
    (``bench/run.py``), and every start of a worker or a test's app paid it for
    all 150 rules, though a process builds URLs for a few of them. Matching a
    request is unchanged: it uses what :meth:`Rule.compile` parses, not the
    builders. A builder compiled on first use replaces the stand-in, so later
    calls cost what Werkzeug's do; two threads racing to compile it make the
    same function twice.
    """

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        name = "_build_unknown" if append_unknown else "_build"
        compile_builder = super()._compile_builder

        def build_on_first_use(rule: LazyBuildRule, **values: Any) -> tuple[str, str]:
            builder = compile_builder(append_unknown).__get__(rule, None)
            setattr(rule, name, builder)
            return builder(**values)

        return build_on_first_use
