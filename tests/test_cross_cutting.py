"""Behaviour every route shares: errors, size limit, paging, idempotency, ops, metrics, ETags."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from app.core.idempotency import _fingerprint as request_fingerprint
from app.main import create_app
from app.models import IdempotencyRecord
from app.models.base import utcnow
from tests.conftest import make_settings
from tests.helpers import TestUser as ApiUser  # aliased: pytest would try to collect TestUser
from tests.helpers import make_group, make_user, unique

PROBLEM_JSON = "application/problem+json"
MIB = 1024 * 1024


def _assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = r.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


async def _group_names(client: httpx.AsyncClient, user: ApiUser) -> list[str]:
    """Names of every group the user can list, following cursors."""
    names: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        r = await client.get("/groups", params=params, headers=user.headers)
        assert r.status_code == 200, r.text
        names.extend(g["name"] for g in r.json()["items"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return names


def _padded_group_body(name: str, size: int) -> bytes:
    """A valid group-creation JSON body of exactly `size` bytes (padded with whitespace)."""
    head = json.dumps({"name": name, "visibility": "private"}).encode()
    assert size > len(head)
    return head[:-1] + b" " * (size - len(head)) + b"}"


# --- errors ---------------------------------------------------------------------------------


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/no-such-thing")
    _assert_problem(r, 404)
    r = await client.get("http://test/not-under-the-api")
    _assert_problem(r, 404)


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "method")
    r = await client.delete("/groups", headers=user.headers)
    _assert_problem(r, 405)
    allowed = {m.strip() for m in r.headers["allow"].split(",")}
    assert "POST" in allowed
    assert "DELETE" not in allowed


# --- body size ------------------------------------------------------------------------------


async def test_body_over_one_mib_is_413(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "big")
    too_big_name = unique("toobig")
    r = await client.post(
        "/groups",
        content=_padded_group_body(too_big_name, MIB + 1),
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert r.request.headers["content-length"] == str(MIB + 1)
    _assert_problem(r, 413)

    # Exactly the limit is still accepted, so the 413 above is about size alone.
    fits_name = unique("fits")
    r = await client.post(
        "/groups",
        content=_padded_group_body(fits_name, MIB),
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text

    names = await _group_names(client, user)
    assert fits_name in names
    assert too_big_name not in names


async def test_chunked_body_over_one_mib_is_413(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "chunked")
    name = unique("chunked")
    body = _padded_group_body(name, MIB + 64 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    r = await client.post(
        "/groups",
        content=chunks(),
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert "content-length" not in r.request.headers
    _assert_problem(r, 413)
    assert name not in await _group_names(client, user)


async def test_chunked_body_over_one_mib_with_idempotency_key_is_413(
    client: httpx.AsyncClient,
) -> None:
    """The idempotency middleware buffers the body, so it must stop at the limit too."""
    user = await make_user(client, "chunkedidem")
    name = unique("chunkedidem")
    body = _padded_group_body(name, 2 * MIB)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    headers = {**user.headers, "Content-Type": "application/json", "Idempotency-Key": unique("k")}
    r = await client.post("/groups", content=chunks(), headers=headers)
    _assert_problem(r, 413)
    assert name not in await _group_names(client, user)


# --- paging ---------------------------------------------------------------------------------


async def test_limit_bounds(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "limits")
    for limit in ("0", "201", "-1", "many"):
        r = await client.get("/groups", params={"limit": limit}, headers=user.headers)
        body = _assert_problem(r, 422)
        assert any(e["loc"] == ["query", "limit"] for e in body["errors"]), limit
    for limit in ("1", "200"):
        r = await client.get("/groups", params={"limit": limit}, headers=user.headers)
        assert r.status_code == 200, (limit, r.text)


async def test_garbage_cursor_is_400(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "cursor")

    def b64(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    garbage = [
        "garbage",
        "!!!not-base64!!!",
        base64.urlsafe_b64encode(b"\xff\xfe\x00binary").decode(),
        b64({"not": "a list"}),
        b64(["only-one-part"]),
        b64(["not-a-date", "not-a-uuid"]),
    ]
    for cursor in garbage:
        r = await client.get("/groups", params={"cursor": cursor}, headers=user.headers)
        _assert_problem(r, 400)

    # A real cursor works (the check is on the content, not on every cursor).
    await make_group(client, user)
    await make_group(client, user)
    r = await client.get("/groups", params={"limit": "1"}, headers=user.headers)
    cursor = r.json()["next_cursor"]
    assert cursor is not None
    r = await client.get("/groups", params={"limit": "1", "cursor": cursor}, headers=user.headers)
    assert r.status_code == 200, r.text


# --- Idempotency-Key ------------------------------------------------------------------------


async def test_the_idempotency_record_is_complete_before_the_answer_leaves(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from sqlalchemy import select
    from sqlmodel import col

    user = await make_user(client, "idem-order")
    group = await make_group(client, user)
    key = unique("order")
    stored_when_sent: list[int | None] = []

    async def stored_status() -> int | None:
        async with app.state.session_factory() as session:
            row = await session.execute(
                select(col(IdempotencyRecord.status_code)).where(col(IdempotencyRecord.key) == key)
            )
            return row.scalar_one_or_none()

    async def watching(scope: Any, receive: Any, send: Any) -> None:
        # Outside every middleware: what this sees is what goes on the wire.
        async def on_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                stored_when_sent.append(await stored_status())
            await send(message)

        await app(scope, receive, on_send)

    transport = httpx.ASGITransport(app=watching)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as http:
        r = await http.post(
            f"/groups/{group['id']}/focus-areas",
            json={"title": "ordered"},
            headers={**user.headers, "Idempotency-Key": key},
        )
    assert r.status_code == 201, r.text
    assert stored_when_sent == [201]


async def test_a_retry_right_after_the_answer_always_gets_the_replay(
    client: httpx.AsyncClient, live_server: str
) -> None:
    # Over a real socket the client has the answer the moment it is sent; the record must be
    # complete by then, or an immediate retry finds it "still in progress" (409).
    user = await make_user(client, "idem-fast")
    group = await make_group(client, user)
    statuses: list[tuple[int, int]] = []
    async with httpx.AsyncClient(base_url=f"http://{live_server}/api/v1") as http:
        for i in range(200):
            headers = {**user.headers, "Idempotency-Key": unique("fast")}
            body = {"title": f"area {i}"}
            url = f"/groups/{group['id']}/focus-areas"
            first = await http.post(url, json=body, headers=headers)
            again = await http.post(url, json=body, headers=headers)
            statuses.append((first.status_code, again.status_code))
            assert again.headers.get("idempotent-replayed") == "true", (i, again.text)
            assert again.json() == first.json()
    assert set(statuses) == {(201, 201)}


async def test_idempotency_key_replays_first_response(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "idem")
    name = unique("idem-group")
    headers = {**user.headers, "Idempotency-Key": unique("key")}
    body = {"name": name, "visibility": "private"}

    first = await client.post("/groups", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    second = await client.post("/groups", json=body, headers=headers)
    assert second.status_code == first.status_code
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["etag"] == first.headers["etag"]

    assert (await _group_names(client, user)).count(name) == 1

    # The same key with another body is refused and creates nothing.
    other_name = unique("idem-other")
    r = await client.post(
        "/groups", json={"name": other_name, "visibility": "private"}, headers=headers
    )
    _assert_problem(r, 422)
    names = await _group_names(client, user)
    assert names.count(name) == 1
    assert other_name not in names


async def test_idempotency_keys_are_per_user(client: httpx.AsyncClient) -> None:
    alice = await make_user(client, "idem-alice")
    bob = await make_user(client, "idem-bob")
    key = unique("shared-key")
    body = {"name": unique("same-name"), "visibility": "private"}

    ra = await client.post("/groups", json=body, headers={**alice.headers, "Idempotency-Key": key})
    rb = await client.post("/groups", json=body, headers={**bob.headers, "Idempotency-Key": key})
    assert ra.status_code == rb.status_code == 201, (ra.text, rb.text)
    assert "idempotent-replayed" not in rb.headers
    assert ra.json()["id"] != rb.json()["id"]
    # Each owns their own group; neither sees the other's private one.
    assert (await _group_names(client, alice)).count(body["name"]) == 1
    assert (await _group_names(client, bob)).count(body["name"]) == 1
    r = await client.get(f"/groups/{ra.json()['id']}", headers=bob.headers)
    assert r.status_code == 404


async def test_client_error_is_replayed_too(client: httpx.AsyncClient) -> None:
    """Any answer below 500 is final for its key: a 4xx is stored and replayed like a 2xx."""
    user = await make_user(client, "idem4xx")
    headers = {**user.headers, "Idempotency-Key": unique("key")}
    body = {"name": unique("idem-bad"), "visibility": "secret"}
    first = await client.post("/groups", json=body, headers=headers)
    _assert_problem(first, 422)
    assert "idempotent-replayed" not in first.headers
    second = await client.post("/groups", json=body, headers=headers)
    assert second.status_code == 422
    assert second.headers["content-type"].startswith(PROBLEM_JSON)
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"


# --- ops ------------------------------------------------------------------------------------


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("http://test/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_ok(client: httpx.AsyncClient) -> None:
    r = await client.get("http://test/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_readyz_503_when_redis_is_unreachable(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, "redis://127.0.0.1:1/0", tmp_path)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            r = await c.get("/readyz")
            # The process itself is alive.
            assert (await c.get("/healthz")).status_code == 200
    body = _assert_problem(r, 503)
    assert r.headers["Retry-After"].isdigit()
    assert set(body["checks"]) == {"redis"}
    assert "redis" in body["detail"]


def _requests_total(text: str, route: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "wg_http_requests_total" and sample.labels.get("route") == route:
                total += sample.value
    return total


async def test_metrics_label_route_templates(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "metrics")
    group = await make_group(client, user)
    template = "/api/v1/groups/{group_id}"

    before = await client.get("http://test/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    r = await client.get(f"/groups/{group['id']}", headers=user.headers)
    assert r.status_code == 200
    after = (await client.get("http://test/metrics")).text

    assert _requests_total(after, template) == _requests_total(before.text, template) + 1
    assert f'wg_http_requests_total{{method="GET",route="{template}",status="200"}}' in after
    assert group["id"] not in after
    assert "wg_http_request_duration_seconds_bucket" in after


# --- optimistic concurrency -----------------------------------------------------------------


async def test_concurrent_patches_with_same_etag(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "racer")
    group = await make_group(client, owner)
    r = await client.get(f"/groups/{group['id']}", headers=owner.headers)
    etag = r.headers["etag"]
    headers = {**owner.headers, "If-Match": etag}

    names = [unique("winner-a"), unique("winner-b")]
    results = await asyncio.gather(
        *(client.patch(f"/groups/{group['id']}", json={"name": n}, headers=headers) for n in names)
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 412], [r.text for r in results]
    winner = next(r for r in results if r.status_code == 200)
    _assert_problem(next(r for r in results if r.status_code == 412), 412)

    r = await client.get(f"/groups/{group['id']}", headers=owner.headers)
    assert r.json()["name"] == winner.json()["name"]
    assert r.headers["etag"] == winner.headers["etag"] != etag
    # The loser left no trace in the event history either.
    r = await client.get(f"/groups/{group['id']}/events", headers=owner.headers)
    updates = [e for e in r.json()["items"] if e["type"] == "group.updated"]
    assert len(updates) == 1


async def test_a_key_left_pending_by_a_dead_process_is_taken_over_after_a_while(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """An API process killed mid-request leaves its key pending. A retry gets 409 while that
    request could still be running, and runs for real once it cannot be."""
    user = await make_user(client, "idem-abandoned")
    name = unique("after-crash")
    raw = json.dumps({"name": name, "visibility": "private"}).encode()
    request = {"method": "POST", "path": f"{client.base_url.path.rstrip('/')}/groups"}
    limit = app.state.settings.idempotency_abandoned_seconds
    for age, expect in ((limit / 2, 409), (limit * 2, 201)):
        key = unique("dead-key")
        async with app.state.session_factory() as session, session.begin():
            session.add(
                IdempotencyRecord(
                    scope=user.id,
                    key=key,
                    fingerprint=request_fingerprint(request, raw),
                    created_at=utcnow() - timedelta(seconds=age),
                )
            )
        headers = {**user.headers, "Idempotency-Key": key, "Content-Type": "application/json"}
        r = await client.post("/groups", content=raw, headers=headers)
        assert r.status_code == expect, r.text
    assert (await _group_names(client, user)).count(name) == 1
