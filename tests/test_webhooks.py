"""Webhooks end to end: registration, SSRF guard, signed deliveries, retries, ordering."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from tests.conftest import running_worker
from tests.helpers import (
    TestUser,
    events_of,
    eventually,
    make_group,
    make_user,
    metric,
    settings_changed,
    unique,
)
from tests.receiver import Behaviour, Receiver


async def _setup(client: httpx.AsyncClient) -> tuple[TestUser, str]:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    return owner, group["id"]


async def _hook(
    client: httpx.AsyncClient,
    owner: TestUser,
    group_id: str,
    url: str,
    types: list[str] | None = None,
) -> dict[str, Any]:
    r = await client.post(
        f"/groups/{group_id}/webhooks",
        json={"url": url, "event_types": types or ["*"]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    hook: dict[str, Any] = r.json()
    return hook


async def _area(client: httpx.AsyncClient, owner: TestUser, group_id: str, title: str) -> None:
    r = await client.post(
        f"/groups/{group_id}/focus-areas", json={"title": title}, headers=owner.headers
    )
    assert r.status_code == 201, r.text


async def _deliveries(
    client: httpx.AsyncClient, owner: TestUser, hook_id: str
) -> list[dict[str, Any]]:
    r = await client.get(f"/webhooks/{hook_id}/deliveries", headers=owner.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _dispatcher(app: FastAPI) -> Any:
    """The worker's dispatcher, to call by hand in tests that run no worker."""
    from app.events.dispatch import Dispatcher
    from workers.settings import HANDLERS

    state = app.state
    return Dispatcher(
        settings=state.settings,
        session_factory=state.session_factory,
        redis=state.redis,
        handlers=HANDLERS,
        jobs=state.jobs,
    )


def _verify(secret: str, received: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


async def test_registration_shows_the_secret_once(wh_client: httpx.AsyncClient) -> None:
    owner, gid = await _setup(wh_client)
    hook = await _hook(wh_client, owner, gid, "http://127.0.0.1:9/x", ["action_item.*"])
    assert hook["secret"].startswith("whsec_") and hook["enabled"] is True
    r = await wh_client.get(f"/webhooks/{hook['id']}", headers=owner.headers)
    assert r.status_code == 200 and "secret" not in r.json()
    r = await wh_client.get(f"/groups/{gid}/webhooks", headers=owner.headers)
    assert [h["id"] for h in r.json()["items"]] == [hook["id"]]
    assert all("secret" not in h for h in r.json()["items"])
    r = await wh_client.post(
        f"/groups/{gid}/webhooks",
        json={"url": "http://127.0.0.1:9/x", "event_types": ["Action Item!"]},
        headers=owner.headers,
    )
    assert r.status_code == 422


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",  # loopback (allowed only when listed)
        "http://10.0.0.1/hook",  # private
        "http://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
        "http://[::1]/hook",  # IPv6 loopback
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
        "http://100.64.0.1/hook",  # CGNAT
        "http://224.0.0.1/hook",  # multicast
        "http://hooks.example.com/hook",  # a public-looking name that resolves to 127.0.0.1
        "ftp://files.example.com/hook",
        "http://user:secret@hooks.example.com/hook",
    ],
)
async def test_ssrf_guard_refuses_private_targets(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, receiver: Receiver, url: str
) -> None:
    owner, gid = await _setup(wh_client)

    async def fake_dns(host: str, port: int) -> list[str]:
        # No DNS server in this sandbox: the test plays one that points the name at us.
        return ["127.0.0.1"]

    wh_app.state.resolver = fake_dns
    try:
        with settings_changed(wh_app, webhook_allowed_hosts=[]):
            r = await wh_client.post(
                f"/groups/{gid}/webhooks",
                json={"url": url, "event_types": ["*"]},
                headers=owner.headers,
            )
    finally:
        del wh_app.state.resolver
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await wh_client.get(f"/groups/{gid}/webhooks", headers=owner.headers)
    assert r.json()["items"] == []
    assert receiver.received == []


