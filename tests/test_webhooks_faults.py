"""A worker killed in the middle of a delivery: the delivery still happens, once it can,
with the same `webhook-id` (real `wg worker` processes, kill -9)."""

from __future__ import annotations

import json
import signal
from typing import Any

import httpx

from app.core.config import Settings
from tests.conftest import TEST_SECRET
from tests.helpers import eventually, make_group, make_user
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


async def test_worker_killed_mid_delivery_delivers_after_restart(
    wh_settings: Settings, wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner = await make_user(wh_client, "owner")
    group = await make_group(wh_client, owner)
    url = receiver.on("/killed", Behaviour(hang_times=1))
    r = await wh_client.post(
        f"/groups/{group['id']}/webhooks",
        json={"url": url, "event_types": ["focus_area.created"]},
        headers=owner.headers,
    )
    hook: dict[str, Any] = r.json()
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
