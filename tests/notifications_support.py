"""Shared by the notification, email and reminder tests: a real SMTP server (aiosmtpd) on
127.0.0.1, a dispatcher running the notifications handler, and the worker's ctx for jobs."""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import httpx
from aiosmtpd.smtp import SMTP, Envelope, Session
from arq.connections import ArqRedis
from arq.constants import default_queue_name
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from app.core.config import Settings
from app.core.jobs import job_pool
from app.events.dispatch import Dispatcher
from app.models import Event
from app.notifications.tasks import handle_events
from tests.helpers import TestUser


class SmtpSink:
    """A real SMTP server on the test's event loop that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    async def start(self, port: int = 0) -> SmtpSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="smtp.test", loop=loop), "127.0.0.1", port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if str(m["To"]).lower() == address.lower()]

    async def wait_for(self, predicate: Callable[[SmtpSink], bool], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self))


def bodies(message: EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    return plain.get_content(), rich.get_content()


def smtp_settings(app: FastAPI, port: int, **extra: Any) -> Settings:
    """The app's settings with email on, and a Redis prefix (so an arq queue) of their own."""
    base: Settings = app.state.settings
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "redis_prefix": f"{base.redis_prefix}-{uuid.uuid4().hex[:6]}",
        **extra,
    }
    return base.model_copy(update=values)


def jobs_pool(app: FastAPI) -> ArqRedis:
    return job_pool(app.state.redis, default_queue_name)


def make_dispatcher(app: FastAPI, settings: Settings | None = None) -> Dispatcher:
    settings = settings or app.state.settings
    return Dispatcher(
        settings=settings,
        session_factory=app.state.session_factory,
        redis=app.state.redis,
        handlers=[handle_events],
        jobs=jobs_pool(app),
    )


def worker_ctx(app: FastAPI, settings: Settings | None = None, **extra: Any) -> dict[str, Any]:
    """What the worker's on_startup puts in ctx, for calling jobs directly."""
    settings = settings or app.state.settings
    return {
        "settings": settings,
        "session_factory": app.state.session_factory,
        "redis": jobs_pool(app),
        "job_try": 1,
        **extra,
    }


async def dispatch_group(dispatcher: Dispatcher, group_id: str) -> list[Event]:
    """Dispatch the group's not yet dispatched events in seq order (what the worker does)."""
    async with dispatcher.session_factory() as session:
        events = list(
            (
                await session.execute(
                    select(Event)
                    .where(
                        col(Event.group_id) == uuid.UUID(group_id),
                        col(Event.dispatched_at).is_(None),
                    )
                    .order_by(col(Event.seq))
                )
            ).scalars()
        )
    for event in events:
        await dispatcher.dispatch(event.id)
    return events


async def inbox(client: httpx.AsyncClient, user: TestUser, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/notifications", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def inbox_types(client: httpx.AsyncClient, user: TestUser) -> list[str]:
    """Types of the user's notifications, oldest first."""
    return [n["type"] for n in reversed(await inbox(client, user, limit=200))]


async def create_item(
    client: httpx.AsyncClient, actor: TestUser, group_id: str, **fields: Any
) -> dict[str, Any]:
    r = await client.post(
        f"/groups/{group_id}/action-items",
        json={"title": "Map the clusters", **fields},
        headers=actor.headers,
    )
    assert r.status_code == 201, r.text
    item: dict[str, Any] = r.json()
    return item


async def create_meeting(
    client: httpx.AsyncClient, actor: TestUser, group_id: str, starts_at: str, ends_at: str
) -> dict[str, Any]:
    r = await client.post(
        f"/groups/{group_id}/meetings",
        json={
            "title": "Monthly call",
            "starts_at": starts_at,
            "ends_at": ends_at,
            "timezone": "America/Bogota",
        },
        headers=actor.headers,
    )
    assert r.status_code == 201, r.text
    meeting: dict[str, Any] = r.json()
    return meeting