async def test_deliveries_are_signed_ordered_and_carry_the_event(
    wh_client: httpx.AsyncClient, receiver: Receiver, worker: dict[str, Any]
) -> None:
    owner, gid = await _setup(wh_client)
    hook = await _hook(wh_client, owner, gid, receiver.url("/signed"), ["focus_area.*"])
    for i in range(5):
        await _area(wh_client, owner, gid, f"area {i}")
    got = await receiver.wait_for("/signed", 5)
    payloads = [_verify(hook["secret"], g) for g in got]
    assert [p["type"] for p in payloads] == ["focus_area.created"] * 5
    events = {e["id"]: e for e in await events_of(wh_client, owner, gid)}
    seqs = [p["data"]["seq"] for p in payloads]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5  # the group's order
    assert all(p["data"] == events[p["data"]["id"]] for p in payloads)  # the envelope

    async def all_succeeded() -> list[dict[str, Any]] | None:
        items = await _deliveries(wh_client, owner, hook["id"])
        return items if {d["status"] for d in items} == {"succeeded"} else None

    deliveries = await eventually(all_succeeded)
    assert {g.headers["webhook-id"] for g in got} == {d["id"] for d in deliveries}


async def test_a_failing_receiver_is_retried_with_the_same_webhook_id(
    wh_client: httpx.AsyncClient, receiver: Receiver, worker: dict[str, Any]
) -> None:
    owner, gid = await _setup(wh_client)
    url = receiver.on("/flaky", Behaviour(fail_times=3))
    hook = await _hook(wh_client, owner, gid, url, ["focus_area.created"])
    await _area(wh_client, owner, gid, "retried")
    got = await receiver.wait_for("/flaky", 4)
    assert len({g.headers["webhook-id"] for g in got}) == 1
    (delivery,) = await _deliveries(wh_client, owner, hook["id"])
    detail = await _wait_for_status(wh_client, owner, hook["id"], delivery["id"], "succeeded")
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 500, 500, 200]
    assert detail["attempts"] == 4
    assert all(a["duration_ms"] >= 0 for a in detail["attempt_log"])
    assert detail["attempt_log"][0]["response_excerpt"] == '{"error":"try later"}'


async def _wait_for_status(
    client: httpx.AsyncClient, owner: TestUser, hook_id: str, delivery_id: str, status: str
) -> dict[str, Any]:
    """The attempt is logged a moment after the receiver answered; wait for the record."""

    async def check() -> dict[str, Any] | None:
        r = await client.get(f"/webhooks/{hook_id}/deliveries/{delivery_id}", headers=owner.headers)
        body: dict[str, Any] = r.json()
        return body if body["status"] == status else None

    result: dict[str, Any] = await eventually(check)
    return result


async def test_slow_gone_and_endless_receivers(
    wh_client: httpx.AsyncClient, receiver: Receiver, worker: dict[str, Any]
) -> None:
    owner, gid = await _setup(wh_client)
    slow = await _hook(
        wh_client, owner, gid, receiver.on("/slow", Behaviour(hang=True)), ["focus_area.created"]
    )
    gone = await _hook(
        wh_client, owner, gid, receiver.on("/gone", Behaviour(status=410)), ["focus_area.created"]
    )
    endless = await _hook(
        wh_client,
        owner,
        gid,
        receiver.on("/endless", Behaviour(endless=True)),
        ["focus_area.created"],
    )
    await _area(wh_client, owner, gid, "one")
    await receiver.wait_for("/gone", 1)
    await receiver.wait_for("/endless", 1)
    await receiver.wait_for("/slow", 2)  # timed out once, retried

    (d,) = await _deliveries(wh_client, owner, slow["id"])
    r = await wh_client.get(f"/webhooks/{slow['id']}/deliveries/{d['id']}", headers=owner.headers)
    first = r.json()["attempt_log"][0]
    assert first["status_code"] is None and "timed out" in first["error"]
    assert first["duration_ms"] < 3000  # the 1.5 s timeout held

    (d,) = await _deliveries(wh_client, owner, endless["id"])
    detail = await _wait_for_status(wh_client, owner, endless["id"], d["id"], "succeeded")
    assert len(detail["attempt_log"][0]["response_excerpt"]) == 64 * 1024

    async def disabled() -> dict[str, Any] | None:
        r = await wh_client.get(f"/webhooks/{gone['id']}", headers=owner.headers)
        return None if r.json()["enabled"] else r.json()

    assert "410" in (await eventually(disabled))["disabled_reason"]
    types = [e["type"] for e in await events_of(wh_client, owner, gid)]
    assert "webhook.disabled" in types
    await _area(wh_client, owner, gid, "two")  # a disabled endpoint gets nothing more
    await receiver.wait_for("/endless", 2)
    assert len(receiver.at("/gone")) == 1


