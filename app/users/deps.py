"""Who is calling: `CurrentUser` (required) and `OptionalUser`, from a JWT or an API key.

`Bearer` is the raw credential, for dependencies that look the caller up together with what
the request is about (app/groups/access.py) instead of in a statement of its own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core import logs
from app.core.db import request_tx
from app.core.errors import Unauthorized
from app.users.principal import Principal, authenticate

bearer = HTTPBearer(auto_error=False, description="A JWT from /auth/token or an API key (wgk_…)")


# The Authorization header's credential (or None): one dependency that also documents the
# security scheme in OpenAPI. `token_of` refuses a request without one.
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def token_of(creds: HTTPAuthorizationCredentials | None) -> str:
    if creds is None:
        raise Unauthorized()
    return creds.credentials


async def _user(request: Request, creds: Bearer, *, reading: bool = False) -> Principal | None:
    """The caller, checked to be allowed to write if the request is a write (unless
    `reading`: the route only reads, whatever its method)."""
    if creds is None:
        return None
    tx = await request_tx(request)
    user = await authenticate(
        tx.conn,
        request.app.state.settings,
        creds.credentials,
        writing=tx.writing and not reading,
    )
    if user is None:
        raise Unauthorized("Invalid, expired or revoked token")
    logs.bind_caller(user.id)
    return user


async def _optional_user(request: Request, creds: Bearer) -> Principal | None:
    return await _user(request, creds)


async def _current_user(request: Request, creds: Bearer) -> Principal:
    user = await _optional_user(request, creds)
    if user is None:
        raise Unauthorized()
    return user


async def _reading_user(request: Request, creds: Bearer) -> Principal:
    user = await _user(request, creds, reading=True)
    if user is None:
        raise Unauthorized()
    return user


OptionalUser = Annotated[Principal | None, Depends(_optional_user)]
CurrentUser = Annotated[Principal, Depends(_current_user)]
# For a POST that only reads on the caller's behalf (a websocket ticket): read-only
# credentials may make it.
ReadingUser = Annotated[Principal, Depends(_reading_user)]
