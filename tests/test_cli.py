"""The `wg` command as a newcomer and an operator use it: real processes, real servers."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from arq import create_pool
from arq.connections import RedisSettings
from prometheus_client.multiprocess import MultiProcessCollector

from app.core.config import Settings
from app.core.jobs import JOB_CODEC
from app.demo import DEMO_GROUP_NAME, DEMO_PASSWORD, DEMO_USERS
from app.realtime.keys import RedisKeys
from tests.conftest import TEST_SECRET
from tests.helpers import eventually, metric
from tests.procs import WG, Proc, clean_env, free_port, run


async def _ping_through_worker(redis_url: str, prefix: str = "wg") -> None:
    """Enqueue the no-op job and wait for a worker to run it."""
    pool = await create_pool(RedisSettings.from_dsn(redis_url), **JOB_CODEC)
    try:
        job = await pool.enqueue_job("ping", _queue_name=RedisKeys(prefix).arq_queue)
        assert job is not None
        assert await job.result(timeout=30) == "pong"
    finally:
        await pool.aclose()


def _count(db: Path, sql: str, *args: object) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


async def test_serve_runs_everything_in_one_process_with_demo_data(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(WG_DATA_DIR=str(tmp_path))
    proc = await Proc.start(WG, "serve", "--demo", "--port", str(port), env=env)
    try:
        redis_line = await proc.wait_for_line("embedded Redis on")
        # Once the socket listens ("Application startup complete" comes before the bind).
        await proc.wait_for_line("Uvicorn running on")
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/readyz")).status_code == 200
            login = await http.post(
                "/api/v1/auth/token",
                data={"username": DEMO_USERS[0].email, "password": DEMO_PASSWORD},
            )
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            groups = await http.get("/api/v1/groups", headers={"Authorization": f"Bearer {token}"})
            assert [g["name"] for g in groups.json()["items"]] == [DEMO_GROUP_NAME]
            # The in-process worker's delivery metrics sit beside the API's and the hub's.
            metrics = (await http.get("/metrics")).text
            for name in (
                "wg_http_requests_total",
                "wg_ws_connections",
                "wg_ws_frames_sent_total",
                "wg_webhook_deliveries_due",
                "wg_webhook_attempts_in_flight",
            ):
                assert f"\n{name}" in metrics, name
        # The worker runs inside the same process, on the embedded Redis.
        await _ping_through_worker(redis_line.split("embedded Redis on", 1)[1].strip())
    finally:
        assert await proc.stop() == 0, proc.output()

    # A secret of its own was generated (the built-in development key is never used).
    secret = (tmp_path / "secret_key").read_text()
    assert len(secret) >= 32 and secret != Settings.model_fields["secret_key"].default
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600  # the owner's only
    assert [n for n in os.listdir(tmp_path) if n.startswith(".secret")] == []  # no draft left

    db = tmp_path / "wghub.db"
    group_events = "SELECT count(*) FROM events"
    before = (_count(db, "SELECT count(*) FROM organizations"), _count(db, group_events))
    code, out = await run(WG, "demo", env=clean_env(WG_DATA_DIR=str(tmp_path), WG_ENV="dev"))
    assert code == 0, out
    assert _count(db, "SELECT count(*) FROM groups WHERE name = ?", DEMO_GROUP_NAME) == 1
    after = (_count(db, "SELECT count(*) FROM organizations"), _count(db, group_events))
    assert after == before, "wg demo must not duplicate anything"
    countries = {
        row[0] for row in sqlite3.connect(db).execute("SELECT DISTINCT country FROM organizations")
    }
    assert {"AR", "CO", "CR", "CU", "MX", "EC"} <= countries


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serve_stops_its_embedded_redis_when_stopped(tmp_path: Path, sig: int) -> None:
    # A container runtime stops with SIGTERM, a terminal with SIGINT: neither may leave the
    # embedded redis-server running on its own.
    port = free_port()
    proc = await Proc.start(
        WG, "serve", "--port", str(port), env=clean_env(WG_DATA_DIR=str(tmp_path))
    )
    try:
        line = await proc.wait_for_line("embedded Redis on")
        await proc.wait_for_line("Uvicorn running on")
        socket_path = urlsplit(line.split("embedded Redis on", 1)[1].strip()).path
        # redis-server runs as a daemon (not our child): find it by the socket it listens on.
        redis = list(
            {
                psutil.Process(c.pid)
                for c in psutil.net_connections(kind="unix")
                if c.laddr == socket_path and c.pid
            }
        )
        assert len(redis) == 1 and "redis" in redis[0].name(), redis
    finally:
        code = await proc.stop(sig)
    assert code in (0, 128 + sig), proc.output()  # a clean stop, or the signal's usual status
    _, alive = psutil.wait_procs(redis, timeout=10)
    assert alive == [], "the embedded Redis outlived wg serve"


async def test_the_access_log_holds_no_credential(tmp_path: Path) -> None:
    port = free_port()
    proc = await Proc.start(
        WG, "serve", "--port", str(port), env=clean_env(WG_DATA_DIR=str(tmp_path))
    )
    secret = "wgk_" + "s3cr3t" * 6
    try:
        await proc.wait_for_line("Uvicorn running on")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            await http.get(f"/api/v1/groups/x/calendar.ics?token={secret}")
            await http.get(f"/healthz?a=1&Ticket={secret}&access_token={secret}")
        await proc.wait_for_line("/healthz?a=1")
    finally:
        await proc.stop()
    assert secret not in proc.output()
    assert "calendar.ics?token=[redacted]" in proc.output()
    assert "Ticket=[redacted]&access_token=[redacted]" in proc.output()


async def test_worker_process_connects_and_runs_jobs(settings: Settings) -> None:
    env = clean_env(
        WG_DATABASE_URL=settings.effective_database_url,
        WG_REDIS_URL=settings.effective_redis_url,
        WG_SECRET_KEY=TEST_SECRET,
        WG_REDIS_PREFIX=settings.redis_prefix,
        WG_WORKER_METRICS_PORT=str(metrics_port := free_port()),
    )
    proc = await Proc.start(WG, "worker", env=env)
    try:
        await _ping_through_worker(settings.effective_redis_url, settings.redis_prefix)
        async with httpx.AsyncClient() as http:
            r = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert r.status_code == 200
        assert "\nwg_webhook_attempts_in_flight 0.0" in r.text
        assert "# TYPE wg_webhook_deliveries_total counter" in r.text
        # The ping is counted before its result is stored; the rest is there from the start.
        assert metric(r.text, "wg_jobs_total", function="ping", outcome="succeeded") >= 1
        assert metric(r.text, "wg_job_duration_seconds_count", function="ping") >= 1
        assert "\nwg_event_dispatch_lag_seconds " in r.text
        assert metric(r.text, "process_resident_memory_bytes") > 0
    finally:
        await proc.stop()


async def test_migrate_and_create_admin_user(tmp_path: Path) -> None:
    env = clean_env(WG_DATA_DIR=str(tmp_path), WG_ENV="dev")
    code, out = await run(WG, "migrate", env=env)
    assert code == 0 and "up to date" in out, out
    args = ("create-user", "--email", "Root@Example.org", "--password", "s3cret-pass", "--admin")
    code, out = await run(WG, *args, env=env)
    assert code == 0, out
    db = tmp_path / "wghub.db"
    assert _count(db, "SELECT count(*) FROM users WHERE email = ? AND is_admin", "root@example.org")
    code, out = await run(WG, *args, env=env)
    assert code == 1 and "already exists" in out
    assert _count(db, "SELECT count(*) FROM users") == 1


async def test_default_secret_is_refused_outside_dev(tmp_path: Path) -> None:
    env = clean_env(WG_DATA_DIR=str(tmp_path), WG_REDIS_URL="redis://127.0.0.1:1/0")
    code, out = await run(WG, "api", env=env)
    assert code == 2
    assert "WG_SECRET_KEY" in out


def _healthz_count(files: list[Path]) -> float:
    """Requests to the health probe counted in these multiprocess-mode files."""
    return sum(
        sample.value
        for family in MultiProcessCollector.merge([str(f) for f in files], accumulate=True)
        for sample in family.samples
        if sample.name == "wg_http_requests_total" and "healthz" in sample.labels["route"]
    )


async def test_api_processes_serve_their_summed_metrics(settings: Settings, tmp_path: Path) -> None:
    """`wg api --workers 2`: a scrape, whichever process answers it, counts every process's
    requests (prometheus-client's multiprocess mode)."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"")  # an earlier run's, to be wiped
    port = free_port()
    env = clean_env(
        WG_DATABASE_URL=settings.effective_database_url,
        WG_REDIS_URL=settings.effective_redis_url,
        WG_SECRET_KEY=TEST_SECRET,
        WG_REDIS_PREFIX=settings.redis_prefix,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    proc = await Proc.start(WG, "api", "--port", str(port), "--workers", "2", env=env)
    base = f"http://127.0.0.1:{port}"
    sent = 0
    try:
        await proc.wait_for_line("Application startup complete")

        async def probe() -> None:
            # A connection each, so that both processes get some.
            async with httpx.AsyncClient() as http:
                r = await http.get(f"{base}/healthz")
                assert r.status_code == 200

        async def both_served() -> bool:
            nonlocal sent
            await asyncio.gather(*(probe() for _ in range(20)))
            sent += 20
            files = sorted(metrics_dir.glob("counter_*.db"))
            return len(files) == 2 and all(_healthz_count([f]) > 0 for f in files)

        await eventually(both_served)
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{base}/metrics")
        assert r.status_code == 200
        assert metric(r.text, "wg_http_requests_total", route="/healthz") == sent
    finally:
        await proc.stop()
