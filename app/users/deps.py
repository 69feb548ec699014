"""Who is calling: `CurrentUser` (required) and `OptionalUser` from a JWT or an API key."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.config import Settings
from app.core.db import SessionDep
from app.core.errors import Unauthorized
from app.core.security import API_KEY_PREFIX, decode_access_token, hash_api_key
from app.models import ApiKey, User
from app.models.base import utcnow

_bearer = HTTPBearer(auto_error=False, description="A JWT from /auth/token or an API key (wgk_…)")

# Writing last_used_at on every request would turn each read into a write; a minute is enough
# for "last used" to be useful.
LAST_USED_RESOLUTION = timedelta(minutes=1)


async def user_from_token(session: AsyncSession, settings: Settings, token: str) -> User | None:
    """Resolve a bearer token (JWT or API key) to an active user, or None."""
    user: User | None
    if token.startswith(API_KEY_PREFIX):
        # The key and its user in one statement: this runs on every request.
        row = (
            await session.execute(
                select(ApiKey, User)
                .join(User, col(User.id) == col(ApiKey.user_id))
                .where(col(ApiKey.key_hash) == hash_api_key(token))
            )
        ).one_or_none()
        if row is None:
            return None
        key, user = row
        if key.revoked_at is not None:
            return None
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            key.last_used_at = now
    else:
        user_id = decode_access_token(settings, token)
        user = await session.get(User, user_id) if user_id else None
    if user is None or not user.is_active:
        return None
    return user


async def _optional_user(
    request: Request,
    session: SessionDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User | None:
    if creds is None:
        return None
    user = await user_from_token(session, request.app.state.settings, creds.credentials)
    if user is None:
        raise Unauthorized("Invalid, expired or revoked token")
    return user


async def _current_user(user: Annotated[User | None, Depends(_optional_user)]) -> User:
    if user is None:
        raise Unauthorized()
    return user


OptionalUser = Annotated[User | None, Depends(_optional_user)]
CurrentUser = Annotated[User, Depends(_current_user)]
