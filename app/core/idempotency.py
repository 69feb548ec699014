"""`Idempotency-Key` on POST: a retried request gets the first response again.

The first request with a key inserts a pending record (the unique key makes a concurrent twin
fail to insert and get 409). When it finishes below 500, its status, headers and body are stored
and replayed to every retry with the same key and body; the same key with another body is 422.
The answer leaves only once its record is stored, so a retry sent the moment it arrives gets
the replay. A 5xx frees the key so the client can retry for real. So does a record left
pending by an API process that died mid-request, once it is older than
`idempotency_abandoned_seconds`: otherwise the key would answer 409 for its whole TTL. (Had
that process already committed its write, the retry runs it again; the window is the few
milliseconds between that commit and storing the answer.) Keys are scoped to the signed-in
user; anonymous requests (register, login) are not deduplicated, so one person's response can
never be replayed to another.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.db import SessionFactory
from app.core.errors import problem_response
from app.models import IdempotencyRecord
from app.models.base import utcnow

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 255
# Replayed as they were; hop-by-hop and per-response headers are not.
_SKIP_HEADERS = {b"date", b"server", b"connection", b"transfer-encoding"}


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, session_factory: SessionFactory):
        self.app = app
        self.settings = settings
        self.session_factory = session_factory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        auth = headers.get(b"authorization", b"").decode("latin-1")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if raw_key is None or not token:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            await problem_response(
                400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters"
            )(scope, receive, send)
            return

        body = await _read_body(receive)
        replay_receive = _replaying(body, receive)
        user_scope = await self._scope_for(token)
        if user_scope is None:  # bad credentials: let the app answer 401
            await self.app(scope, replay_receive, send)
            return
        fingerprint = _fingerprint(scope, body)
        claim = await self._claim(user_scope, key, fingerprint)
        if isinstance(claim, IdempotencyRecord):
            await self._answer_from(claim, fingerprint, scope, replay_receive, send)
            return

        # The answer is held back until its record is complete: the client may retry the
        # moment it has the answer, and the retry must find the replay, not "in progress".
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await self._release(user_scope, key)
            raise
        if start is None:  # the app answered nothing (the client left): nothing to keep
            await self._release(user_scope, key)
            return
        status, body = start["status"], b"".join(chunks)
        if status >= 500:
            await self._release(user_scope, key)
        else:
            out_headers = [
                [k.decode("latin-1"), v.decode("latin-1")]
                for k, v in start.get("headers", [])
                if k.lower() not in _SKIP_HEADERS
            ]
            await self._store(user_scope, key, status, out_headers, body)
        await send(start)
        await send({"type": "http.response.body", "body": body})

    async def _scope_for(self, token: str) -> str | None:
        from app.users.principal import authenticate  # users depend on core, not the reverse

        async with self.session_factory() as session, session.begin():
            user = await authenticate(await session.connection(), self.settings, token)
            return str(user.id) if user else None

    async def _claim(self, user_scope: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
        """Insert a pending record (None: we own the key) or return the existing one."""
        for _ in range(2):
            async with self.session_factory() as session:
                try:
                    async with session.begin():
                        session.add(
                            IdempotencyRecord(scope=user_scope, key=key, fingerprint=fingerprint)
                        )
                    return None
                except IntegrityError:
                    pass
                async with session.begin():
                    existing = await _get(session, user_scope, key)
                    if existing is None:
                        continue  # released meanwhile: try to claim again
                    if not self._outlived(existing):
                        return existing
                    await session.delete(existing)
        raise RuntimeError("could not claim idempotency key")  # pragma: no cover

    def _outlived(self, record: IdempotencyRecord) -> bool:
        """Past its TTL, or pending for longer than any live request can take (its process
        died before storing the answer or freeing the key; otherwise the key would answer 409
        for the whole TTL)."""
        age = utcnow() - record.created_at
        limit = (
            self.settings.idempotency_ttl_seconds
            if record.status_code is not None
            else self.settings.idempotency_abandoned_seconds
        )
        return age > timedelta(seconds=limit)

    async def _answer_from(
        self,
        record: IdempotencyRecord,
        fingerprint: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if record.fingerprint != fingerprint:
            response = problem_response(
                422,
                "This Idempotency-Key was used with a different request body",
                code="idempotency-key-reused",
            )
        elif record.status_code is None:
            response = problem_response(
                409,
                "A request with this Idempotency-Key is still in progress",
                code="idempotency-key-in-progress",
                headers={"Retry-After": "1"},
            )
        else:
            await send(
                {
                    "type": "http.response.start",
                    "status": record.status_code,
                    "headers": [
                        (k.encode("latin-1"), v.encode("latin-1")) for k, v in record.headers
                    ]
                    + [(b"idempotent-replayed", b"true")],
                }
            )
            await send({"type": "http.response.body", "body": record.body or b""})
            return
        await response(scope, receive, send)

    async def _store(
        self, user_scope: str, key: str, status: int, headers: list[list[str]], body: bytes
    ) -> None:
        async with self.session_factory() as session, session.begin():
            record = await _get(session, user_scope, key)
            if record is not None:
                record.status_code = status
                record.headers = headers
                record.body = body

    async def _release(self, user_scope: str, key: str) -> None:
        async with self.session_factory() as session, session.begin():
            await session.execute(
                delete(IdempotencyRecord).where(
                    col(IdempotencyRecord.scope) == user_scope,
                    col(IdempotencyRecord.key) == key,
                )
            )


async def _get(session: AsyncSession, user_scope: str, key: str) -> IdempotencyRecord | None:
    stmt = select(IdempotencyRecord).where(
        col(IdempotencyRecord.scope) == user_scope,
        col(IdempotencyRecord.key) == key,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def purge_expired(session_factory: SessionFactory, ttl_seconds: int) -> int:
    """Delete records older than the TTL (a worker cron job); returns how many."""
    cutoff = utcnow() - timedelta(seconds=ttl_seconds)
    async with session_factory() as session, session.begin():
        result: Any = await session.execute(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < cutoff)
        )
        return int(result.rowcount or 0)


def _fingerprint(scope: Scope, body: bytes) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            [scope["method"], scope["path"], scope.get("query_string", b"").decode()]
        ).encode()
    )
    h.update(body)
    return h.hexdigest()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
