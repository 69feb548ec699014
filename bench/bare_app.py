"""The baseline of `bench/api.py`: the three action-item endpoints as bare FastAPI + asyncpg.

    BENCH_BARE_DATABASE_URL=postgresql://… .venv/bin/python -m bench.bare_app --port 8001 \
        [--workers 2]

It answers the same paths with the same JSON as `wg api` and does the same essential database
work, written by hand with raw asyncpg on a pool; what it leaves out is our layers. It is the
floor our endpoints are compared with, not a toy: every request authenticates, authorizes and,
for writes, records its events in the same transaction under the group's row lock.

What it does, per request (statements in order; "txn" = inside BEGIN … COMMIT):

- every request: the API key from `Authorization: Bearer wgk_…` is looked up by its SHA-256,
  joined to its user (one SELECT: `api_keys ⋈ users`); revoked keys and inactive users get
  401; `last_used_at` is written when older than a minute, as ours does.
- `POST /api/v1/groups/{id}/action-items` (txn): the group joined to the caller's membership,
  `FOR UPDATE OF groups` (the lock ours takes to assign `seq`; 404/403/409 as ours: private
  non-member, role below member, archived group); the owner rule (a member's item is their
  own, only moderators assign to others — another member's membership is then checked with
  one more SELECT); `INSERT … RETURNING` the item; one `UPDATE groups SET last_seq = last_seq
  + n RETURNING` for its n events (`action_item.created`, plus `action_item.assigned` when it
  has an owner); one INSERT of the n event rows with the same envelope data as ours.
  201 with the item and its ETag.
- `GET /api/v1/groups/{id}/action-items?limit=&cursor=` (no explicit transaction: autocommit
  reads): the group joined to the caller's membership (404 for a private non-member), then
  the page — `WHERE group_id ORDER BY created_at, id LIMIT limit+1` after the keyset cursor,
  the same query and cursor encoding as ours. 200 `{items, next_cursor}`.
- `PATCH /api/v1/action-items/{id}` (txn): the item's group joined to the caller's
  membership, `FOR UPDATE OF groups` (the group located by a sub-select on the item); then
  the item, read under that lock (ours reads it before and again after the lock); role ≥
  member, owner-or-moderator, `If-Match` (412); the status rules (`done` ⇒ progress 100 and
  `completed_at`); `UPDATE … WHERE version = $n RETURNING` with `version + 1`;
  `UPDATE groups … last_seq` and INSERT of `action_item.updated` (`{action_item, changes:
  {field: {old, new}}}`) and, on becoming done, `action_item.completed`. 200 with the item
  and its new ETag.

What it does not do (our layers, which the benchmark measures the cost of): no middleware
(metrics, body-size limit, rate limits in Redis, `Idempotency-Key`); no pool pre-ping (ours:
BEGIN, `;`, ROLLBACK at every checkout); reads outside a transaction (ours: BEGIN … COMMIT
around every request); no ORM (no identity map, unit of work or model instances); no pydantic
request or response models (bodies are checked by hand for what these routes accept: title,
description, priority, owner_id on create, status and progress on PATCH; other fields get
422, JWTs 401); no OpenAPI; terse error bodies; no outbox relay and no realtime hub (ours
publishes the committed events to a Redis stream and reads it back for websockets; here they
stay unpublished in the table); no `due_date`, focus area, proposal or meeting links. The
pool has the same bounds as ours (10 kept, 30 at most).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, Response

ROLE_RANK = {"observer": 0, "member": 1, "moderator": 2, "owner": 3}
PRIORITIES = {"low", "medium", "high"}
STATUSES = {"todo", "in_progress", "blocked", "done", "cancelled"}
CLOSED = {"done", "cancelled"}
LAST_USED_RESOLUTION = timedelta(minutes=1)
ITEM_COLUMNS = (
    "id, group_id, title, description, owner_id, due_date, priority, status, progress, "
    "completed_at, focus_area_id, proposal_id, meeting_id, decision_id, created_by, created_at, "
    "updated_at, version"
)
PATCHABLE = ("title", "description", "priority", "status", "progress")


class Problem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(_dumps(body), status, headers, media_type="application/json")


def _problem(exc: Problem) -> Response:
    body = {"type": "about:blank", "title": "", "status": exc.status, "detail": exc.detail}
    return Response(_dumps(body), exc.status, media_type="application/problem+json")


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def item_json(row: asyncpg.Record) -> dict[str, Any]:
    """The ActionItemRead shape, field for field."""
    due: date | None = row["due_date"]
    return {
        "id": str(row["id"]),
        "group_id": str(row["group_id"]),
        "title": row["title"],
        "description": row["description"],
        "owner_id": _id(row["owner_id"]),
        "due_date": None if due is None else due.isoformat(),
        "priority": row["priority"],
        "status": row["status"],
        "progress": row["progress"],
        "completed_at": _ts(row["completed_at"]),
        "focus_area_id": _id(row["focus_area_id"]),
        "proposal_id": _id(row["proposal_id"]),
        "meeting_id": _id(row["meeting_id"]),
        "decision_id": _id(row["decision_id"]),
        "created_by": _id(row["created_by"]),
        "created_at": _ts(row["created_at"]),
        "updated_at": _ts(row["updated_at"]),
        "overdue": due is not None
        and due < datetime.now(UTC).date()
        and row["status"] not in CLOSED,
    }


def _etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


async def _caller(conn: asyncpg.Connection, request: Request) -> asyncpg.Record:
    """The API key's user (401 otherwise); touches `last_used_at` at most once a minute."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not token.startswith("wgk_"):
        raise Problem(401, "the baseline accepts API keys only")
    row = await conn.fetchrow(
        "SELECT k.id AS key_id, k.revoked_at, k.last_used_at, u.id, u.is_admin, u.is_active "
        "FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1",
        hashlib.sha256(token.encode()).hexdigest(),
    )
    if row is None or row["revoked_at"] is not None or not row["is_active"]:
        raise Problem(401, "Invalid, expired or revoked token")
    now = datetime.now(UTC)
    if row["last_used_at"] is None or now - row["last_used_at"] > LAST_USED_RESOLUTION:
        await conn.execute(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1", row["key_id"], now
        )
    return row


