"""Who is calling: `CurrentUser` (required) and `OptionalUser`, from a JWT or an API key.

`BearerToken` is the raw credential, for dependencies that look the caller up together with
what the request is about (app/groups/access.py) instead of in a statement of its own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.db import TxDep
from app.core.errors import Unauthorized
from app.users.principal import Principal, authenticate

bearer = HTTPBearer(auto_error=False, description="A JWT from /auth/token or an API key (wgk_…)")


async def _bearer_token(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    if creds is None:
        raise Unauthorized()
    return creds.credentials


BearerToken = Annotated[str, Depends(_bearer_token)]


async def _optional_user(
    request: Request,
    tx: TxDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    if creds is None:
        return None
    user = await authenticate(tx.conn, request.app.state.settings, creds.credentials)
    if user is None:
        raise Unauthorized("Invalid, expired or revoked token")
    return user


async def _current_user(user: Annotated[Principal | None, Depends(_optional_user)]) -> Principal:
    if user is None:
        raise Unauthorized()
    return user


OptionalUser = Annotated[Principal | None, Depends(_optional_user)]
CurrentUser = Annotated[Principal, Depends(_current_user)]
