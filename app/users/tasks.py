"""Worker jobs for accounts: the password reset mail."""

from __future__ import annotations

import uuid
from typing import Any

from arq.connections import ArqRedis

from app.core.config import Settings
from app.core.db import SessionFactory
from app.models import PasswordReset, User
from app.models.base import utcnow
from app.notifications import email
from app.notifications.tasks import send_or_retry
from app.realtime.keys import RedisKeys
from app.users import reset, sessions

RESET_EMAIL_JOB = "send_password_reset_email"


async def enqueue_reset_email(jobs: ArqRedis, settings: Settings, reset_id: uuid.UUID) -> None:
    await jobs.enqueue_job(
        RESET_EMAIL_JOB,
        str(reset_id),
        _job_id=f"password-reset:{reset_id}",
        _queue_name=RedisKeys(settings.redis_prefix).arq_queue,
    )


async def send_password_reset_email(ctx: dict[str, Any], reset_id: str) -> str:
    """Mail the token of a pending reset (computed here from its id: it is stored nowhere)."""
    settings: Settings = ctx["settings"]
    factory: SessionFactory = ctx["session_factory"]
    row_id = uuid.UUID(reset_id)
    async with factory() as session:
        row = await session.get(PasswordReset, row_id)
        if row is None or row.emailed_at is not None or row.used_at is not None:
            return "not pending"
        if row.expires_at <= utcnow():
            return "expired"
        user = await session.get(User, row.user_id)
        if user is None or not user.is_active:
            return "no account"
        if settings.smtp_host is None:
            return "email disabled"
        minutes = max(1, int((row.expires_at - utcnow()).total_seconds() // 60))
        message = email.password_reset_email(
            settings, user, reset.token_for(settings, row_id), minutes
        )
    if not await send_or_retry(ctx, message, f"password reset {row_id}"):
        return "failed"
    async with factory() as session, session.begin():
        sent = await session.get(PasswordReset, row_id)
        if sent is not None:
            sent.emailed_at = utcnow()
    return "sent"


async def purge_expired_credentials(ctx: dict[str, Any]) -> int:
    """Cron: drop sign-in sessions and password resets that expired over a day ago."""
    factory: SessionFactory = ctx["session_factory"]
    async with factory() as session, session.begin():
        return await sessions.purge_expired(session)