async def test_a_redirect_to_a_private_address_is_not_followed(
    wh_client: httpx.AsyncClient, receiver: Receiver, worker: dict[str, Any]
) -> None:
    inner = await Receiver(host="127.0.0.2").start()  # "private": not in the allowed hosts
    try:
        owner, gid = await _setup(wh_client)
        url = receiver.on("/moved", Behaviour(redirect_to=inner.url("/internal")))
        hook = await _hook(wh_client, owner, gid, url, ["focus_area.created"])
        await _area(wh_client, owner, gid, "redirected")
        await receiver.wait_for("/moved", 2)  # retried: a 3xx is a failure
        (d,) = await _deliveries(wh_client, owner, hook["id"])
        r = await wh_client.get(
            f"/webhooks/{hook['id']}/deliveries/{d['id']}", headers=owner.headers
        )
        assert r.json()["attempt_log"][0]["status_code"] == 302
        assert inner.received == []
    finally:
        await inner.stop()


async def test_delivery_time_guard_refuses_a_target_that_became_private(
    wh_app: FastAPI, wh_settings: Any, wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner, gid = await _setup(wh_client)
    hook = await _hook(wh_client, owner, gid, receiver.url("/rebound"), ["focus_area.created"])
    strict = wh_settings.model_copy(update={"webhook_allowed_hosts": []})
    async with running_worker(strict):
        await _area(wh_client, owner, gid, "refused")

        async def attempted() -> list[dict[str, Any]] | None:
            items = await _deliveries(wh_client, owner, hook["id"])
            return items if items and items[0]["attempts"] >= 1 else None

        items = await eventually(attempted)
    r = await wh_client.get(
        f"/webhooks/{hook['id']}/deliveries/{items[0]['id']}", headers=owner.headers
    )
    assert r.json()["attempt_log"][0]["error"].startswith("refused")
    assert receiver.received == []


async def test_rotation_signs_with_both_secrets_and_redeliver_resends(
    wh_client: httpx.AsyncClient, receiver: Receiver, worker: dict[str, Any]
) -> None:
    owner, gid = await _setup(wh_client)
    hook = await _hook(wh_client, owner, gid, receiver.url("/rotated"), ["focus_area.created"])
    r = await wh_client.post(f"/webhooks/{hook['id']}/rotate-secret", headers=owner.headers)
    assert r.status_code == 200
    new_secret = r.json()["secret"]
    assert new_secret != hook["secret"]
    await _area(wh_client, owner, gid, "rotated")
    (got,) = await receiver.wait_for("/rotated", 1)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    _verify(hook["secret"], got)
    _verify(new_secret, got)

    (d,) = await _deliveries(wh_client, owner, hook["id"])
    await _wait_for_status(wh_client, owner, hook["id"], d["id"], "succeeded")
    r = await wh_client.post(
        f"/webhooks/{hook['id']}/deliveries/{d['id']}/redeliver", headers=owner.headers
    )
    assert r.status_code == 202
    again = await receiver.wait_for("/rotated", 2)
    assert again[1].headers["webhook-id"] == got.headers["webhook-id"]
    assert json.loads(again[1].body) == json.loads(got.body)


async def test_a_rotation_after_deliveries_is_picked_up_by_the_running_worker(
    wh_client: httpx.AsyncClient, receiver: Receiver, worker: dict[str, Any]
) -> None:
    # The worker keeps decrypted secrets per endpoint; a rotation must reach the next delivery
    # without a restart, even though the old secret is in that cache by then.
    owner, gid = await _setup(wh_client)
    hook = await _hook(wh_client, owner, gid, receiver.url("/cached"), ["focus_area.created"])
    await _area(wh_client, owner, gid, "before")
    (first,) = await receiver.wait_for("/cached", 1)
    assert len(first.headers["webhook-signature"].split(" ")) == 1
    _verify(hook["secret"], first)
    r = await wh_client.post(f"/webhooks/{hook['id']}/rotate-secret", headers=owner.headers)
    assert r.status_code == 200
    new_secret = r.json()["secret"]
    await _area(wh_client, owner, gid, "after")
    second = (await receiver.wait_for("/cached", 2))[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 2  # new and old, overlapping
    _verify(new_secret, second)
    _verify(hook["secret"], second)


async def test_delivery_metrics_count_outcomes_and_latency(
    wh_settings: Any, wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    registry = CollectorRegistry()

    def scrape() -> str:
        return generate_latest(registry).decode()

    async def both_succeeded() -> bool:
        # Counted just after the record commits, a moment after the API can see it.
        return metric(scrape(), "wg_webhook_deliveries_total", outcome="succeeded") >= 2

    async with running_worker(wh_settings, metrics_registry=registry):
        await _deliver_once_and_after_retries(wh_client, receiver)
        await eventually(both_succeeded)
        after = scrape()

    # At least ours: the module's database may hold other tests' retries, which this worker
    # takes up too.
    succeeded = metric(after, "wg_webhook_deliveries_total", outcome="succeeded")
    assert succeeded >= 2
    assert metric(after, "wg_webhook_deliveries_total", outcome="retrying") >= 2
    assert metric(after, "wg_webhook_delivery_latency_seconds_count") == succeeded
    assert metric(after, "wg_webhook_delivery_latency_seconds_sum") > 0
    assert metric(after, "wg_webhook_attempts_in_flight") == 0
    assert "wg_webhook_deliveries_due " in after


async def _deliver_once_and_after_retries(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """One event to two endpoints: one answers at once, the other after two failures."""
    owner, gid = await _setup(client)
    flaky = await _hook(
        client,
        owner,
        gid,
        receiver.on("/metered-flaky", Behaviour(fail_times=2)),
        ["focus_area.created"],
    )
    steady = await _hook(client, owner, gid, receiver.url("/metered"), ["focus_area.created"])
    await _area(client, owner, gid, "metered")
    await receiver.wait_for("/metered-flaky", 3)
    await receiver.wait_for("/metered", 1)
    for hook in (flaky, steady):
        (d,) = await _deliveries(client, owner, hook["id"])
        await _wait_for_status(client, owner, hook["id"], d["id"], "succeeded")


async def test_test_ping_reports_the_receivers_answer(
    wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner, gid = await _setup(wh_client)
    hook = await _hook(wh_client, owner, gid, receiver.url("/ping"))
    r = await wh_client.post(f"/webhooks/{hook['id']}/test", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True and r.json()["status_code"] == 200
    (got,) = receiver.at("/ping")
    assert _verify(hook["secret"], got)["type"] == "webhook.test"


async def test_test_calls_to_a_hung_receiver_hold_up_nobody_and_are_capped_per_user(
    wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    import asyncio

    owner, gid = await _setup(wh_client)
    hung = await _hook(wh_client, owner, gid, receiver.on("/hung", Behaviour(hang=True)))
    answering = await _hook(wh_client, owner, gid, receiver.url("/answering"))
    bystander = await make_user(wh_client, "bystander")

    def test_call(hook: dict[str, Any]) -> Any:
        return wh_client.post(f"/webhooks/{hook['id']}/test", headers=owner.headers)

    waiting = [asyncio.create_task(test_call(hung)) for _ in range(2)]
    await receiver.wait_for("/hung", 2)  # both calls wait on the receiver now
    third = await test_call(answering)  # the owner's slots are taken: refused at once
    assert third.status_code == 429, third.text
    assert int(third.headers["retry-after"]) > 0
    # Everyone else goes on, reads and writes, while the receiver keeps those calls waiting.
    assert (await wh_client.get("/users/me", headers=bystander.headers)).status_code == 200
    r = await wh_client.post("/groups", json={"name": unique("g")}, headers=bystander.headers)
    assert r.status_code == 201, r.text
    assert not any(t.done() for t in waiting)
    for r in await asyncio.gather(*waiting):
        assert r.status_code == 200 and r.json()["success"] is False  # timed out
    r = await test_call(answering)  # the slots are free again
    assert r.status_code == 200 and r.json()["success"] is True


async def test_an_endpoint_failing_for_too_long_is_disabled_and_owners_are_told(
    wh_settings: Any, wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner, gid = await _setup(wh_client)
    url = receiver.on("/down", Behaviour(fail_times=1000))
    hook = await _hook(wh_client, owner, gid, url, ["focus_area.created"])
    # "Five days" shrunk to half a second, with retries that never run out first.
    impatient = wh_settings.model_copy(
        update={"webhook_disable_after_seconds": 0.5, "webhook_retry_schedule": [0.2] * 50}
    )
    async with running_worker(impatient):
        await _area(wh_client, owner, gid, "never arrives")

        async def disabled() -> dict[str, Any] | None:
            r = await wh_client.get(f"/webhooks/{hook['id']}", headers=owner.headers)
            return None if r.json()["enabled"] else r.json()

        endpoint = await eventually(disabled)
    assert endpoint["disabled_reason"] == "failing for too long"
    (delivery,) = await _deliveries(wh_client, owner, hook["id"])
    assert delivery["status"] == "failed"
    events = await events_of(wh_client, owner, gid)
    disabled_events = [e for e in events if e["type"] == "webhook.disabled"]
    assert len(disabled_events) == 1
    assert disabled_events[0]["data"]["webhook"]["id"] == hook["id"]
    assert len(receiver.at("/down")) >= 3


async def test_owners_are_notified_when_an_endpoint_is_disabled(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, receiver: Receiver, worker: dict[str, Any]
) -> None:
    owner, gid = await _setup(wh_client)
    url = receiver.on("/gone-for-good", Behaviour(status=410))
    hook = await _hook(wh_client, owner, gid, url, ["focus_area.created"])
    await _area(wh_client, owner, gid, "last")

    async def notified() -> list[dict[str, Any]] | None:
        r = await wh_client.get("/notifications", headers=owner.headers)
        items = [n for n in r.json()["items"] if n["type"] == "webhook.disabled"]
        return items or None

    (note,) = await eventually(notified)
    assert note["data"]["title"] == url
    assert note["data"]["subject"] == {"type": "webhook", "id": hook["id"]}


async def test_retry_after_is_honoured(
    wh_client: httpx.AsyncClient, receiver: Receiver, worker: dict[str, Any]
) -> None:
    owner, gid = await _setup(wh_client)
    url = receiver.on("/busy", Behaviour(fail_times=1, retry_after="2"))
    hook = await _hook(wh_client, owner, gid, url, ["focus_area.created"])
    await _area(wh_client, owner, gid, "later please")
    await receiver.wait_for("/busy", 2)
    (d,) = await _deliveries(wh_client, owner, hook["id"])
    detail = await _wait_for_status(wh_client, owner, hook["id"], d["id"], "succeeded")
    first, second = (datetime.fromisoformat(a["attempted_at"]) for a in detail["attempt_log"])
    # The schedule says 0.2 s; the receiver asked for 2 s.
    assert (second - first).total_seconds() >= 2


async def _only_this_group_pending(app: FastAPI, group_id: str) -> None:
    """Earlier tests of the module leave deliveries retrying; these tests drive the queue by
    hand and must find only their own."""
    from sqlalchemy import update
    from sqlmodel import col

    from app.models import DeliveryStatus, WebhookDelivery

    async with app.state.session_factory() as session, session.begin():
        await session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.status) == DeliveryStatus.pending,
                col(WebhookDelivery.group_id) != UUID(group_id),
            )
            .values(status=DeliveryStatus.failed)
        )


def _deliverer(app: FastAPI, **changes: Any) -> Any:
    from app.webhooks.deliverer import Deliverer
    from app.webhooks.delivery import HttpClients

    state = app.state
    settings = state.settings.model_copy(update=changes)
    return Deliverer(
        settings=settings,
        engine=state.engine,
        redis=state.redis,
        http=HttpClients(settings, shards=1),
    )


async def test_a_delivery_held_behind_an_undispatched_event_is_restarted_by_its_dispatch(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Two workers can dispatch a group's events out of order. A delivery of event N+1 is
    held back while event N is not dispatched, and N's dispatch wakes the deliverer for it
    (rather than leaving it to the next poll)."""
    import asyncio
    import contextlib

    owner, gid = await _setup(wh_client)
    await _hook(wh_client, owner, gid, receiver.url("/created"), ["focus_area.created"])
    await _hook(wh_client, owner, gid, receiver.url("/updated"), ["focus_area.updated"])
    r = await wh_client.post(
        f"/groups/{gid}/focus-areas", json={"title": "A"}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    r = await wh_client.patch(
        f"/focus-areas/{r.json()['id']}", json={"title": "B"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    *before, created, updated = await events_of(wh_client, owner, gid)
    assert (created["type"], updated["type"]) == ("focus_area.created", "focus_area.updated")
    await _only_this_group_pending(wh_app, gid)

    # No worker runs here: this test plays the dispatchers, N+1 before N, and runs a
    # deliverer that would not look again on its own for a minute.
    deliverer = _deliverer(wh_app, webhook_poll_seconds=60)
    dispatcher = _dispatcher(wh_app)
    dispatcher.wake_deliverer = deliverer.wake
    for event in before:
        assert await dispatcher.dispatch(UUID(event["id"]))
    assert await dispatcher.dispatch(UUID(updated["id"]))
    runner = asyncio.create_task(deliverer.run())
    try:
        await asyncio.wait_for(deliverer.idle.wait(), 10)
        assert deliverer.in_flight == {} and receiver.received == []  # N+1 is held back

        assert await dispatcher.dispatch(UUID(created["id"]))
        (first,) = await receiver.wait_for("/created", 1, timeout=10)
        (second,) = await receiver.wait_for("/updated", 1, timeout=10)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await deliverer.http.aclose()
    assert json.loads(first.body)["data"]["id"] == created["id"]
    assert json.loads(second.body)["data"]["id"] == updated["id"]


async def test_a_stalled_workers_late_outcome_does_not_undo_the_takeover(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """A worker stalls past its lease; another claims the delivery and succeeds. The first
    one's late failure is logged as an attempt but neither reschedules the delivery nor marks
    a healthy endpoint as failing."""
    from app.core.db import Tx
    from app.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
    from app.models.base import utcnow
    from app.webhooks import queue
    from app.webhooks.delivery import Outcome

    owner, gid = await _setup(wh_client)
    await _hook(wh_client, owner, gid, receiver.url("/late"), ["focus_area.created"])
    await _area(wh_client, owner, gid, "Late")
    dispatcher = _dispatcher(wh_app)
    for event in await events_of(wh_client, owner, gid):
        assert await dispatcher.dispatch(UUID(event["id"]))
    await _only_this_group_pending(wh_app, gid)
    engine, settings = wh_app.state.engine, wh_app.state.settings

    async def claim(lease: float) -> queue.Claim:
        async with engine.begin() as conn:
            (taken,) = await queue.claim(conn, limit=10, lease_seconds=lease, now=utcnow())
        return taken

    async def record(claimed: queue.Claim, status_code: int) -> queue.Recorded:
        outcome = Outcome(status_code=status_code, duration_ms=5)
        finished = queue.Finished(claimed, outcome, utcnow())
        async with engine.begin() as conn:
            return await queue.record(Tx(conn, owned=False), settings, [finished], utcnow())

    stalled = await claim(-1.0)  # the first claimer's lease is over at once: it "stalled"
    takeover = await claim(10.0)
    assert takeover.delivery_id == stalled.delivery_id
    assert (await record(takeover, 200)).results == {"succeeded": 1}
    late = await record(stalled, 500)  # the stalled one fails late: no retry
    assert (late.results, late.retry_at) == ({"superseded": 1}, [])

    delivery_id = takeover.delivery_id
    async with wh_app.state.session_factory() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
        assert endpoint is not None
        assert (delivery.status, delivery.attempts) == ("succeeded", 2)
        assert delivery.next_attempt_at is None
        assert endpoint.failing_since is None
        attempts = (
            await session.execute(
                select(DeliveryAttempt.number, DeliveryAttempt.status_code)
                .where(DeliveryAttempt.delivery_id == delivery_id)
                .order_by(DeliveryAttempt.number)
            )
        ).all()
        assert [tuple(a) for a in attempts] == [(1, 200), (2, 500)]
