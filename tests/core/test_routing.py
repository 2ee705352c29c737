"""URL rules build the URLs Werkzeug's own rules build, compiling on first use."""

from typing import Any

import pytest
from werkzeug.routing import Map, Rule

from crmcore.app import create_app

SAMPLES = {"IdConverter": 7, "TextConverter": "a b/é", "PathConverter": "x/y z"}


def sample_values(rule: Rule) -> dict[str, Any]:
    return {name: SAMPLES[type(converter).__name__]
            for name, converter in rule._converters.items()}


def test_every_rule_builds_what_werkzeug_builds(app):
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 100
    plain = Map([Rule(rule.rule, endpoint=rule.endpoint, defaults=rule.defaults,
                      methods=rule.methods) for rule in rules],
                converters=app.url_map.converters).bind("crm.example")
    ours = app.url_map.bind("crm.example")
    for rule in rules:
        values = sample_values(rule)
        for extra in ({}, {"q": "a&b", "page": 2}):
            method = next(iter(rule.methods - {"HEAD", "OPTIONS"}))
            assert ours.build(rule.endpoint, {**values, **extra}, method=method) == \
                plain.build(rule.endpoint, {**values, **extra}, method=method), rule.rule


def test_builders_are_compiled_once_on_first_use(crm_config, monkeypatch):
    compiled: list[str] = []
    compile_builder = Rule._compile_builder

    def counting(rule: Rule, append_unknown: bool = True) -> Any:
        compiled.append(rule.rule)
        return compile_builder(rule, append_unknown)

    monkeypatch.setattr(Rule, "_compile_builder", counting)
    app = create_app(crm_config)
    assert compiled == []
    with app.test_request_context():
        from flask import url_for

        assert url_for("web.lead", record_id=3) == "/leads/3"
        assert url_for("web.lead", record_id=4, tab="notes") == "/leads/4?tab=notes"
        assert url_for("web.lead", record_id=5) == "/leads/5"
    assert compiled == ["/leads/<int:record_id>"]
    app.extensions["crm"].engine.dispose()


@pytest.mark.parametrize("path", ["/leads/7", "/api/v1/leads/7"])
def test_matching_needs_no_builder(client, path):
    # Routing a request is what every request does; it must not depend on the
    # builders (a 401/302 means the route matched; 404 would mean it did not).
    assert client.get(path).status_code in {302, 401}
