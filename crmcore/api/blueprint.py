"""The API blueprint and the small helpers every endpoint shares: the acting
user, JSON bodies, query parameters, ETags and OpenAPI notes on views."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from crmcore.errors import (
    CrmError,
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
)
from crmcore.models import User
from crmcore.request_text import refuse_nul

bp = Blueprint("api", __name__, url_prefix="/api/v1")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Param:
    """A query parameter as the OpenAPI document gives it: ``schema`` is the
    JSON Schema of its value (text, unless it says otherwise), so that a
    client generated from the document sends what the endpoint takes."""

    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


def whole(description: str, low: int = 1, high: int | None = None,
          default: int | None = None) -> Param:
    """A whole-number parameter from ``low`` to ``high``."""
    schema: dict[str, Any] = {"type": "integer", "minimum": low}
    if high is not None:
        schema["maximum"] = high
    if default is not None:
        schema["default"] = default
    return Param(description, schema)


def one_of(description: str, values: Iterable[str], required: bool = False) -> Param:
    """A parameter that takes one of ``values``."""
    return Param(description, {"type": "string", "enum": list(values)}, required)


# The two parameters of every list a page at a time.
CURSOR = Param("The cursor of the next page, from links.next.")
PAGE_SIZE = whole("Page size, 1 to 200 (50).", high=200, default=50)


@dataclass
class ApiDoc:
    """What the OpenAPI document says about one endpoint beyond its path.
    ``query`` and ``request_headers``: each parameter's :class:`Param`, or its
    description alone for a text parameter."""

    tag: str
    body: str | None = None
    # A multipart/form-data body (uploads): the schema of its fields.
    form: str | None = None
    response: str | None = None
    status: int = 200
    query: Mapping[str, str | Param] = field(default_factory=dict)
    # Headers the request sends (``Idempotency-Key``), as query parameters are given.
    request_headers: Mapping[str, str | Param] = field(default_factory=dict)
    # Headers of the answer: name and description.
    headers: Mapping[str, str] = field(default_factory=dict)
    public: bool = False
    media_type: str = "application/json"


def doc(tag: str, **kwargs: Any) -> Callable[[F], F]:
    """Attach :class:`ApiDoc` to a view; the docstring gives summary and description."""

    def mark(view: F) -> F:
        view.api_doc = ApiDoc(tag, **kwargs)  # type: ignore[attr-defined]
        return view

    return mark


# -- request helpers -------------------------------------------------------------------


def actor() -> User:
    """The user the request's bearer token belongs to."""
    return g.api_user  # type: ignore[no-any-return]


def json_body() -> dict[str, Any]:
    """The request body: a JSON object, or a 415/400 problem."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as application/json.")
    try:
        data = request.get_json()
    except BadRequest:
        raise BadRequest("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise CrmError("The body must be a JSON object.",
                       {"_schema": ["Expected a JSON object."]})
    refuse_nul(data)
    return data


def query_args(allowed: Iterable[str], prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """The query string as a dict; names outside ``allowed`` are a 422 naming them.

    Names starting with one of ``prefixes`` (``custom.``) pass through: the
    service knows which of them exist and refuses the others."""
    allowed = set(allowed)
    unknown = sorted(k for k in request.args
                     if k not in allowed and not (prefixes and k.startswith(prefixes)))
    if unknown:
        raise ValidationFailed(
            f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
            {k: ["Unknown query parameter."] for k in unknown})
    repeated = sorted(k for k in request.args if len(request.args.getlist(k)) > 1)
    if repeated:
        raise ValidationFailed("Give each query parameter once.",
                               {k: ["Given more than once."] for k in repeated})
    return dict(request.args.items())


def int_arg(args: Mapping[str, str], name: str, default: int, low: int = 1,
            high: int = 200) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed("Bad query parameter.", {name: ["Must be a number."]}) from None
    if not low <= value <= high:
        raise ValidationFailed("Bad query parameter.", {name: [f"Between {low} and {high}."]})
    return value


def etag_of(record: Any) -> str:
    return str(record.version)


def check_if_match(record: Any) -> None:
    """Refuse a change unless ``If-Match`` names the record's current version."""
    if not request.if_match:
        raise PreconditionRequired(
            "Send If-Match with the ETag of the version you edited.",
            {"If-Match": ["Required."]})
    if not (request.if_match.star_tag or request.if_match.contains(etag_of(record))):
        raise PreconditionFailed(
            f"The record is at version {record.version}; reload it and retry.",
            {"If-Match": ["Does not match the current version."]})


def json_response(data: Any, status: int = 200, *, etag: str | None = None,
                  location: str | None = None) -> Response:
    response = jsonify(data)
    response.status_code = status
    if etag is not None:
        response.set_etag(etag)
    if location is not None:
        response.headers["Location"] = location
    return response


def empty(status: int = 204) -> Response:
    return current_app.response_class(status=status)
