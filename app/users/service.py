from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.config import Settings
from app.core.deps import check_if_match
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized
from app.core.pagination import PageParams, paginate
from app.core.security import (
    generate_api_key,
    generate_feed_token,
    hash_password,
    hash_token,
    needs_rehash,
    verify_password,
)
from app.models import ApiKey, User
from app.models.base import utcnow
from app.users import reset, sessions
from app.users.principal import Principal
from app.users.schemas import ApiKeyCreate, PasswordChange, UserCreate, UserUpdate


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    stmt = select(User).where(col(User.email) == normalize_email(email))
    return (await session.execute(stmt)).scalar_one_or_none()


async def register(
    *, session: AsyncSession, settings: Settings, data: UserCreate, is_admin: bool = False
) -> User:
    if await get_by_email(session, data.email) is not None:
        raise Conflict("A user with this email already exists")
    user = User(
        email=normalize_email(data.email),
        name=data.name,
        locale=data.locale,
        # argon2 is deliberately slow: keep it off the event loop.
        password_hash=await asyncio.to_thread(hash_password, settings, data.password),
        is_admin=is_admin,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent registration of the same email won
        raise Conflict("A user with this email already exists") from exc
    return user


async def sign_in(
    *, session: AsyncSession, settings: Settings, email: str, password: str
) -> tuple[str, int]:
    user = await get_by_email(session, email)
    ok = await asyncio.to_thread(
        verify_password, settings, user.password_hash if user else None, password
    )
    if user is None or not ok or not user.is_active:
        # One message for unknown email and wrong password: existence is not revealed.
        raise Unauthorized("Incorrect email or password")
    if needs_rehash(settings, user.password_hash):
        # The argon2 parameters changed since this hash was made: the password is at hand now,
        # and only now, to hash it again with the current ones.
        user.password_hash = await asyncio.to_thread(hash_password, settings, password)
    return await sessions.start_session(session=session, settings=settings, user_id=user.id)


async def change_password(
    *, session: AsyncSession, settings: Settings, user: Principal, data: PasswordChange
) -> None:
    """Set a new password after checking the current one; every session ends (this one too)
    and pending reset links stop working."""
    row = await session.get(User, user.id, with_for_update=True)
    if row is None:
        raise NotFound("User not found")
    ok = await asyncio.to_thread(
        verify_password, settings, row.password_hash, data.current_password
    )
    if not ok:
        raise Forbidden("The current password is not correct")
    await set_password(session=session, settings=settings, user=row, password=data.new_password)


async def confirm_reset(
    *, session: AsyncSession, settings: Settings, token: str, password: str
) -> None:
    user = await reset.redeem(session=session, settings=settings, token=token)
    await set_password(session=session, settings=settings, user=user, password=password)


async def set_password(
    *, session: AsyncSession, settings: Settings, user: User, password: str
) -> None:
    """The one way a password changes: hash it, end every session, void pending resets."""
    user.password_hash = await asyncio.to_thread(hash_password, settings, password)
    await session.flush()
    await sessions.revoke_all_sessions(session=session, user_id=user.id)
    await reset.void_pending(session=session, user_id=user.id)


async def update_profile(
    *, session: AsyncSession, user: Principal, data: UserUpdate, if_match: str | None
) -> User:
    """Change the caller's profile; `If-Match` is checked against the row under its lock (the
    caller's credential was read before, without one)."""
    row = await session.get(User, user.id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound("User not found")
    check_if_match(if_match, row.version)
    for field, value in data.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(row, field, value)
    await session.flush()
    return row


async def create_api_key(
    *, session: AsyncSession, user: Principal, data: ApiKeyCreate
) -> tuple[ApiKey, str]:
    key = generate_api_key()
    row = ApiKey(
        user_id=user.id,
        name=data.name,
        prefix=key[:10],
        key_hash=hash_token(key),
        scopes=list(data.scopes),
        expires_at=data.expires_at,
    )
    session.add(row)
    await session.flush()
    return row, key


async def set_calendar_token(*, session: AsyncSession, user: Principal, revoke: bool) -> str | None:
    """Give the user a new calendar feed token (the old one stops working), or none."""
    token = None if revoke else generate_feed_token()
    row = await session.get(User, user.id, with_for_update=True)
    if row is None:
        raise NotFound("User not found")
    row.calendar_token_hash = None if token is None else hash_token(token)
    await session.flush()
    return token


async def revoke_api_key(*, session: AsyncSession, user: Principal, key_id: uuid.UUID) -> None:
    row = await session.get(ApiKey, key_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise NotFound("API key not found")
    row.revoked_at = utcnow()
    await session.flush()


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def list_api_keys(
    *, session: AsyncSession, user: Principal, page: PageParams
) -> tuple[list[ApiKey], str | None]:
    stmt = select(ApiKey).where(col(ApiKey.user_id) == user.id)
    rows, cursor = await paginate(session, stmt, page, (col(ApiKey.created_at), col(ApiKey.id)))
    return rows, cursor
