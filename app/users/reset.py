"""Password resets: `POST /auth/password-reset {email}` mails a single-use, expiring token.

The token is `<reset id>.<MAC of the id>` under a key derived from the deployment secret, so
no token is stored anywhere (not in the database, not in a job in Redis): the mail job
recomputes it from the row's id. The row makes it single-use (`used_at`) and expiring; a
password change voids every pending reset of the user.

The answer is 202 whether or not the email belongs to an account, and no more than one mail
per account goes out per `password_reset_interval_seconds`, so the route neither reveals
accounts nor floods anyone's inbox.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.config import Settings
from app.core.errors import BadRequest
from app.models import PasswordReset, User
from app.models.base import table_of, utcnow

resets = table_of(PasswordReset)

INVALID = "The reset token is invalid, used or expired"


def _invalid() -> BadRequest:
    # Names the field: the request is well formed, its token is what is refused.
    return BadRequest(INVALID, errors=[{"loc": ["body", "token"], "msg": INVALID}])


def _mac(settings: Settings, reset_id: uuid.UUID) -> str:
    key = hashlib.sha256(b"wghub:password-reset:" + settings.secret_key.encode()).digest()
    digest = hmac.new(key, reset_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_for(settings: Settings, reset_id: uuid.UUID) -> str:
    return f"{reset_id.hex}.{_mac(settings, reset_id)}"


def _reset_id(settings: Settings, token: str) -> uuid.UUID:
    """The id a genuine token names; 400 for anything else."""
    head, _, mac = token.partition(".")
    try:
        reset_id = uuid.UUID(hex=head)
    except ValueError:
        raise _invalid() from None
    if not hmac.compare_digest(mac, _mac(settings, reset_id)):
        raise _invalid()
    return reset_id


async def request(*, session: AsyncSession, settings: Settings, email: str) -> uuid.UUID | None:
    """A reset for the active account with this email, unless one was made very recently;
    its id (for the mail job), or None when there is nothing to send."""
    user = (
        await session.execute(select(User).where(col(User.email) == email.strip().lower()))
    ).scalar_one_or_none()
    if user is None or not user.is_active:
        return None
    now = utcnow()
    recent = now - timedelta(seconds=settings.password_reset_interval_seconds)
    latest = (
        await session.execute(
            select(resets.c.id)
            .where(resets.c.user_id == user.id, resets.c.created_at > recent)
            .limit(1)
        )
    ).first()
    if latest is not None:
        return None
    row = PasswordReset(
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.password_reset_ttl_seconds),
    )
    session.add(row)
    await session.flush()
    return row.id


async def redeem(*, session: AsyncSession, settings: Settings, token: str) -> User:
    """The user whose password the token may set, its reset marked used (under a row lock,
    so two redemptions cannot both succeed); 400 if it is not valid now."""
    reset_id = _reset_id(settings, token)
    row = await session.get(PasswordReset, reset_id, with_for_update=True)
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise _invalid()
    user = await session.get(User, row.user_id, with_for_update=True)
    if user is None or not user.is_active:
        raise _invalid()
    row.used_at = utcnow()
    return user


async def void_pending(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(resets)
        .where(resets.c.user_id == user_id, resets.c.used_at.is_(None))
        .values(used_at=utcnow())
    )
