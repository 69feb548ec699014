"""Query plans of the list statements at scale: EXPLAIN ANALYZE on a throwaway database.

    .venv/bin/python -m bench.explain [--rows 100000] \
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Seeds one group with `--rows` action items, proposals, meetings and events, and one user with
`--rows` notifications (one group-wide table each, so every list runs against a big table), then
prints for each list statement of the query layers — the very statements the API runs, compiled
for PostgreSQL — its plan with actual times: the first page and a page deep in the list (keyset
cursor), which should both read about one page of rows.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from bench.common import SECRET, BenchDatabase


def _rows(n: int, make: Any) -> list[dict[str, Any]]:
    return [make(i) for i in range(n)]


async def _seed(url: str, n: int) -> dict[str, Any]:
    from app.core.config import Settings
    from app.core.db import create_engine
    from app.models import (
        ActionItem,
        Event,
        Group,
        Meeting,
        Membership,
        Notification,
        Proposal,
        User,
    )
    from app.models.base import table_of

    engine = create_engine(Settings(env="test", database_url=url, secret_key=SECRET))
    base = datetime.now(UTC) - timedelta(days=30)
    user_id, group_id = uuid.uuid4(), uuid.uuid4()
    owners = [user_id, *(uuid.uuid4() for _ in range(19))]
    at = [base + timedelta(seconds=i) for i in range(n)]
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(table_of(User)),
                [
                    {"id": u, "email": f"{u}@bench.example.org", "name": "b", "version": 1,
                     "password_hash": "!", "is_admin": False, "is_active": True, "locale": "en",
                     "created_at": base}
                    for u in owners
                ],
            )  # fmt: skip
            await conn.execute(
                insert(table_of(Group)),
                {"id": group_id, "name": "bench", "visibility": "private", "last_seq": n,
                 "created_at": base, "updated_at": base, "version": 1},
            )  # fmt: skip
            await conn.execute(
                insert(table_of(Membership)),
                [
                    {"id": uuid.uuid4(), "group_id": group_id, "user_id": u, "role": "member",
                     "created_at": base, "updated_at": base, "version": 1}
                    for u in owners
                ],
            )  # fmt: skip
            statuses = ("todo", "in_progress", "blocked", "done", "cancelled")
            tables = {
                ActionItem: lambda i: {
                    "id": uuid.uuid4(), "group_id": group_id, "title": f"item {i}",
                    "owner_id": owners[i % len(owners)], "priority": "medium",
                    "status": statuses[i % 5], "progress": 0, "created_by": user_id,
                    "created_at": at[i], "updated_at": at[i], "version": 1,
                    "due_date": (base + timedelta(days=i % 60)).date(),
                },
                Proposal: lambda i: {
                    "id": uuid.uuid4(), "group_id": group_id, "title": f"p {i}", "body": "b",
                    "author_id": user_id, "state": "draft", "endorsement_count": 0,
                    "created_at": at[i], "updated_at": at[i], "version": 1,
                },
                Meeting: lambda i: {
                    "id": uuid.uuid4(), "group_id": group_id, "title": f"m {i}",
                    "starts_at": at[i], "ends_at": at[i] + timedelta(hours=1),
                    "timezone": "UTC", "mode": "virtual", "status": "scheduled",
                    "ical_sequence": 0, "created_at": at[i], "updated_at": at[i], "version": 1,
                },
                Event: lambda i: {
                    "id": uuid.uuid4(), "group_id": group_id, "seq": i + 1, "type": "x.y",
                    "subject_type": "group", "subject_id": group_id, "data": {},
                    "occurred_at": at[i], "published_at": at[i], "dispatched_at": at[i],
                },
            }  # fmt: skip
            for model, make in tables.items():
                for start in range(0, n, 10_000):
                    chunk = [make(i) for i in range(start, min(n, start + 10_000))]
                    await conn.execute(insert(table_of(model)), chunk)
            event_ids = [
                row[0] for row in await conn.exec_driver_sql("SELECT id FROM events ORDER BY seq")
            ]
            for start in range(0, n, 10_000):
                chunk = [
                    {"id": uuid.uuid4(), "user_id": user_id, "event_id": event_ids[i],
                     "group_id": group_id, "type": "x.y", "reason": "member", "data": {},
                     "read_at": at[i] if i % 2 else None, "created_at": at[i]}
                    for i in range(start, min(n, start + 10_000))
                ]  # fmt: skip
                await conn.execute(insert(table_of(Notification)), chunk)
            await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()
    return {"user_id": user_id, "group_id": group_id, "middle": at[n // 2], "n": n}


def _statements(seed: dict[str, Any]) -> list[tuple[str, Select[Any], dict[str, Any]]]:
    from app.events import queries as events
    from app.groups import queries as groups
    from app.meetings import queries as meetings
    from app.notifications import queries as notifications
    from app.proposals import queries as proposals
    from app.roadmap import queries as roadmap

    g, u, middle = seed["group_id"], seed["user_id"], seed["middle"]
    deep = {"after_0": middle, "after_1": uuid.UUID(int=0)}
    page = {"limit_plus_one": 51}
    first, later, status = frozenset(), frozenset(), frozenset({"status"})
    return [
        ("action items, first page", roadmap._list_statement(False, first, False),
         {"group_id": g, **page}),
        ("action items, deep page", roadmap._list_statement(False, later, True),
         {"group_id": g, **page, **deep}),
        ("action items, status=blocked", roadmap._list_statement(False, status, False),
         {"group_id": g, "status": "blocked", **page}),
        ("my action items, first page", roadmap._list_statement(True, first, False),
         {"user_id": u, **page}),
        ("my action items, deep page", roadmap._list_statement(True, later, True),
         {"user_id": u, **page, **deep}),
        ("proposals, deep page", proposals._page(frozenset(), True),
         {"group_id": g, **page, **deep}),
        ("meetings, deep page", meetings._page(False, False, False, True),
         {"group_id": g, **page, **deep}),
        ("members, first page", groups._members_page(False), {"group_id": g, **page}),
        ("notifications, first page", notifications._page(None, False), {"user_id": u, **page}),
        ("notifications, unread, deep page", notifications._page(True, True),
         {"user_id": u, **page, **deep}),
        ("unread count", notifications._UNREAD, {"user_id": u}),
        ("events after seq n/2", events._AFTER,
         {"group_id": g, "after": seed["n"] // 2, "limit": 51}),
    ]  # fmt: skip


async def _explain(url: str, seed: dict[str, Any]) -> None:
    import asyncpg

    dialect = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        for title, stmt, params in _statements(seed):
            compiled = stmt.compile(dialect=dialect)
            values = compiled.construct_params(params)
            args = [values[name] for name in compiled.positiontup or []]
            sql = str(compiled)
            plan = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF, BUFFERS) " + sql, *args)
            print(f"\n-- {title}")
            for row in plan:
                print("   " + row[0])
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    db = await asyncio.to_thread(BenchDatabase, args.database_url)
    try:
        started = time.perf_counter()
        seed = await _seed(db.url, args.rows)
        print(f"seeded {args.rows} rows per table in {time.perf_counter() - started:.0f} s")
        await _explain(db.url, seed)
    finally:
        await asyncio.to_thread(db.drop)


if __name__ == "__main__":
    asyncio.run(main())