def _role(user: asyncpg.Record, access: asyncpg.Record | None) -> str | None:
    if user["is_admin"]:
        return "owner"
    return access["role"] if access is not None else None


def _authorize(user: asyncpg.Record, access: asyncpg.Record | None, need: str, write: bool) -> str:
    """Our GroupContext rules: 404 hides private groups, 403 below `need`, 409 if archived."""
    if access is None:
        raise Problem(404, "Group not found")
    role = _role(user, access)
    if role is None and access["visibility"] != "public":
        raise Problem(404, "Group not found")
    if need != "observer" and (role is None or ROLE_RANK[role] < ROLE_RANK[need]):
        raise Problem(403, f"This needs the {need} role in the group")
    if write and access["archived_at"] is not None:
        raise Problem(409, "The group is archived; it is read-only")
    return role or ""


GROUP_ACCESS = (
    "SELECT g.id, g.visibility, g.archived_at, m.role FROM groups g "
    "LEFT JOIN memberships m ON m.group_id = g.id AND m.user_id = $2 WHERE g.id = "
)


async def _record_events(
    conn: asyncpg.Connection,
    group_id: uuid.UUID,
    actor_id: uuid.UUID,
    subject_id: uuid.UUID,
    events: list[tuple[str, dict[str, Any]]],
) -> None:
    """Take the next `len(events)` numbers from the (locked) group row and insert the events."""
    last = await conn.fetchval(
        "UPDATE groups SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq",
        group_id,
        len(events),
    )
    now = datetime.now(UTC)
    first = last - len(events) + 1
    values, args = [], []
    for i, (type_, data) in enumerate(events):
        n = len(args)
        values.append(
            f"(${n + 1}, ${n + 2}, ${n + 3}, ${n + 4}, ${n + 5}, 'action_item', ${n + 6}, "
            f"${n + 7}::jsonb, ${n + 8})"
        )
        data_text = _dumps(data).decode()
        args += [uuid.uuid4(), group_id, first + i, type_, actor_id, subject_id, data_text, now]
    await conn.execute(
        "INSERT INTO events (id, group_id, seq, type, actor_id, subject_type, subject_id, data, "
        "occurred_at) VALUES " + ", ".join(values),
        *args,
    )


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise Problem(400, "The request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise Problem(422, "expected an object")
    return body


def _check_fields(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise Problem(422, f"not accepted by the baseline: {sorted(unknown)}")
    if "title" in body and not (isinstance(body["title"], str) and 1 <= len(body["title"]) <= 200):
        raise Problem(422, "title: 1-200 characters")
    if "description" in body and not (
        body["description"] is None or isinstance(body["description"], str)
    ):
        raise Problem(422, "description: a string or null")
    if "priority" in body and body["priority"] not in PRIORITIES:
        raise Problem(422, "priority: low, medium or high")
    if "status" in body and body["status"] not in STATUSES:
        raise Problem(422, "status: unknown value")
    if "progress" in body:
        p = body["progress"]
        if not (isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 100):
            raise Problem(422, "progress: 0-100")


def encode_cursor(created_at: datetime, item_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(item_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(parts[0]), uuid.UUID(parts[1])
    except (ValueError, TypeError, IndexError) as exc:
        raise Problem(400, "Invalid cursor") from exc


def create_app() -> FastAPI:
    dsn = os.environ["BENCH_BARE_DATABASE_URL"]
    pool: asyncpg.Pool | None = None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        # The same bounds as our engine (pool_size=10, max_overflow=20).
        pool = await asyncpg.create_pool(dsn, min_size=10, max_size=30)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    def _pool() -> asyncpg.Pool:
        assert pool is not None
        return pool

    @app.get("/readyz")
    async def readyz() -> Response:
        async with _pool().acquire() as conn:
            await conn.fetchval("SELECT 1")
        return _json(200, {"status": "ok"})

    @app.post("/api/v1/groups/{group_id}/action-items")
    async def create_item(group_id: uuid.UUID, request: Request) -> Response:
        body = _body(await request.body())
        try:
            _check_fields(body, {"title", "description", "priority", "owner_id"})
            if "title" not in body:
                raise Problem(422, "title is required")
            async with _pool().acquire() as conn, conn.transaction():
                user = await _caller(conn, request)
                access = await conn.fetchrow(
                    GROUP_ACCESS + "$1 FOR UPDATE OF g", group_id, user["id"]
                )
                role = _authorize(user, access, "member", write=True)
                owner = body.get("owner_id")
                owner_id = uuid.UUID(owner) if owner is not None else user["id"]
                if owner_id != user["id"]:
                    if ROLE_RANK[role] < ROLE_RANK["moderator"]:
                        raise Problem(403, "Members create action items for themselves")
                    if not await conn.fetchval(
                        "SELECT 1 FROM memberships WHERE group_id = $1 AND user_id = $2",
                        group_id,
                        owner_id,
                    ):
                        raise Problem(422, "the owner must be a member of the group")
                now = datetime.now(UTC)
                row = await conn.fetchrow(
                    "INSERT INTO action_items (id, group_id, title, description, owner_id, "
                    "priority, status, progress, created_by, created_at, updated_at, version) "
                    "VALUES ($1, $2, $3, $4, $5, $6, 'todo', 0, $7, $8, $8, 1) "
                    f"RETURNING {ITEM_COLUMNS}",
                    uuid.uuid4(),
                    group_id,
                    body["title"].strip(),
                    body.get("description"),
                    owner_id,
                    body.get("priority", "medium"),
                    user["id"],
                    now,
                )
                item = item_json(row)
                payload = {"action_item": item}
                events = [("action_item.created", payload)]
                if owner_id is not None:
                    owners = {"owner_id": str(owner_id), "previous_owner_id": None}
                    events.append(("action_item.assigned", {**payload, **owners}))
                await _record_events(conn, group_id, user["id"], row["id"], events)
        except Problem as exc:
            return _problem(exc)
        return _json(201, item, _etag(row["version"]))

    @app.get("/api/v1/groups/{group_id}/action-items")
    async def list_items(group_id: uuid.UUID, request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", "50"))
            if not 1 <= limit <= 200:
                raise Problem(422, "limit: 1-200")
            cursor = request.query_params.get("cursor")
            async with _pool().acquire() as conn:
                user = await _caller(conn, request)
                access = await conn.fetchrow(GROUP_ACCESS + "$1", group_id, user["id"])
                _authorize(user, access, "observer", write=False)
                sql = f"SELECT {ITEM_COLUMNS} FROM action_items WHERE group_id = $1"
                args: list[Any] = [group_id, limit + 1]
                if cursor:
                    after_ts, after_id = decode_cursor(cursor)
                    sql += " AND (created_at > $3 OR (created_at = $3 AND id > $4))"
                    args += [after_ts, after_id]
                rows = await conn.fetch(sql + " ORDER BY created_at, id LIMIT $2", *args)
        except Problem as exc:
            return _problem(exc)
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"])
        return _json(200, {"items": [item_json(r) for r in rows], "next_cursor": next_cursor})

    @app.patch("/api/v1/action-items/{item_id}")
    async def update_item(item_id: uuid.UUID, request: Request) -> Response:
        body = _body(await request.body())
        try:
            _check_fields(body, set(PATCHABLE))
            async with _pool().acquire() as conn, conn.transaction():
                user = await _caller(conn, request)
                access = await conn.fetchrow(
                    GROUP_ACCESS + "(SELECT group_id FROM action_items WHERE id = $1) "
                    "FOR UPDATE OF g",
                    item_id,
                    user["id"],
                )
                if access is None:
                    raise Problem(404, "Action item not found")
                role = _authorize(user, access, "member", write=True)
                old = await conn.fetchrow(
                    f"SELECT {ITEM_COLUMNS} FROM action_items WHERE id = $1", item_id
                )
                if old is None:
                    raise Problem(404, "Action item not found")
                if ROLE_RANK[role] < ROLE_RANK["moderator"] and old["owner_id"] != user["id"]:
                    raise Problem(403, "Only the item's owner or a moderator may change it")
                if_match = request.headers.get("if-match")
                if if_match is not None:
                    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
                    if "*" not in tags and f'"{old["version"]}"' not in tags:
                        raise Problem(412, "If-Match does not match the current ETag")
                fields: dict[str, Any] = {k: body[k] for k in PATCHABLE if k in body}
                if isinstance(fields.get("title"), str):
                    fields["title"] = fields["title"].strip()
                status = fields.get("status", old["status"])
                if status == "done":
                    if fields.get("progress", 100) != 100:
                        raise Problem(422, "a done item has progress 100")
                    if old["status"] != "done":
                        fields["progress"] = 100
                        fields["completed_at"] = datetime.now(UTC)
                elif old["status"] == "done":
                    fields["completed_at"] = None
                changed = {k: v for k, v in fields.items() if old[k] != v}
                if not changed:
                    return _json(200, item_json(old), _etag(old["version"]))
                sets = [f"{k} = ${i + 3}" for i, k in enumerate(changed)]
                row = await conn.fetchrow(
                    f"UPDATE action_items SET {', '.join(sets)}, version = version + 1, "
                    f"updated_at = ${len(changed) + 3} WHERE id = $1 AND version = $2 "
                    f"RETURNING {ITEM_COLUMNS}",
                    item_id,
                    old["version"],
                    *changed.values(),
                    datetime.now(UTC),
                )
                if row is None:
                    raise Problem(412, "The resource was changed by someone else")
                item = item_json(row)
                changes = {k: {"old": _plain(old[k]), "new": _plain(row[k])} for k in changed}
                payload = {"action_item": item}
                events = [("action_item.updated", {**payload, "changes": changes})]
                if row["status"] == "done" and old["status"] != "done":
                    events.append(("action_item.completed", payload))
                await _record_events(conn, access["id"], user["id"], item_id, events)
        except Problem as exc:
            return _problem(exc)
        return _json(200, item, _etag(row["version"]))

    return app


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _ts(value)
    return value


def main() -> None:
    """Serve under uvicorn with exactly the options `wg api` uses."""
    import uvicorn

    from app.cli import _uvicorn_options
    from app.core.config import Settings

    parser = argparse.ArgumentParser(description="bare FastAPI + asyncpg baseline")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.bare_app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        **_uvicorn_options(Settings(), console_on_terminal=False),
    )


if __name__ == "__main__":
    main()
