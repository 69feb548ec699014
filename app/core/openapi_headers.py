"""The HTTP headers of the API's conventions, documented on every operation they apply to.

They are set by shared code rather than route by route (the ETag by `set_etag`/`json_response`,
`Idempotency-Key` and `Idempotent-Replayed` by app/core/idempotency.py, `Retry-After` wherever
a 429 or 503 is raised), so the operations that carry them are read off the document itself:
the schema an answer returns, the method, whether the operation is signed in. Schemathesis
checks the answers against these (tests/test_contract_fuzz.py), so a route that leaves one out
fails there.
"""

from __future__ import annotations

from typing import Any

from app.core.idempotency import MAX_KEY_LENGTH

_HEADER_REF = "#/components/headers/{name}"

# The read models of rows with a `version` column (app/models/base.py `Versioned`): an answer
# made of one of them is a single resource, and sends that version as its ETag.
VERSIONED_READS = frozenset(
    {
        "ActionItemRead",
        "AgendaItemRead",
        "FindingRead",
        "FocusAreaRead",
        "GroupRead",
        "MeetingDetail",
        "MeetingRead",
        "MemberRead",
        "MinutesRead",
        "OrganizationRead",
        "PollRead",
        "PreferencesRead",
        "ProposalRead",
        "QuestionnaireRead",
        "UserRead",
        "WebhookRead",
        "WebhookWithSecret",
    }
)

HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "The resource's version, as a strong entity tag; send it back in "
        "`If-Match` to change the resource only if nobody else has changed it meanwhile",
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9]+"$', "examples": ['"3"']},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$", "examples": ["5"]},
    },
    "Retry-After-In-Progress": {
        "description": "Sent when the conflict is an `Idempotency-Key` whose first request is "
        "still running: seconds to wait before retrying with the same key",
        "schema": {"type": "string", "pattern": "^[0-9]+$", "examples": ["1"]},
    },
    "Idempotent-Replayed": {
        "description": "`true` on the stored answer to an earlier request with the same "
        "`Idempotency-Key` and body, sent again instead of repeating the request",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A key of your choice (a UUID, say) that makes retrying this request safe: "
    "the same key and body (for 24 hours by default) get the first answer again (with "
    "`Idempotent-Replayed: true`) instead of repeating the request; the same key with another "
    "body is 422, and while the first request runs, 409. Keys are per user.",
    # Surrounding spaces are not part of a header value: a key must have something else.
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": r"\S"},
}


def honours_idempotency_key(method: str, operation: dict[str, Any]) -> bool:
    """POSTs by a signed-in caller (app/core/idempotency.py: anonymous ones, such as register
    and sign-in, are not deduplicated, so one person's answer is never replayed to another)."""
    return method == "post" and bool(operation.get("security"))


def _json_schema_name(response: dict[str, Any]) -> str:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref: str = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1]


def _add_header(response: dict[str, Any], name: str, component: str | None = None) -> None:
    headers = response.setdefault("headers", {})
    headers.setdefault(name, {"$ref": _HEADER_REF.format(name=component or name)})


def document_headers(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add ETag, Idempotency-Key, Idempotent-Replayed and Retry-After to the operations that
    send or honour them (in place); run after the error responses are documented."""
    openapi.setdefault("components", {}).setdefault("headers", {}).update(HEADERS)
    for methods in openapi.get("paths", {}).values():
        for method, operation in methods.items():
            idempotent = honours_idempotency_key(method, operation)
            if idempotent:
                operation.setdefault("parameters", []).append(dict(IDEMPOTENCY_KEY))
            for status, response in operation.get("responses", {}).items():
                if status.startswith("2") and _json_schema_name(response) in VERSIONED_READS:
                    _add_header(response, "ETag")
                if status in ("429", "503"):
                    _add_header(response, "Retry-After")
                if idempotent and status == "409":
                    _add_header(response, "Retry-After", "Retry-After-In-Progress")
                # Any answer below 500 is stored and can come back as a replay, except a 401:
                # bad credentials have no user to keep it for.
                if idempotent and status[0] in "234" and status != "401":
                    _add_header(response, "Idempotent-Replayed")
    return openapi
