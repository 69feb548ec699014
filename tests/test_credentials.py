"""Credentials that can be changed and revoked (issue: credentials and hardening).

Websocket tickets instead of credentials in URLs; read-only and expiring API keys; password
change and reset, sign-out and sign-out everywhere — each making old tokens 401 and closing
the user's open websockets with 4401 — and argon2 hashes renewed when the parameters change.
Against the real app: a uvicorn server for websockets, a real SMTP server for the reset mail.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update
from websockets.asyncio.client import connect

from app.core.config import Settings
from app.core.security import create_access_token, hash_password, hash_token
from app.models import ApiKey, AuthSession, User
from app.realtime.keys import RedisKeys
from app.users import tasks as user_tasks
from tests.conftest import Connect
from tests.helpers import PASSWORD, make_group, make_user
from tests.helpers import TestUser as ApiUser
from tests.notifications_support import SmtpSink, bodies, smtp_settings, worker_ctx
from tests.ws import WsClient, ws_ticket

NEW_PASSWORD = "another long passphrase"


async def _close_code(ws: WsClient, timeout: float = 30) -> int | None:
    """The close code, waiting for the server to close (30 s: the issue's bound)."""
    assert ws.closed is not None
    code, _ = await asyncio.wait_for(ws.closed, timeout)
    return code


async def _still_open(ws: WsClient) -> None:
    """A ping answered: the server has not closed the connection."""
    await ws.send({"type": "ping"})
    await ws.wait_for_message("pong")
    assert ws.closed is not None and not ws.closed.done()


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/token", data={"username": email, "password": password})


async def _key(client: httpx.AsyncClient, user: ApiUser, **body: Any) -> dict[str, Any]:
    r = await client.post("/auth/api-keys", json={"name": "k", **body}, headers=user.headers)
    assert r.status_code == 201, r.text
    key: dict[str, Any] = r.json()
    return key


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- websocket tickets ----------------------------------------------------------------------


async def test_a_ticket_opens_one_websocket_once(
    live_server: str, ws_connect: Connect, app: FastAPI
) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live_server}/api/v1") as http:
        user = await make_user(http, "ticket")
    url = f"ws://{live_server}/api/v1/ws"
    ticket = await ws_ticket(url, user.token)
    assert ticket.startswith("wgt_") and user.token not in ticket
    # Kept under its hash for at most 30 s (the ticket itself is stored nowhere).
    redis = app.state.redis
    key = RedisKeys(app.state.settings.redis_prefix).ws_ticket(hash_token(ticket))
    assert 0 < await redis.ttl(key) <= 30
    assert ticket.encode() not in (await redis.get(key) or b"")

    async with connect(f"{url}?ticket={ticket}") as ws:
        await ws.send('{"type":"ping"}')
        assert "pong" in str(await ws.recv())
    # Used up: the same ticket again, or an unknown one, is refused.
    for bad in (ticket, "wgt_" + uuid.uuid4().hex):
        async with connect(f"{url}?ticket={bad}") as ws:
            await ws.wait_closed()
            assert ws.close_code == 4401


