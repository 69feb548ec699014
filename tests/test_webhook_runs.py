"""Runs: a deliverer claims several of an endpoint's due deliveries at once and sends them back
to back, in order; a failure cuts the run, and what follows waits behind the failed one."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.models.base import utcnow
from app.webhooks import queue
from app.webhooks.queue import Claim, _whole_runs
from tests.conftest import running_worker
from tests.helpers import events_of, eventually, make_group, make_user
from tests.receiver import Behaviour, Receiver
from tests.test_webhooks import _deliverer, _dispatcher, _only_this_group_pending


async def _hook_and_areas(
    client: httpx.AsyncClient, url: str, areas: int
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """An owner's group with a webhook to `url`, then `areas` new focus areas in it."""
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    r = await client.post(
        f"/groups/{group['id']}/webhooks",
        json={"url": url, "event_types": ["focus_area.created"]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    for i in range(areas):
        created = await client.post(
            f"/groups/{group['id']}/focus-areas", json={"title": f"a{i}"}, headers=owner.headers
        )
        assert created.status_code == 201, created.text
    return owner, group, r.json()


async def test_a_failure_cuts_the_run_and_the_rest_waits_behind_it(
    wh_settings: Any, wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    # Written before any worker runs: dispatched together, claimed as one run.
    url = receiver.on("/run", Behaviour(fail_at=(3,)))
    owner, _, hook = await _hook_and_areas(wh_client, url, 6)
    async with running_worker(wh_settings):
        got = await receiver.wait_for("/run", 7)

        async def all_succeeded() -> list[dict[str, Any]] | None:
            r = await wh_client.get(f"/webhooks/{hook['id']}/deliveries", headers=owner.headers)
            items: list[dict[str, Any]] = r.json()["items"]
            return (
                items if len(items) == 6 and {d["status"] for d in items} == {"succeeded"} else None
            )

        deliveries = await eventually(all_succeeded)
    seqs = [json.loads(g.body)["data"]["seq"] for g in got]
    first = seqs[0]
    # The third failed and was retried before anything after it went out.
    assert seqs == [first, first + 1, first + 2, first + 2, first + 3, first + 4, first + 5]
    assert sorted(d["attempts"] for d in deliveries) == [1, 1, 1, 1, 1, 2]


def _claim(endpoint_id: uuid.UUID) -> Claim:
    return Claim(
        delivery_id=uuid.uuid4(),
        token=uuid.uuid4(),
        attempts=0,
        endpoint_id=endpoint_id,
        url="https://example.org/hook",
        secret_encrypted="",
        previous_secret_encrypted=None,
        previous_secret_expires_at=None,
        failing_since=None,
        event=None,
    )


def test_only_runs_from_the_head_without_gaps_are_kept() -> None:
    # Two deliverers claiming at once skip each other's locked rows: one may get a run's later
    # rows without its first. Sending those would overtake the first; they are given back.
    a, b = uuid.uuid4(), uuid.uuid4()
    a1, a2, a4, a5 = (_claim(a) for _ in range(4))
    b2, b3 = _claim(b), _claim(b)
    ranks = {a1: 1, a2: 2, a4: 4, a5: 5, b2: 2, b3: 3}
    rank = {c.delivery_id: r for c, r in ranks.items()}
    kept, broken = _whole_runs([a1, a2, a4, a5, b2, b3], rank)
    assert kept == [a1, a2]
    assert broken == [a4, a5, b2, b3]


async def test_the_run_of_a_deliverer_that_died_is_taken_over_whole(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner, group, _ = await _hook_and_areas(wh_client, receiver.url("/dead"), 3)
    dispatcher = _dispatcher(wh_app)
    for event in await events_of(wh_client, owner, group["id"]):
        await dispatcher.dispatch(uuid.UUID(event["id"]))
    await _only_this_group_pending(wh_app, group["id"])
    engine = wh_app.state.engine
    start = utcnow()

    async def claim(at_seconds: float) -> list[Claim]:
        async with engine.begin() as conn:
            return await queue.claim(
                conn, limit=10, run=10, lease_seconds=1.0, now=start + timedelta(seconds=at_seconds)
            )

    died = await claim(0)
    assert len(died) == 3  # leased for 1, 2 and 3 s: each covers the attempts before it
    assert await claim(0.5) == []  # held: nothing may overtake the run
    # Its head's lease is over: the deliverer is gone, and its whole run is free again, though
    # the later leases still run.
    taken = await claim(1.5)
    assert [c.delivery_id for c in taken] == [c.delivery_id for c in died]
    assert len({c.token for c in taken} | {c.token for c in died}) == 2


async def test_a_run_sends_its_next_delivery_only_once_the_last_outcome_is_committed(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    # If the worker dies, an endpoint then has at most one request whose outcome was lost: at
    # most one delivery arrives twice, as before runs.
    owner, group, _ = await _hook_and_areas(wh_client, receiver.url("/paced"), 3)
    dispatcher = _dispatcher(wh_app)
    for event in await events_of(wh_client, owner, group["id"]):
        await dispatcher.dispatch(uuid.UUID(event["id"]))
    await _only_this_group_pending(wh_app, group["id"])
    # No loop runs: each `step()` is one pass (record what ended, claim, start).
    deliverer = _deliverer(wh_app)
    try:
        assert await deliverer.step() == 3  # one run of three
        await receiver.wait_for("/paced", 1)

        async def first_finished() -> bool:
            return len(deliverer.finished) == 1

        await eventually(first_finished)
        assert len(receiver.at("/paced")) == 1  # the run waits for the record
        await deliverer.step()  # records it: the second request goes out
        await receiver.wait_for("/paced", 2)
        await eventually(first_finished)
        assert len(receiver.at("/paced")) == 2
        await deliverer.step()
        got = await receiver.wait_for("/paced", 3)
    finally:
        for task in list(deliverer.runs.values()):
            task.cancel()
        await deliverer.http.aclose()
    seqs = [json.loads(g.body)["data"]["seq"] for g in got]
    assert seqs == sorted(seqs)
