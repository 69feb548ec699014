"""A request id on every request: its log lines carry it, and the response returns it.

An incoming `X-Request-ID` is kept when it is sane (1 to 128 of `[A-Za-z0-9._-]`: so
a proxy's or a client's id follows the request through our logs); anything else is
replaced by a generated one, never echoed: a header value could forge log fields or carry
control characters. The response's `X-Request-ID` says which id the lines carry.

Outside Starlette's error middleware (see `install`): a request that ends in a 500 still
gets its header, and the error's log line its id.
"""

from __future__ import annotations

import re
import uuid

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import logs

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._-]{1,128}")


def incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            return value.decode("ascii") if _SANE.fullmatch(value) else None
    return None


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_id(scope) or uuid.uuid4().hex
        logs.start_request(rid)
        header = (HEADER, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        await self.app(scope, receive, send_with_id)


def install(app: FastAPI) -> None:
    """Wrap the app's whole middleware stack, Starlette's `ServerErrorMiddleware` included:
    `add_middleware` would place this inside it, where an unhandled error's 500 response
    and log line are made without the id."""
    build = app.build_middleware_stack

    def build_with_request_id() -> ASGIApp:
        return RequestIdMiddleware(build())

    app.build_middleware_stack = build_with_request_id  # type: ignore[method-assign]
