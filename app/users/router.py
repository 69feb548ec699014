from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status

from app.core.breaker import RedisUnavailable
from app.core.db import SessionDep, after_commit
from app.core.deps import IfMatch, SettingsDep, set_etag
from app.core.errors import BadRequest, ServiceUnavailable
from app.core.nul import NoNul
from app.core.pagination import Page, PageParams, page_params
from app.core.security import hash_token
from app.realtime.keys import RedisKeys
from app.users import reset, service, sessions, tasks, tickets
from app.users.deps import Bearer, CurrentUser, ReadingUser, token_of
from app.users.principal import Credential, CredentialKind, parse_credential
from app.users.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    CalendarTokenRead,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    ResetRequested,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
    WsTicketRead,
)
from app.users.throttle import SignInThrottle

router = APIRouter(tags=["auth"])


@router.post("/auth/register", status_code=status.HTTP_201_CREATED, response_model=UserRead)
async def register(
    data: UserCreate, session: SessionDep, settings: SettingsDep, response: Response
) -> UserRead:
    user = await service.register(session=session, settings=settings, data=data)
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.post(
    "/auth/token",
    response_model=TokenRead,
    responses={401: {"description": "Incorrect email or password"}},
)
async def token(
    # Form fields sent empty count as missing (FastAPI), hence the documented minimum.
    username: Annotated[str, Form(min_length=1, max_length=320), NoNul],
    password: Annotated[str, Form(min_length=1, max_length=256), NoNul],
    _throttle: SignInThrottle,  # before the session: no transaction held while it asks Redis
    session: SessionDep,
    settings: SettingsDep,
) -> TokenRead:
    """OAuth2 password grant: `username` is the email."""
    access, ttl = await service.sign_in(
        session=session, settings=settings, email=username, password=password
    )
    return TokenRead(access_token=access, expires_in=ttl)


@router.get("/users/me", response_model=UserRead, tags=["users"])
async def me(user: CurrentUser, response: Response) -> UserRead:
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.patch("/users/me", response_model=UserRead, tags=["users"])
async def update_me(
    data: UserUpdate, user: CurrentUser, session: SessionDep, if_match: IfMatch, response: Response
) -> UserRead:
    updated = await service.update_profile(session=session, user=user, data=data, if_match=if_match)
    set_etag(response, updated.version)
    return UserRead.model_validate(updated)


@router.post("/auth/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(
    data: ApiKeyCreate, user: CurrentUser, session: SessionDep
) -> ApiKeyCreated:
    row, key = await service.create_api_key(session=session, user=user, data=data)
    return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(row).model_dump(), "key": key})


@router.get("/auth/api-keys", response_model=Page[ApiKeyRead])
async def list_api_keys(
    user: CurrentUser, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]
) -> Page[ApiKeyRead]:
    rows, cursor = await service.list_api_keys(session=session, user=user, page=page)
    return Page(items=[ApiKeyRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.delete("/auth/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    await service.revoke_api_key(session=session, user=user, key_id=key_id)


def _credential(settings: SettingsDep, creds: Bearer) -> Credential:
    """The caller's credential, parsed (after a dependency has authenticated it)."""
    credential = parse_credential(settings, token_of(creds))
    assert credential is not None, "authenticated before"
    return credential


@router.post("/auth/sign-out", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(
    user: CurrentUser, session: SessionDep, settings: SettingsDep, creds: Bearer
) -> None:
    """End this token's session (its websockets close within 30 s)."""
    credential = _credential(settings, creds)
    if credential.kind is not CredentialKind.SESSION:
        raise BadRequest("Only a token from /auth/token signs out; revoke an API key instead")
    await sessions.revoke_session(session=session, session_id=credential.value)


@router.post("/auth/sign-out-everywhere", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out_everywhere(user: CurrentUser, session: SessionDep) -> None:
    """End every session of the caller (API keys stay; revoke them one by one)."""
    await sessions.revoke_all_sessions(session=session, user_id=user.id)


@router.post("/users/me/password", status_code=status.HTTP_204_NO_CONTENT, tags=["users"])
async def change_password(
    data: PasswordChange, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> None:
    """Change the password; every session ends, this one too (sign in again)."""
    await service.change_password(session=session, settings=settings, user=user, data=data)


@router.post(
    "/auth/password-reset", status_code=status.HTTP_202_ACCEPTED, response_model=ResetRequested
)
async def request_password_reset(
    data: PasswordResetRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> ResetRequested:
    """Mail a reset token to the account with this email, if there is one: the answer is the
    same either way."""
    reset_id = await reset.request(session=session, settings=settings, email=data.email)
    if reset_id is not None:
        jobs = request.app.state.jobs

        async def enqueue() -> None:
            await tasks.enqueue_reset_email(jobs, settings, reset_id)

        after_commit(session, enqueue)
    return ResetRequested()


@router.post("/auth/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def confirm_password_reset(
    data: PasswordResetConfirm, session: SessionDep, settings: SettingsDep
) -> None:
    """Set a new password with a mailed token (once); every session of the user ends."""
    await service.confirm_reset(
        session=session, settings=settings, token=data.token, password=data.new_password
    )


@router.post("/auth/ws-ticket", status_code=status.HTTP_201_CREATED, response_model=WsTicketRead)
async def ws_ticket(
    user: ReadingUser, request: Request, settings: SettingsDep, creds: Bearer
) -> WsTicketRead:
    """A single-use ticket for `WS /api/v1/ws?ticket=…` (browsers cannot send headers there)."""
    ttl = settings.ws_ticket_ttl_seconds
    ticket, held = tickets.new_ticket(_credential(settings, creds))
    key = RedisKeys(settings.redis_prefix).ws_ticket(hash_token(ticket))
    try:
        # Through the breaker: a Redis that hangs costs this request 200 ms, not seconds.
        await request.app.state.redis_breaker.call(
            lambda: request.app.state.redis.set(key, held, ex=ttl)
        )
    except RedisUnavailable:
        raise ServiceUnavailable("Live updates are unavailable for a moment") from None
    return WsTicketRead(ticket=ticket, expires_in=ttl)


@router.post(
    "/users/me/calendar-token",
    status_code=status.HTTP_201_CREATED,
    response_model=CalendarTokenRead,
    tags=["users"],
)
async def new_calendar_token(user: CurrentUser, session: SessionDep) -> CalendarTokenRead:
    """A new calendar feed token (the previous one stops working)."""
    token = await service.set_calendar_token(session=session, user=user, revoke=False)
    assert token is not None
    return CalendarTokenRead(token=token)


@router.delete("/users/me/calendar-token", status_code=status.HTTP_204_NO_CONTENT, tags=["users"])
async def revoke_calendar_token(user: CurrentUser, session: SessionDep) -> None:
    await service.set_calendar_token(session=session, user=user, revoke=True)
