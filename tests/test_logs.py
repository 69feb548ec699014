"""Structured logs from real `wg api` and `wg worker` processes: JSON lines that name the
request, the caller and the group; the job, the event and the delivery in the worker."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from typing import Any

import httpx
from arq import create_pool
from arq.connections import RedisSettings

from app.core import logs
from app.core.config import Settings
from app.core.jobs import JOB_CODEC
from app.main import create_app
from app.realtime.keys import RedisKeys
from tests.conftest import TEST_SECRET
from tests.helpers import make_group, make_user
from tests.procs import WG, Proc, clean_env, free_port


def _records(proc: Proc) -> list[dict[str, Any]]:
    """Every line the process wrote, each of which must be a JSON object."""
    out = []
    for line in proc.lines:
        if line.strip():
            record = json.loads(line)
            assert isinstance(record, dict), line
            out.append(record)
    return out


async def test_request_and_worker_lines_carry_their_ids(settings: Settings) -> None:
    prefix = f"wglogs{uuid.uuid4().hex[:8]}"
    env = clean_env(
        WG_ENV="test",
        WG_DATABASE_URL=settings.effective_database_url,
        WG_REDIS_URL=settings.effective_redis_url,
        WG_SECRET_KEY=TEST_SECRET,
        WG_REDIS_PREFIX=prefix,
        WG_ARGON2_TIME_COST="1",
        WG_ARGON2_MEMORY_COST_KIB="1024",
        WG_WEBHOOK_ALLOWED_HOSTS='["127.0.0.1"]',
    )
    port = free_port()
    api = await Proc.start(WG, "api", "--port", str(port), env=env)
    worker = await Proc.start(WG, "worker", env=env)
    try:
        await api.wait_for_line("Uvicorn running on")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1") as http:
            owner = await make_user(http, "owner")
            group = await make_group(http, owner)
            # Nothing listens there: the delivery fails, and the worker says so.
            r = await http.post(
                f"/groups/{group['id']}/webhooks",
                json={"url": f"http://127.0.0.1:{free_port()}/hook", "event_types": ["*"]},
                headers=owner.headers,
            )
            assert r.status_code == 201, r.text

            async def write(request_id: str | None) -> str:
                headers = dict(owner.headers)
                if request_id is not None:
                    headers["X-Request-ID"] = request_id
                r = await http.post(
                    f"/groups/{group['id']}/focus-areas", json={"title": "t"}, headers=headers
                )
                assert r.status_code == 201, r.text
                return r.headers["X-Request-ID"]

            given = "client-7f3a.retry_2"
            assert await write(given) == given
            generated = await write(None)
            assert re.fullmatch(r"[0-9a-f]{32}", generated)
            for insane in ('x" "user_id": "forged', "x" * 129):
                replaced = await write(insane)
                assert replaced != insane and re.fullmatch(r"[0-9a-f]{32}", replaced)
            await api.wait_for_line(replaced)

        mine = [r for r in _records(api) if r.get("request_id") == given]
        assert mine, api.output()
        access = [r for r in mine if r["logger"] == "uvicorn.access"]
        assert len(access) == 1, mine
        assert access[0]["method"] == "POST" and access[0]["status"] == 201
        for record in mine:
            assert record["user_id"] == owner.id
            assert record["group_id"] == group["id"]
        assert [r for r in _records(api) if r.get("request_id") == generated]

        # The worker: arq's lines about a job name it, and the failed delivery's line its
        # delivery and event.
        pool = await create_pool(RedisSettings.from_dsn(settings.effective_redis_url), **JOB_CODEC)
        try:
            job = await pool.enqueue_job("ping", _queue_name=RedisKeys(prefix).arq_queue)
            assert job is not None
            assert await job.result(timeout=30) == "pong"
        finally:
            await pool.aclose()
        await worker.wait_for_line("webhook attempt failed")
        records = _records(worker)
        assert any(r.get("job_id") == job.job_id and "ping" in r["event"] for r in records)
        failed = next(r for r in records if r["event"].startswith("webhook attempt failed"))
        uuid.UUID(failed["delivery_id"]), uuid.UUID(failed["event_id"])
    finally:
        await api.stop()
        await worker.stop()


async def test_an_unhandled_error_keeps_the_request_id(settings: Settings) -> None:
    """The 500 comes from Starlette's outermost error middleware: its response and its log
    line still carry the request's id."""
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logs.formatter("json"))
    logger = logging.getLogger("app.core.errors")
    logger.addHandler(handler)
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            r = await http.get("/boom", headers={"X-Request-ID": "boom-1"})
    finally:
        logger.removeHandler(handler)
    assert r.status_code == 500 and r.headers["X-Request-ID"] == "boom-1"
    (line,) = [json.loads(x) for x in lines.getvalue().splitlines()]
    assert line["event"] == "unhandled error" and line["request_id"] == "boom-1"
    assert "RuntimeError: bug" in line["exception"]