async def test_credentials_in_the_websocket_url_are_refused(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    user = await make_user(client, "inurl")
    key = await _key(client, user)
    for token in (user.token, key["key"]):  # both valid, both refused in the URL
        ws = await ws_connect(token, token_in="query")
        assert await _close_code(ws, 10) == 4401
        # The same credentials work in the Authorization header (non-browser clients).
        ws = await ws_connect(token, token_in="header")
        await _still_open(ws)


async def test_a_ticket_needs_a_valid_credential(client: httpx.AsyncClient) -> None:
    r = await client.post("/auth/ws-ticket")
    assert r.status_code == 401
    r = await client.post("/auth/ws-ticket", headers=_bearer("wgk_not-a-key"))
    assert r.status_code == 401


# --- scoped, expiring API keys --------------------------------------------------------------


async def test_a_read_only_key_reads_and_every_write_is_403(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "scoped")
    group = await make_group(client, owner)
    gid = group["id"]
    key = await _key(client, owner, scopes=["read"])
    assert key["scopes"] == ["read"]
    ro = _bearer(key["key"])

    assert (await client.get("/users/me", headers=ro)).status_code == 200
    assert (await client.get(f"/groups/{gid}", headers=ro)).status_code == 200
    writes = [
        ("POST", "/groups", {"name": "x", "visibility": "private"}),
        ("PATCH", f"/groups/{gid}", {"description": "changed"}),
        ("POST", f"/groups/{gid}/focus-areas", {"title": "area"}),
        ("POST", "/auth/api-keys", {"name": "escalate"}),  # no minting a full key with it
        ("PATCH", "/users/me", {"name": "renamed"}),
        ("POST", "/users/me/calendar-token", None),
        ("POST", "/auth/sign-out-everywhere", None),
        ("DELETE", f"/auth/api-keys/{key['id']}", None),
    ]
    for method, path, body in writes:
        r = await client.request(method, path, headers=ro, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # Nothing changed.
    r = await client.get(f"/groups/{gid}", headers=owner.headers)
    assert r.json()["description"] == group["description"]
    r = await client.get(f"/groups/{gid}/focus-areas", headers=owner.headers)
    assert r.json()["items"] == []
    # Reading live is reading: a read-only key may get a websocket ticket.
    assert (await client.post("/auth/ws-ticket", headers=ro)).status_code == 201
    # A full key writes.
    full = await _key(client, owner)
    assert full["scopes"] == ["read", "write"]
    r = await client.post(
        f"/groups/{gid}/focus-areas", json={"title": "a"}, headers=_bearer(full["key"])
    )
    assert r.status_code == 201, r.text


async def test_an_expiring_key_stops_working_and_listing_shows_use(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client, "expiring")
    r = await client.post(
        "/auth/api-keys",
        json={"name": "past", "expires_at": "2020-01-01T00:00:00Z"},
        headers=user.headers,
    )
    assert r.status_code == 422, r.text
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    key = await _key(client, user, expires_at=soon)
    assert key["expires_at"] is not None
    assert (await client.get("/users/me", headers=_bearer(key["key"]))).status_code == 200
    r = await client.get("/auth/api-keys", headers=user.headers)
    (listed,) = [k for k in r.json()["items"] if k["id"] == key["id"]]
    assert listed["last_used_at"] is not None and "key" not in listed

    # Its time comes (moved into the past rather than waited for).
    async with app.state.session_factory() as session, session.begin():
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == uuid.UUID(key["id"]))  # type: ignore[arg-type]
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    r = await client.get("/users/me", headers=_bearer(key["key"]))
    assert r.status_code == 401, r.text


# --- sign-out, password change and reset ----------------------------------------------------


async def test_sign_out_ends_this_session_only(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    user = await make_user(client, "signout")
    other = (await _sign_in(client, user.email, PASSWORD)).json()["access_token"]
    ws_this = await ws_connect(user.token)
    ws_other = await ws_connect(other)
    await _still_open(ws_this)

    r = await client.post("/auth/sign-out", headers=user.headers)
    assert r.status_code == 204, r.text
    assert (await client.get("/users/me", headers=user.headers)).status_code == 401
    assert (await client.get("/users/me", headers=_bearer(other))).status_code == 200
    assert await _close_code(ws_this) == 4401
    await _still_open(ws_other)


async def test_sign_out_everywhere_ends_every_session_not_the_keys(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    user = await make_user(client, "everywhere")
    other = (await _sign_in(client, user.email, PASSWORD)).json()["access_token"]
    key = await _key(client, user)
    sockets = [await ws_connect(user.token), await ws_connect(other, token_in="header")]

    r = await client.post("/auth/sign-out-everywhere", headers=_bearer(other))
    assert r.status_code == 204, r.text
    for token in (user.token, other):
        assert (await client.get("/users/me", headers=_bearer(token))).status_code == 401
    assert (await client.get("/users/me", headers=_bearer(key["key"]))).status_code == 200
    for ws in sockets:
        assert await _close_code(ws) == 4401
    # Signing in again works.
    assert (await _sign_in(client, user.email, PASSWORD)).status_code == 200


async def test_password_change_signs_out_everywhere(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    user = await make_user(client, "changer")
    ws = await ws_connect(user.token)
    body = {"current_password": PASSWORD + "x", "new_password": NEW_PASSWORD}
    r = await client.post("/users/me/password", json=body, headers=user.headers)
    assert r.status_code == 403, r.text
    assert (await client.get("/users/me", headers=user.headers)).status_code == 200  # unchanged
    await _still_open(ws)

    body["current_password"] = PASSWORD
    r = await client.post("/users/me/password", json=body, headers=user.headers)
    assert r.status_code == 204, r.text
    assert (await client.get("/users/me", headers=user.headers)).status_code == 401
    assert await _close_code(ws) == 4401
    assert (await _sign_in(client, user.email, PASSWORD)).status_code == 401
    assert (await _sign_in(client, user.email, NEW_PASSWORD)).status_code == 200


async def test_password_reset_by_mail(
    client: httpx.AsyncClient, app: FastAPI, ws_connect: Connect
) -> None:
    sink = await SmtpSink().start()
    try:
        settings = smtp_settings(app, sink.port)
        user = await make_user(client, "forgetful")
        ws = await ws_connect(user.token)
        jobs_before = await _reset_jobs(app)

        # Unknown and known addresses get the same answer; only the account gets a mail.
        unknown = await client.post("/auth/password-reset", json={"email": "nobody@example.org"})
        known = await client.post("/auth/password-reset", json={"email": user.email.upper()})
        assert unknown.status_code == known.status_code == 202
        assert unknown.content == known.content
        (job_id,) = (await _reset_jobs(app)) - jobs_before
        # Asking again at once sends nothing more (no flooding someone's inbox).
        assert (
            await client.post("/auth/password-reset", json={"email": user.email})
        ).status_code == 202
        assert (await _reset_jobs(app)) - jobs_before == {job_id}

        reset_id = job_id.removeprefix("arq:job:password-reset:")
        ctx = worker_ctx(app, settings)
        assert await user_tasks.send_password_reset_email(ctx, reset_id) == "sent"
        assert await user_tasks.send_password_reset_email(ctx, reset_id) == "not pending"
        (mail,) = sink.to(user.email)
        plain, _ = bodies(mail)
        token = plain.split("once: ", 1)[1].split()[0]
        assert token.startswith(uuid.UUID(reset_id).hex + ".")

        # A token with a forged MAC, or none, is refused and changes nothing.
        for bad in (uuid.UUID(reset_id).hex + ".forged", "garbage"):
            r = await client.post(
                "/auth/password-reset/confirm", json={"token": bad, "new_password": NEW_PASSWORD}
            )
            assert r.status_code == 400, r.text
        assert (await client.get("/users/me", headers=user.headers)).status_code == 200

        body = {"token": token, "new_password": NEW_PASSWORD}
        r = await client.post("/auth/password-reset/confirm", json=body)
        assert r.status_code == 204, r.text
        assert (await client.get("/users/me", headers=user.headers)).status_code == 401
        assert await _close_code(ws) == 4401
        assert (await _sign_in(client, user.email, NEW_PASSWORD)).status_code == 200
        # Once only.
        body["new_password"] = "yet another passphrase"
        r = await client.post("/auth/password-reset/confirm", json=body)
        assert r.status_code == 400, r.text
        assert (await _sign_in(client, user.email, NEW_PASSWORD)).status_code == 200
    finally:
        await sink.stop()


async def _reset_jobs(app: FastAPI) -> set[str]:
    keys = await app.state.redis.keys("arq:job:password-reset:*")
    return {k.decode() for k in keys}


# --- websockets end with their credential ---------------------------------------------------


async def test_websockets_close_on_key_revocation_deactivation_and_expiry(
    client: httpx.AsyncClient, app: FastAPI, ws_connect: Connect, settings: Settings
) -> None:
    user = await make_user(client, "closing")
    key = await _key(client, user)
    by_key = await ws_connect(key["key"], token_in="header")
    by_jwt = await ws_connect(user.token)
    r = await client.delete(f"/auth/api-keys/{key['id']}", headers=user.headers)
    assert r.status_code == 204
    assert await _close_code(by_key) == 4401
    await _still_open(by_jwt)

    # A session whose token expires in a moment: its websocket closes when it does.
    expires = datetime.now(UTC) + timedelta(seconds=2)
    async with app.state.session_factory() as session, session.begin():
        row = AuthSession(user_id=uuid.UUID(user.id), expires_at=expires)
        session.add(row)
        await session.flush()
        short = create_access_token(settings, uuid.UUID(user.id), row.id, expires)
    by_short = await ws_connect(short, token_in="header")
    assert await _close_code(by_short) == 4401
    await _still_open(by_jwt)

    async with app.state.session_factory() as session, session.begin():
        await session.execute(
            update(User).where(User.id == uuid.UUID(user.id)).values(is_active=False)  # type: ignore[arg-type]
        )
    assert await _close_code(by_jwt) == 4401


# --- argon2 parameters ----------------------------------------------------------------------


async def test_sign_in_rehashes_with_changed_argon2_parameters(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    user = await make_user(client, "rehash")
    old = settings.model_copy(update={"argon2_time_cost": 2, "argon2_memory_cost_kib": 2048})
    async with app.state.session_factory() as session, session.begin():
        await session.execute(
            update(User)
            .where(User.id == uuid.UUID(user.id))  # type: ignore[arg-type]
            .values(password_hash=hash_password(old, PASSWORD))
        )
    assert (await _sign_in(client, user.email, PASSWORD)).status_code == 200
    async with app.state.session_factory() as session:
        stored = (
            await session.execute(select(User.password_hash).where(User.id == uuid.UUID(user.id)))  # type: ignore[arg-type]
        ).scalar_one()
    assert "m=2048,t=2" not in stored
    assert f"m={settings.argon2_memory_cost_kib},t={settings.argon2_time_cost}" in stored
    assert (await _sign_in(client, user.email, PASSWORD)).status_code == 200
