"""The worker's own metrics: jobs by function and outcome, their duration, the dispatch lag;
and the process metrics of the API's /metrics."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest

from app.core.config import Settings
from tests.conftest import running_worker
from tests.helpers import eventually, make_group, make_user, metric
from tests.receiver import Receiver


async def test_jobs_and_dispatch_lag_are_measured(
    wh_settings: Settings, wh_app: FastAPI, wh_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    registry = CollectorRegistry()
    owner = await make_user(wh_client, "metered")
    gid = (await make_group(wh_client, owner))["id"]
    r = await wh_client.post(
        f"/groups/{gid}/webhooks",
        json={"url": receiver.url("/metered"), "event_types": ["focus_area.created"]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    async with running_worker(wh_settings, metrics_registry=registry):
        job = await wh_app.state.jobs.enqueue_job("ping")
        assert await job.result(timeout=10) == "pong"
        r = await wh_client.post(
            f"/groups/{gid}/focus-areas", json={"title": "metered"}, headers=owner.headers
        )
        assert r.status_code == 201, r.text
        await receiver.wait_for("/metered", 1)

        async def counted() -> str | None:
            # Each is counted a moment after its effect shows: the job as it returns, the
            # delivery once its outcome is committed.
            text = generate_latest(registry).decode()
            done = metric(text, "wg_jobs_total", function="ping") >= 1
            return text if done and "wg_webhook_deliveries_total{" in text else None

        after = await eventually(counted)
    assert metric(after, "wg_jobs_total", function="ping", outcome="succeeded") >= 1
    assert metric(after, "wg_job_duration_seconds_count", function="ping") >= 1
    assert 0 < metric(after, "wg_job_duration_seconds_sum", function="ping") < 10
    # Refreshed at start-up and every 5 s: present, and no older than this module's events.
    assert "wg_event_dispatch_lag_seconds " in after
    assert 0 <= metric(after, "wg_event_dispatch_lag_seconds") < 300
    assert metric(after, "wg_webhook_deliveries_total", outcome="succeeded") >= 1
    # The API's registry carries the process's own figures.
    api = generate_latest(wh_app.state.metrics.registry).decode()
    assert metric(api, "process_cpu_seconds_total") > 0
