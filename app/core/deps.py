"""Small request dependencies shared by every domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Response

from app.core.config import Settings
from app.core.errors import PreconditionFailed


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


def etag_of(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag_of(version)


async def _if_match(
    if_match: Annotated[
        str | None,
        Header(description="ETag of the version you edited; 412 if it changed meanwhile"),
    ] = None,
) -> str | None:
    return if_match


IfMatch = Annotated[str | None, Depends(_if_match)]


def check_if_match(if_match: str | None, version: int) -> None:
    """Raise 412 unless `If-Match` is absent, `*`, or names the current version."""
    if if_match is None:
        return
    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if "*" in tags or etag_of(version) in tags:
        return
    raise PreconditionFailed("If-Match does not match the current ETag; fetch the resource again")
