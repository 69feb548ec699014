"""The dispatcher: each published event handled once, through crashes and a flushed Redis."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from redis.exceptions import ResponseError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.redis import create_redis
from app.events.dispatch import CONSUMER_GROUP, DispatchContext, Dispatcher
from app.models import Event
from app.models.base import utcnow
from app.realtime.keys import RedisKeys
from tests.helpers import events_of, make_group, make_user


class Recorder:
    def __init__(self) -> None:
        self.seen: list[uuid.UUID] = []
        self.committed: list[uuid.UUID] = []
        self.changed = asyncio.Event()

    async def handle(
        self, session: AsyncSession, batch: Sequence[Event], ctx: DispatchContext
    ) -> None:
        ids = [event.id for event in batch]
        self.seen += ids

        async def after() -> None:
            self.committed += ids
            self.changed.set()

        ctx.after_commit.append(after)

    async def wait_for(self, ids: set[uuid.UUID], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while not ids <= set(self.committed):
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def dispatcher(app: FastAPI) -> AsyncIterator[tuple[Dispatcher, Recorder]]:
    recorder = Recorder()
    settings = app.state.settings
    redis = create_redis(settings.effective_redis_url)
    # The session app's stream holds every earlier test's events, which no worker dispatched:
    # a new group at "0" (as `_ensure_group` makes in a deployment) would have to work through
    # all of them first. These tests are about what comes next, so their group starts at the end.
    stream = RedisKeys(settings.redis_prefix).events_stream
    try:
        await redis.xgroup_create(stream, CONSUMER_GROUP, id="$", mkstream=True)
    except ResponseError:  # the group exists: move it to the end
        await redis.xgroup_setid(stream, CONSUMER_GROUP, id="$")
    d = Dispatcher(
        settings=settings,
        session_factory=app.state.session_factory,
        redis=redis,
        handlers=[recorder.handle],
    )
    yield d, recorder
    await redis.aclose()


async def test_consumer_group_dispatches_each_event_once(
    client: httpx.AsyncClient, dispatcher: tuple[Dispatcher, Recorder]
) -> None:
    d, recorder = dispatcher
    runner = asyncio.create_task(d.run())
    try:
        owner = await make_user(client, "owner")
        group = await make_group(client, owner)
        ids = {uuid.UUID(e["id"]) for e in await events_of(client, owner, group["id"])}
        await recorder.wait_for(ids)
        # Dispatching again (a redelivered stream entry) does nothing.
        assert not any([await d.dispatch(i) for i in ids])
        assert sorted(recorder.seen.count(i) for i in ids) == [1] * len(ids)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


async def _sweep_all(d: Dispatcher) -> int:
    """Sweep until a sweep dispatches nothing (as the worker's cron does over its runs);
    how many were dispatched."""
    swept = 0
    while done := await d.sweep(grace_seconds=0):
        swept += done
    return swept


async def _as_if_the_stream_lost_them(app: FastAPI, ids: Iterable[uuid.UUID]) -> None:
    """As after a Redis flush: published a while ago, never read by any dispatcher."""
    async with app.state.session_factory() as session, session.begin():
        await session.execute(
            update(Event)
            .where(col(Event.id).in_(list(ids)))
            .values(dispatched_at=None, published_at=utcnow() - timedelta(minutes=1))
        )


async def test_sweep_dispatches_what_the_stream_lost(
    app: FastAPI, client: httpx.AsyncClient, dispatcher: tuple[Dispatcher, Recorder]
) -> None:
    d, recorder = dispatcher
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    events = await events_of(client, owner, group["id"])
    ids = {uuid.UUID(e["id"]) for e in events}
    await _as_if_the_stream_lost_them(app, ids)
    # A sweep takes at most 1,000 events, oldest groups first, and the session's database holds
    # every earlier test's undispatched events: sweep until nothing is left, as the worker's
    # cron does over its runs.
    assert await _sweep_all(d) >= len(ids)
    assert ids <= set(recorder.committed)
    assert sorted(recorder.seen.count(i) for i in ids) == [1] * len(ids)
    async with app.state.session_factory() as session:
        undispatched = await session.execute(
            select(col(Event.id)).where(col(Event.id).in_(ids), col(Event.dispatched_at).is_(None))
        )
        assert undispatched.all() == []


async def test_entries_a_crashed_consumer_never_acknowledged_are_taken_over(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    settings = app.state.settings.model_copy(update={"dispatch_claim_idle_seconds": 0.2})
    redis = create_redis(settings.effective_redis_url)
    recorder = Recorder()
    survivor = Dispatcher(
        settings=settings,
        session_factory=app.state.session_factory,
        redis=redis,
        handlers=[recorder.handle],
    )
    stream = RedisKeys(settings.redis_prefix).events_stream
    try:
        await survivor._ensure_group(redis)
        owner = await make_user(client, "owner")
        group = await make_group(client, owner)
        ids = {uuid.UUID(e["id"]) for e in await events_of(client, owner, group["id"])}
        # A consumer reads the entries and dies before handling or acknowledging them.
        taken: set[uuid.UUID] = set()
        async with asyncio.timeout(20):
            while not ids <= taken:
                replies = await redis.xreadgroup(
                    CONSUMER_GROUP, "crashed", {stream: ">"}, count=100, block=1000
                )
                for _, entries in replies:
                    taken |= {uuid.UUID(f[b"i"].decode()) for _, f in entries}
        runner = asyncio.create_task(survivor.run())
        try:
            await recorder.wait_for(ids)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        # Only XAUTOCLAIM could have handed them over: "crashed" had read them with ">",
        # and run() does not sweep.
    finally:
        await redis.aclose()


async def test_an_event_that_fails_does_not_hold_up_the_rest_of_its_batch(
    app: FastAPI, client: httpx.AsyncClient, dispatcher: tuple[Dispatcher, Recorder]
) -> None:
    d, recorder = dispatcher
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    for title in ("one", "two", "three"):
        r = await client.post(
            f"/groups/{group['id']}/focus-areas", json={"title": title}, headers=owner.headers
        )
        assert r.status_code == 201, r.text
    ids = [uuid.UUID(e["id"]) for e in await events_of(client, owner, group["id"])]
    poison = ids[len(ids) // 2]
    failing = True

    async def fails_on_poison(
        session: AsyncSession, batch: Sequence[Event], ctx: DispatchContext
    ) -> None:
        if failing and any(event.id == poison for event in batch):
            raise RuntimeError("this event cannot be handled (yet)")

    d.handlers = [fails_on_poison, recorder.handle]
    await _as_if_the_stream_lost_them(app, ids)
    # The batch fails as a whole, then goes event by event. A sweep takes 1,000 events at most
    # and the session's database holds every earlier test's: sweep until nothing moves (a
    # sweep left with the poison alone raises its error, as the worker's cron would log it).
    with contextlib.suppress(RuntimeError):
        await _sweep_all(d)

    async def undispatched() -> set[uuid.UUID]:
        async with app.state.session_factory() as session:
            rows = await session.execute(
                select(col(Event.id)).where(
                    col(Event.id).in_(ids), col(Event.dispatched_at).is_(None)
                )
            )
            return set(rows.scalars())

    assert await undispatched() == {poison}
    assert set(ids) - {poison} <= set(recorder.committed) and poison not in recorder.committed
    failing = False  # fixed: the next sweep handles it, and only it
    await _sweep_all(d)
    assert await undispatched() == set()
    assert sorted(recorder.committed.count(i) for i in ids) == [1] * len(ids)
