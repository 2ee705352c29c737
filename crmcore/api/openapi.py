"""The OpenAPI 3 description of the API, built with apispec from the marshmallow
schemas and the views' docstrings, and a plain HTML page that renders it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Collection
from typing import Any

from flask import Flask, Response, current_app, render_template_string, url_for

from crmcore import __version__
from crmcore.api import schemas as api_schemas
from crmcore.api.blueprint import ApiDoc, Param, bp, doc, json_response
from crmcore.errors import PluginError
from crmcore.schemas import records as record_schemas
from crmcore.schemas import users as user_schemas
from crmcore.schemas.records import input_schema
from crmcore.schemas.users import ProfileInput

RULE_ARG = re.compile(r"<(?:(?P<conv>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def _schemas(app: Flask) -> dict[str, Any]:
    hook = app.extensions["crm"].hook
    return {
        # Input schemas carry the fields enabled plugins add.
        "LeadInput": input_schema(hook, "lead"),
        "ContactInput": input_schema(hook, "contact"),
        "LeadOutput": api_schemas.LeadOutput,
        "ContactOutput": api_schemas.ContactOutput,
        "TimelineOutput": api_schemas.TimelineOutput,
        "CustomFieldInput": api_schemas.CustomFieldInput,
        "CustomFieldUpdate": api_schemas.CustomFieldInput(
            partial=True, only=api_schemas.CUSTOM_FIELD_CHANGES),
        "CustomFieldOutput": api_schemas.CustomFieldOutput,
        "CommentInput": record_schemas.CommentInput,
        "StageSchema": record_schemas.StageSchema,
        "StageUpdate": record_schemas.StageSchema(partial=True),
        "UserSchema": api_schemas.UserSchema,
        "UserCreateSchema": user_schemas.UserCreateSchema,
        "UserUpdateSchema": user_schemas.UserUpdateSchema,
        "ProfileInput": ProfileInput,
        "Links": api_schemas.Links,
        **{name: getattr(api_schemas, name) for name in (
            # Nested schemas before those that nest them, or apispec names them itself.
            "BulkInput", "BulkResult", "ConvertInput", "NextStep", "ConvertResult", "MergeInput",
            "LeadPage", "ContactPage", "LeadList", "ContactList", "Matched", "LeadCandidate",
            "ContactCandidate", "LeadCandidateList", "ContactCandidateList", "DistinctInput",
            "DistinctResult", "LeadDuplicateSet", "ContactDuplicateSet", "LeadDuplicatePage",
            "ContactDuplicatePage", "UserPage", "TimelineRow",
            "TimelinePage", "StageList", "CustomFieldList", "BinItem", "RestoreResult",
            "RecycleBinPage", "Problem", "ImportInput", "ImportCheckedInput", "ImportProblem",
            "ImportLinks", "ImportJobOutput", "ImportJobPage")},
    }


def _plugin_schemas(app: Flask, taken: Collection[str]) -> dict[str, Any]:
    """The schemas plugins add (``crm_api_schemas``); a name taken twice is a
    PluginError naming it."""
    found: dict[str, Any] = {}
    for schemas in app.extensions["crm"].hook.crm_api_schemas(app=app):
        for name, schema in (schemas or {}).items():
            if name in taken or name in found:
                raise PluginError(f"API schema name {name!r} is already taken")
            found[name] = schema
    return found


def _parameters(rule: str, note: ApiDoc) -> list[dict[str, Any]]:
    params = []
    for match in RULE_ARG.finditer(rule):
        schema: dict[str, Any] = {"type": "integer" if match["conv"] == "int" else "string"}
        if match["conv"] == "any":
            schema["enum"] = [a.strip() for a in match["args"].split(",")]
        params.append({"name": match["name"], "in": "path", "required": True,
                       "schema": schema})
    for where, described in (("query", note.query), ("header", note.request_headers)):
        for name, about in described.items():
            param = about if isinstance(about, Param) else Param(about)
            params.append({"name": name, "in": where, "required": param.required,
                           "description": param.description, "schema": dict(param.schema)})
    return params


def _ref(name: str) -> dict[str, str]:
    # An explicit reference: the marshmallow plugin would look a bare name up in
    # marshmallow's class registry and register a second, plugin-less LeadInput.
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(endpoint: str, view: Any, rule: str, note: ApiDoc) -> dict[str, Any]:
    docstring = inspect.cleandoc(view.__doc__ or endpoint)
    summary, _, description = docstring.partition("\n")
    problem = {"content": {"application/problem+json": {"schema": _ref("Problem")}}}
    ok: dict[str, Any] = {"description": summary.strip()}
    if note.response:
        ok["content"] = {note.media_type: {"schema": _ref(note.response)}}
    elif note.media_type != "application/json":
        ok["content"] = {note.media_type: {"schema": {"type": "string"}}}
    if note.headers:
        ok["headers"] = {k: {"description": v, "schema": {"type": "string"}}
                         for k, v in note.headers.items()}
    op: dict[str, Any] = {
        "operationId": endpoint.removeprefix("api."),
        "summary": summary.strip(),
        "tags": [note.tag],
        "parameters": _parameters(rule, note),
        "responses": {str(note.status): ok, "default": {"description": "A problem.",
                                                        **problem}},
    }
    if description.strip():
        op["description"] = description.strip()
    if note.body:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _ref(note.body)}}}
    if note.form:
        op["requestBody"] = {"required": True,
                             "content": {"multipart/form-data": {"schema": _ref(note.form)}}}
    if note.public:
        op["security"] = []
    elif "If-Match" in (view.__doc__ or ""):
        op["parameters"].append({"name": "If-Match", "in": "header", "required": True,
                                 "description": "The ETag of the version you edited.",
                                 "schema": {"type": "string"}})
    return op


def build_spec(app: Flask) -> dict[str, Any]:
    # Imported here, when the spec is first asked for, not at every start-up.
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    spec = APISpec(
        title="crmcore API", version=__version__, openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "The JSON API of crmcore. Authenticate with "
                             "`Authorization: Bearer <token>`; errors are "
                             "application/problem+json. Bodies are JSON in UTF-8 "
                             "as RFC 8259 has it: NaN, Infinity and lone "
                             "surrogates are a 400."},
        servers=[{"url": "/"}],
        security=[{"bearer": []}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    core = _schemas(app)
    for name, schema in {**core, **_plugin_schemas(app, {*core, "Restored"})}.items():
        if isinstance(schema, dict):
            spec.components.schema(name, component=schema)
        else:
            spec.components.schema(name, schema=schema)
    # What a restore answers: the lead or contact as it is now, or a plugin
    # record's type and id.
    spec.components.schema("Restored", component={"oneOf": [
        _ref("LeadOutput"), _ref("ContactOutput"), _ref("RestoreResult")]})
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        # The core's endpoints, and those of plugins' JSON blueprints.
        if not rule.rule.startswith(bp.url_prefix + "/"):  # type: ignore[operator]
            continue
        view = app.view_functions[rule.endpoint]
        note = getattr(view, "api_doc", None)
        if note is None:
            continue
        path = RULE_ARG.sub(lambda m: "{" + m["name"] + "}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                rule.endpoint, view, rule.rule, note)
    for path in sorted(paths):
        spec.path(path=path, operations=paths[path])
    return spec.to_dict()  # type: ignore[no-any-return]


def get_spec(app: Flask) -> dict[str, Any]:
    """The document, built once per application (plugins cannot change after start)."""
    if "crm_api_spec" not in app.extensions:
        app.extensions["crm_api_spec"] = build_spec(app)
    return app.extensions["crm_api_spec"]  # type: ignore[no-any-return]


@bp.get("/openapi.json")
@doc("meta", public=True)
def openapi_json() -> Response:
    """The OpenAPI 3 description of this API."""
    return json_response(get_spec(current_app._get_current_object()))  # type: ignore[attr-defined]


def _ref_name(schema: Any) -> str | None:
    if isinstance(schema, dict) and "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    return None


def _type_of(prop: dict[str, Any]) -> str:
    ref = _ref_name(prop)
    if ref:
        return ref
    kind = prop.get("type", "any")
    if kind == "array":
        return f"array of {_type_of(prop.get('items', {}))}"
    if "enum" in prop:
        return f"{kind}: one of {', '.join(map(str, prop['enum']))}"
    return str(kind) + (" or null" if prop.get("nullable") else "")


def _fields(spec: dict[str, Any], name: str | None) -> list[dict[str, Any]]:
    schema = spec["components"]["schemas"].get(name or "", {})
    required = set(schema.get("required", ()))
    return [{"name": key, "type": _type_of(prop), "required": key in required,
             "read_only": prop.get("readOnly", False),
             "description": prop.get("description", "")}
            for key, prop in schema.get("properties", {}).items()]


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            body = _ref_name(op.get("requestBody", {}).get("content", {})
                             .get("application/json", {}).get("schema"))
            responses = []
            for status, answer in op["responses"].items():
                media = next(iter(answer.get("content", {}).items()), (None, {}))
                responses.append({"status": status, "description": answer.get("description", ""),
                                  "media": media[0], "schema": _ref_name(media[1].get("schema"))})
            found.append({"path": path, "method": method.upper(), "op": op, "body": body,
                          "body_fields": _fields(spec, body), "responses": responses,
                          "anchor": op["operationId"]})
    return found


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ spec.info.title }} {{ spec.info.version }}</title>
</head>
<body>
<header>
<h1>{{ spec.info.title }} <small>{{ spec.info.version }}</small></h1>
<p>{{ spec.info.description }}</p>
<p>Machine-readable: <a href="{{ json_url }}">openapi.json</a> (OpenAPI {{ spec.openapi }}).</p>
</header>
<nav>
<h2>Endpoints</h2>
<ul>
{% for o in operations %}
<li><a href="#{{ o.anchor }}"><code>{{ o.method }} {{ o.path }}</code></a> {{ o.op.summary }}</li>
{% endfor %}
</ul>
</nav>
<main>
{% for o in operations %}
<section id="{{ o.anchor }}">
<h2><code>{{ o.method }} {{ o.path }}</code></h2>
<p><strong>{{ o.op.summary }}</strong></p>
{% if o.op.description %}<p>{{ o.op.description }}</p>{% endif %}
<p>{% if o.op.security == [] %}No authentication.{% else %}Bearer token.{% endif %}</p>
{% if o.op.parameters %}
<h3>Parameters</h3>
<table>
<thead><tr><th>Name</th><th>In</th><th>Required</th><th>Type</th><th>Description</th></tr></thead>
<tbody>
{% for p in o.op.parameters %}
<tr><td><code>{{ p.name }}</code></td><td>{{ p.in }}</td>
<td>{{ "yes" if p.required else "no" }}</td>
<td>{{ p.schema.type }}{% if p.schema.enum %}: {{ p.schema.enum|join(", ") }}{% endif %}</td>
<td>{{ p.description }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
{% if o.body %}
<h3>Request body: <a href="#schema-{{ o.body }}">{{ o.body }}</a> (application/json)</h3>
<table>
<thead><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr></thead>
<tbody>
{% for f in o.body_fields if not f.read_only %}
<tr><td><code>{{ f.name }}</code></td><td>{{ f.type }}</td>
<td>{{ "yes" if f.required else "no" }}</td><td>{{ f.description }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
<h3>Responses</h3>
<ul>
{% for r in o.responses %}
<li><code>{{ r.status }}</code> {{ r.description }}{% if r.schema %}:
<a href="#schema-{{ r.schema }}">{{ r.schema }}</a> ({{ r.media }}){% elif r.media %}:
{{ r.media }}{% endif %}</li>
{% endfor %}
</ul>
</section>
{% endfor %}
<section>
<h2>Schemas</h2>
{% for name, fields, alternatives in schemas %}
<section id="schema-{{ name }}">
<h3>{{ name }}</h3>
{% if alternatives %}
<p>One of: {% for other in alternatives -%}
<a href="#schema-{{ other }}">{{ other }}</a>{{ ", " if not loop.last }}
{%- endfor %}.</p>
{% else %}
<table>
<thead><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr></thead>
<tbody>
{% for f in fields %}
<tr><td><code>{{ f.name }}</code></td><td>{{ f.type }}</td>
<td>{{ "yes" if f.required else "no" }}</td><td>{{ f.description }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
</section>
{% endfor %}
</section>
</main>
</body>
</html>
"""


@bp.get("/docs")
@doc("meta", public=True, response=None, media_type="text/html")
def docs() -> Response:
    """This page: the API's endpoints and schemas, for people."""
    spec = get_spec(current_app._get_current_object())  # type: ignore[attr-defined]
    found = spec["components"]["schemas"]
    schemas = [(name, _fields(spec, name),
                [_ref_name(other) for other in found[name].get("oneOf", ())])
               for name in sorted(found)]
    html = render_template_string(DOCS_PAGE, spec=spec, operations=_operations(spec),
                                  schemas=schemas, json_url=url_for("api.openapi_json"))
    return current_app.response_class(html, mimetype="text/html")
