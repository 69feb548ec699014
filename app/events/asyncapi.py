"""The AsyncAPI 3.0 document: the realtime websocket and the webhooks, served at
`/asyncapi.json` and committed as docs/asyncapi.json.

Built from the registry of event types (app/events/types.py) and the message models of the
websocket (app/realtime/router.py, messages.py). Regenerate the committed copy with
`python -m app.events.asyncapi docs/asyncapi.json` (a test fails while it is stale).
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

from app.events.documents import event_components, event_schema_name, ref, webhook_schema_name
from app.events.examples import example_of
from app.events.types import EVENT_TYPES
from app.realtime import router as ws
from app.realtime.messages import SERVER_MESSAGES, EventFrame

VERSION = "0.1.0"
CLIENT_MESSAGES: tuple[type[BaseModel], ...] = (ws.SubscribeMsg, ws.UnsubscribeMsg, ws.PingMsg)

_WS_DESCRIPTION = f"""Live events of the groups a user subscribes to, and the user's own
notifications. Credentials: `?ticket=` (single use, from `POST /api/v1/auth/ws-ticket`) or the
`Authorization` header; a JWT or API key in the URL is refused.

Send `subscribe {{group_id, after}}` with the last `seq` you saw: you get `subscribed`, then
every event with `seq > after` in order (replayed, then live), each exactly once. After a
disconnect, resubscribe on any replica with the last `seq` seen.

Close codes: {ws.CLOSE_BAD_CREDENTIALS} bad, expired or revoked credentials;
{ws.CLOSE_FORBIDDEN} subscribing to a group the user may not read; {ws.CLOSE_POLICY} flooding
(too many messages or connections); {ws.CLOSE_TOO_BIG} a message too large;
{ws.CLOSE_INTERNAL} a server error (reconnect and resume); {ws.CLOSE_TRY_AGAIN} the client fell
too far behind (resubscribe with `after` to resume)."""

_WEBHOOK_DESCRIPTION = """`POST` requests to each endpoint a group's owners registered, for
the event types it subscribed to, following Standard Webhooks 1.0: headers `webhook-id` (the
same on every retry: dedupe by it), `webhook-timestamp` and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`). An endpoint gets a group's events in `seq`
order. Answer 2xx within 15 s; other answers are retried (honouring `Retry-After`); 410
disables the endpoint."""


def _message_name(model: type[BaseModel]) -> str:
    return str(model.model_fields["type"].annotation.__args__[0])  # type: ignore[union-attr]


def _message(model: type[BaseModel], example: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": _message_name(model),
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
        "payload": ref(model.__name__),
        "examples": [{"payload": example}],
    }


def _ws_messages() -> dict[str, Any]:
    messages = {}
    for model in (*CLIENT_MESSAGES, *SERVER_MESSAGES):
        example = example_of(model)
        if model is EventFrame:
            example["event"] = EVENT_TYPES["meeting.started"].example
        messages[_message_name(model)] = _message(model, example)
    return messages


def _webhook_messages() -> dict[str, Any]:
    return {
        f"webhook.{t.name}": {
            "name": t.name,
            "title": t.name,
            "summary": t.description,
            "payload": ref(webhook_schema_name(t)),
            "examples": [{"payload": t.webhook_example}],
        }
        for t in EVENT_TYPES.values()
    }


def _channel_messages(names: list[str]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/messages/{name}"} for name in names}


def _op_messages(channel: str, names: list[str]) -> list[dict[str, str]]:
    return [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in names]


@cache
def build() -> dict[str, Any]:
    """The document (built once per process)."""
    client = [_message_name(m) for m in CLIENT_MESSAGES]
    server = [_message_name(m) for m in SERVER_MESSAGES]
    webhook_messages = _webhook_messages()
    schemas = event_components([*CLIENT_MESSAGES, *SERVER_MESSAGES])
    # A frame's event is one of the typed envelopes.
    schemas[EventFrame.__name__]["properties"]["event"] = {
        "oneOf": [ref(event_schema_name(t)) for t in EVENT_TYPES.values() if t.in_history],
        "description": "the event envelope",
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "wghub events",
            "version": VERSION,
            "description": "What wghub sends as things happen: the realtime websocket and "
            "webhooks. Every event type, its meaning and an example are also listed by "
            "`GET /api/v1/event-types`; the REST API is in `/openapi.json`.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "api": {
                "host": "localhost:8000",
                "protocol": "ws",
                "pathname": "/api/v1",
                "description": "The API's host (use `wss` behind TLS).",
            }
        },
        "channels": {
            "realtime": {
                "address": "/ws",
                "title": "WS /api/v1/ws",
                "description": _WS_DESCRIPTION,
                "servers": [{"$ref": "#/servers/api"}],
                "messages": _channel_messages(client + server),
                "bindings": {
                    "ws": {
                        "query": {
                            "type": "object",
                            "properties": {
                                "ticket": {
                                    "type": "string",
                                    "description": "from POST /api/v1/auth/ws-ticket",
                                }
                            },
                        }
                    }
                },
            },
            "webhooks": {
                "address": None,
                "title": "Webhooks",
                "description": _WEBHOOK_DESCRIPTION + " The address is each endpoint's `url`.",
                "messages": _channel_messages(list(webhook_messages)),
            },
        },
        "operations": {
            "receiveClientMessages": {
                "action": "receive",
                "channel": {"$ref": "#/channels/realtime"},
                "summary": "What a client sends on the websocket",
                "messages": _op_messages("realtime", client),
            },
            "sendServerMessages": {
                "action": "send",
                "channel": {"$ref": "#/channels/realtime"},
                "summary": "What the server sends on the websocket",
                "messages": _op_messages("realtime", server),
            },
            "sendWebhook": {
                "action": "send",
                "channel": {"$ref": "#/channels/webhooks"},
                "summary": "A webhook request, one per event and endpoint",
                "bindings": {"http": {"method": "POST"}},
                "messages": _op_messages("webhooks", list(webhook_messages)),
            },
        },
        "components": {
            "schemas": schemas,
            "messages": {**_ws_messages(), **webhook_messages},
        },
    }


def install_asyncapi(app: FastAPI) -> None:
    """Serve the document at `/asyncapi.json`, public like `/openapi.json` (built on first use)."""

    async def asyncapi(request: Request) -> Response:
        return Response(_encoded(), media_type="application/json")

    app.add_route("/asyncapi.json", asyncapi, include_in_schema=False)


@cache
def _encoded() -> bytes:
    return json.dumps(build(), ensure_ascii=False, separators=(",", ":")).encode()


def render() -> str:
    """The document as the committed file holds it."""
    return json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # python -m app.events.asyncapi docs/asyncapi.json
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        out.write(render())
