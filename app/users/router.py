from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Response, status

from app.core.db import SessionDep
from app.core.deps import IfMatch, SettingsDep, set_etag
from app.core.nul import NoNul
from app.core.pagination import Page, PageParams, page_params
from app.users import service
from app.users.deps import CurrentUser
from app.users.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from app.users.throttle import SignInThrottle

router = APIRouter(tags=["auth"])


@router.post("/auth/register", status_code=status.HTTP_201_CREATED, response_model=UserRead)
async def register(data: UserCreate, session: SessionDep, settings: SettingsDep) -> UserRead:
    user = await service.register(session=session, settings=settings, data=data)
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
    access, ttl = await service.authenticate(
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
