"""The OpenAPI document, with the error responses of every operation documented in one place.

Every error leaves through app/core/errors.py as RFC 9457 problem+json, whichever layer raised
it (middleware, validation, a domain service), so the errors an operation can answer are read
off what the operation takes rather than repeated route by route: credentials, path ids, a
body, an `If-Match` header, a write method. Responses a route documents itself are kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from app.core.errors import PROBLEM_JSON
from app.core.openapi_headers import document_headers, honours_idempotency_key

WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
_REF = "#/components/schemas/{model}"


class FieldError(BaseModel):
    """Where the input is wrong, and why (a CSV import adds `row` and `column`)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str] = Field(description='e.g. ["body", "title"] or ["query", "cursor"]')
    msg: str | None = None
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details; some problems add members of their own (e.g. `allowed`)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI naming the kind of problem")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(
        default=None, description="the fields at fault, for 400 and 422"
    )


# Why each status can happen; an operation lists those that its inputs make possible.
REASONS = {
    400: "Malformed request: the body is not valid JSON, a cursor or Idempotency-Key is invalid",
    401: "Missing, invalid, expired or revoked credentials",
    403: "Signed in, but not allowed to do this",
    404: "No such object, or one in a private group the caller cannot see",
    409: "Conflicts with the current state (e.g. an invalid transition, a duplicate, "
    "an archived group, an Idempotency-Key still in progress)",
    412: "`If-Match` does not name the current version",
    413: "The request body is over the size limit (1 MiB)",
    422: "Invalid input (the `errors` member says where), or an Idempotency-Key reused with "
    "another body",
    429: "Rate limited; `Retry-After` says when to try again",
}


def problem_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses `operation` can answer, from its inputs."""
    params = operation.get("parameters", [])
    located = {(p["in"], p["name"].lower()) for p in params}
    has_body = "requestBody" in operation
    signed_in = bool(operation.get("security"))
    write = method in WRITE_METHODS
    idempotent = honours_idempotency_key(method, operation)
    statuses = set()
    if has_body or ("query", "cursor") in located or idempotent:
        statuses.add(400)
    if signed_in:
        statuses |= {401, 403}
    if any(p["in"] == "path" for p in params):
        statuses.add(404)
    if write:
        statuses |= {409, 429}
    if ("header", "if-match") in located:
        statuses.add(412)
    if has_body:
        statuses.add(413)
    if params or has_body or idempotent:
        statuses.add(422)
    return sorted(statuses)


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": {"$ref": _REF.format(model="Problem")}}}


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _path_parameters_in_path_order(path: str, operation: dict[str, Any]) -> None:
    """List an operation's path parameters in the order the path names them, whichever
    dependency declared them (the object's id may come from an authorize-and-load one)."""
    params = operation.get("parameters", [])
    slots = [i for i, p in enumerate(params) if p["in"] == "path"]
    ordered = sorted((params[i] for i in slots), key=lambda p: path.find("{" + p["name"] + "}"))
    for i, param in zip(slots, ordered, strict=True):
        params[i] = param


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add the problem+json error responses to every operation of `openapi` (in place)."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    _, definitions = models_json_schema([(Problem, "serialization")], ref_template=_REF)
    schemas.update(definitions["$defs"])
    for path, methods in openapi.get("paths", {}).items():
        for method, operation in methods.items():
            _path_parameters_in_path_order(path, operation)
            responses = operation.setdefault("responses", {})
            # FastAPI documents its own 422 body; ours is a Problem (app/core/errors.py).
            if _is_fastapi_validation_error(responses.get("422", {})):
                del responses["422"]
            for status in problem_statuses(method, operation):
                responses.setdefault(str(status), {"description": REASONS[status]})
            for status, response in responses.items():
                if status[0] in "45" and "content" not in response:
                    response["content"] = _problem_content()
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return openapi


def document_webhooks(openapi: dict[str, Any]) -> dict[str, Any]:
    """Describe every event type as an OpenAPI `webhooks` entry (in place): the request wghub
    sends to an endpoint subscribed to it (app/events/types.py is the list)."""
    from app.events.documents import event_components, ref, webhook_schema_name
    from app.events.types import EVENT_TYPES

    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    # A read model the REST side documents already keeps FastAPI's rendering of it (the same
    # model; FastAPI leaves out a few defaults).
    for name, schema in event_components().items():
        schemas.setdefault(name, schema)
    webhooks = openapi.setdefault("webhooks", {})
    for event_type in EVENT_TYPES.values():
        body = ref(webhook_schema_name(event_type))
        webhooks[event_type.name] = {
            "post": {
                "summary": event_type.name,
                "description": f"{event_type.description}\n\n{WEBHOOK_REQUEST}",
                "operationId": f"webhook_{event_type.name.replace('.', '_')}",
                "tags": ["webhooks"],
                "parameters": WEBHOOK_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": body,
                            "example": event_type.webhook_example,
                        }
                    },
                },
                "responses": {
                    "2XX": {"description": "Received; any other answer is retried"},
                    "410": {"description": "Gone: the endpoint is disabled"},
                },
            }
        }
    return openapi


WEBHOOK_REQUEST = (
    "Signed per Standard Webhooks 1.0; an endpoint gets a group's events in `seq` order. "
    "Answer 2xx within 15 s; other answers are retried (honouring `Retry-After`)."
)
WEBHOOK_HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "The delivery's id: the same on every retry (dedupe by it)",
        "schema": {"type": "string"},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "Seconds since the Unix epoch when this attempt was signed",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": 'Space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`; '
        "two after a secret rotation (for 24 h)",
        "schema": {"type": "string"},
    },
]


def install_openapi(app: FastAPI) -> None:
    """Serve FastAPI's document with the error responses, headers and webhooks added (built
    once, on first use)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_webhooks(document_headers(document_problems(generate())))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
