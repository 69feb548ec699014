"""Faults on the delivery path, with real `wg worker` processes: a worker killed (kill -9) in
the middle of a delivery, and a Redis that goes away. Deliveries still happen, once they can,
with the same `webhook-id`."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx

from app.core.config import Settings
from tests.cluster import RedisServer
from tests.conftest import TEST_SECRET
from tests.helpers import TestUser, eventually, make_group, make_user
from tests.procs import WG, Proc, clean_env
from tests.receiver import Behaviour, Receiver


def _worker_env(settings: Settings) -> dict[str, str]:
    return clean_env(
        WG_DATABASE_URL=settings.effective_database_url,
        WG_REDIS_URL=settings.effective_redis_url,
        WG_REDIS_PREFIX=settings.redis_prefix,
        WG_SECRET_KEY=TEST_SECRET,
        WG_WEBHOOK_ALLOWED_HOSTS=json.dumps(settings.webhook_allowed_hosts),
        WG_WEBHOOK_TIMEOUT="2",
        WG_WEBHOOK_RETRY_SCHEDULE="[0.2, 0.2, 0.2]",
        WG_DISPATCH_SWEEP_SECONDS="0.5",
        WG_DISPATCH_GRACE_SECONDS="1",
    )


async def _hooked_group(
    client: httpx.AsyncClient, url: str
) -> tuple[TestUser, dict[str, Any], dict[str, Any]]:
    """An owner, their group, and a webhook to `url` for its new focus areas."""
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    r = await client.post(
        f"/groups/{group['id']}/webhooks",
        json={"url": url, "event_types": ["focus_area.created"]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    hook: dict[str, Any] = r.json()
    return owner, group, hook


async def test_worker_killed_mid_delivery_delivers_after_restart(
    wh_settings: Settings, wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner, group, hook = await _hooked_group(
        wh_client, receiver.on("/killed", Behaviour(hang_times=1))
    )
    env = _worker_env(wh_settings)
    first = await Proc.start(WG, "worker", env=env)
    second: Proc | None = None
    try:
        await first.wait_for_line("Starting worker")
        r = await wh_client.post(
            f"/groups/{group['id']}/focus-areas", json={"title": "x"}, headers=owner.headers
        )
        assert r.status_code == 201
        (hung,) = await receiver.wait_for("/killed", 1)  # the worker is inside the attempt
        await first.stop(signal.SIGKILL)
        second = await Proc.start(WG, "worker", env=env)
        got = await receiver.wait_for("/killed", 2, timeout=60)
        assert got[1].headers["webhook-id"] == hung.headers["webhook-id"]
        assert got[1].body == hung.body

        async def succeeded() -> dict[str, Any] | None:
            r = await wh_client.get(f"/webhooks/{hook['id']}/deliveries", headers=owner.headers)
            items = r.json()["items"]
            return items[0] if items and items[0]["status"] == "succeeded" else None

        delivery = await eventually(succeeded, timeout=30)
        assert delivery["id"] == hung.headers["webhook-id"]
    finally:
        await first.stop(signal.SIGKILL)
        if second is not None:
            await second.stop(signal.SIGTERM)


async def test_retries_are_delivered_while_redis_is_away(
    wh_settings: Settings, wh_client: httpx.AsyncClient, receiver: Receiver, tmp_path: Path
) -> None:
    """The deliveries table is the queue; Redis only wakes the deliverer. With Redis gone, a
    due retry still goes out (the deliverer polls), and its outcome is recorded."""
    url = receiver.on("/redis-away", Behaviour(fail_times=1))
    owner, group, hook = await _hooked_group(wh_client, url)
    redis = RedisServer(tmp_path)
    await redis.start()
    env = {
        **_worker_env(wh_settings),
        "WG_REDIS_URL": redis.url,
        "WG_WEBHOOK_RETRY_SCHEDULE": "[2]",  # time to take Redis away before the retry
        "WG_WEBHOOK_POLL_SECONDS": "0.2",
    }
    worker = await Proc.start(WG, "worker", env=env)
    try:
        await worker.wait_for_line("Starting worker")
        r = await wh_client.post(
            f"/groups/{group['id']}/focus-areas", json={"title": "x"}, headers=owner.headers
        )
        assert r.status_code == 201
        # This worker's Redis carries no stream of the app's events: the sweep dispatches it.
        (failed,) = await receiver.wait_for("/redis-away", 1, timeout=30)
        await redis.kill()
        got = await receiver.wait_for("/redis-away", 2, timeout=30)
        assert got[1].headers["webhook-id"] == failed.headers["webhook-id"]

        async def succeeded() -> bool:
            r = await wh_client.get(f"/webhooks/{hook['id']}/deliveries", headers=owner.headers)
            return bool(r.json()["items"][0]["status"] == "succeeded")

        assert await eventually(succeeded, timeout=30)
        await worker.wait_for_line("worker: redis unavailable")  # it did notice Redis gone
        assert worker.proc.returncode is None, worker.output()  # and kept running
    finally:
        await worker.stop(signal.SIGKILL)
        await redis.stop()
