"""Sign-in sessions: each JWT names one (`jti`), so a token can be revoked before it expires.

Signing out revokes the caller's session; signing out everywhere, a password change and a
password reset revoke every session of the user. Revoked and expired sessions stop
authenticating at once (the caller's lookup joins the session) and open websockets of theirs
close within `ws_credential_check_seconds` (app/realtime/revocation.py).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.security import create_access_token
from app.models import AuthSession, PasswordReset
from app.models.base import table_of, utcnow

sessions = table_of(AuthSession)
resets = table_of(PasswordReset)

# Expired rows are kept this long (they explain a 401 in a support case), then purged.
KEEP_EXPIRED = timedelta(days=1)


async def start_session(
    *, session: AsyncSession, settings: Settings, user_id: uuid.UUID
) -> tuple[str, int]:
    """A new session and its access token (and the token's lifetime in seconds)."""
    ttl = settings.access_token_ttl_seconds
    row = AuthSession(user_id=user_id, expires_at=utcnow() + timedelta(seconds=ttl))
    session.add(row)
    await session.flush()
    return create_access_token(settings, user_id, row.id, row.expires_at), ttl


async def revoke_session(*, session: AsyncSession, session_id: uuid.UUID) -> None:
    await session.execute(
        update(sessions)
        .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_all_sessions(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def purge_expired(session: AsyncSession) -> int:
    """Delete sessions and password resets that expired over a day ago; how many."""
    before = utcnow() - KEEP_EXPIRED
    gone = await session.execute(delete(sessions).where(sessions.c.expires_at < before))
    more = await session.execute(delete(resets).where(resets.c.expires_at < before))
    return int(gone.rowcount or 0) + int(more.rowcount or 0)  # type: ignore[attr-defined]
