"""Email through a real SMTP server (aiosmtpd on 127.0.0.1): immediate mails in the user's
language, the daily digest, and an SMTP outage retried without duplicate mail."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from arq import Retry
from arq.connections import RedisSettings
from arq.jobs import Job, JobStatus
from arq.worker import Worker, func
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from app.core.config import Settings
from app.core.jobs import JOB_CODEC, find_job
from app.models import Notification
from app.models.base import utcnow
from app.notifications import tasks
from app.realtime.keys import RedisKeys
from tests.helpers import PASSWORD, TestUser, add_member, make_group, make_user, unique
from tests.notifications_support import (
    SmtpSink,
    bodies,
    create_item,
    dispatch_group,
    jobs_pool,
    make_dispatcher,
    smtp_settings,
    worker_ctx,
)


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    server = await SmtpSink().start()
    yield server
    await server.stop()


async def _user(client: httpx.AsyncClient, name: str, locale: str = "en") -> TestUser:
    email = f"{unique(name)}@example.org"
    body = {"email": email, "password": PASSWORD, "name": name, "locale": locale}
    r = await client.post("/auth/register", json=body)
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    r = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return TestUser(id=user_id, email=email, name=name, token=r.json()["access_token"])


async def _prefs(client: httpx.AsyncClient, user: TestUser, email: str) -> None:
    r = await client.put(
        "/users/me/notification-preferences", json={"email": email}, headers=user.headers
    )
    assert r.status_code == 200, r.text


async def _assign(
    client: httpx.AsyncClient, settings: Settings, app: FastAPI, *owners: TestUser, title: str
) -> dict[str, Any]:
    """A moderator assigns each owner an item in a new group; events dispatched."""
    lead = await make_user(client, "lead")
    group = await make_group(client, lead)
    for owner in owners:
        await add_member(client, lead, group["id"], owner, "member")
        await create_item(client, lead, group["id"], owner_id=owner.id, title=title)
    await dispatch_group(make_dispatcher(app, settings), group["id"])
    return group


async def _notifications(app: FastAPI, user: TestUser) -> list[Notification]:
    async with app.state.session_factory() as session:
        rows = await session.execute(
            select(Notification)
            .where(col(Notification.user_id) == uuid.UUID(user.id))
            .order_by(col(Notification.created_at))
        )
        return list(rows.scalars())


async def test_immediate_mail_in_english_and_spanish(
    app: FastAPI, client: httpx.AsyncClient, sink: SmtpSink
) -> None:
    settings = smtp_settings(app, sink.port)
    ana = await _user(client, "Ana", "es")
    bea = await _user(client, "Bea", "en")
    group = await _assign(client, settings, app, ana, bea, title="Mapa <de> clústeres")

    # The handler enqueued one job per notification, under an id derived from it.
    ctx = worker_ctx(app, settings)
    queue = RedisKeys(settings.redis_prefix).arq_queue
    for user in (ana, bea):
        (note,) = await _notifications(app, user)
        job = Job(tasks.email_job_id(note.id), ctx["redis"], _queue_name=queue)
        assert await job.status() == JobStatus.queued
        assert await tasks.send_notification_email(ctx, str(note.id)) == "sent"
        assert await tasks.send_notification_email(ctx, str(note.id)) == "already sent"
        (note,) = await _notifications(app, user)
        assert note.emailed_at is not None

    (es,) = sink.to(ana.email)
    (en,) = sink.to(bea.email)
    assert es["Subject"] == f"[{group['name']}] lead te asignó la acción «Mapa <de> clústeres»."
    assert (
        en["Subject"]
        == f"[{group['name']}] lead assigned you the action item “Mapa <de> clústeres”."
    )
    assert es["Content-Language"] == "es" and en["Content-Language"] == "en"
    (ana_note,) = await _notifications(app, ana)
    assert es["Message-ID"] == f"<notification.{ana_note.id.hex}@wghub.localhost>"
    plain, rich = bodies(es)
    assert "lead te asignó la acción «Mapa <de> clústeres»." in plain
    assert "Recibes esto porque eres responsable de esta acción" in plain
    assert "te asignó la acción «Mapa &lt;de&gt; clústeres»" in rich  # escaped in HTML
    plain, rich = bodies(en)
    assert "You receive this because you own this action item" in plain
    assert f"<p>Group: {group['name']}</p>" in rich


async def test_no_mail_when_off_or_daily(
    app: FastAPI, client: httpx.AsyncClient, sink: SmtpSink
) -> None:
    settings = smtp_settings(app, sink.port)
    off, daily = await _user(client, "Off"), await _user(client, "Daily")
    await _prefs(client, off, "off")
    await _prefs(client, daily, "daily")
    await _assign(client, settings, app, off, daily, title="Quiet")
    ctx = worker_ctx(app, settings)
    for user in (off, daily):
        (note,) = await _notifications(app, user)
        # Not even enqueued; a job run anyway (preference changed meanwhile) sends nothing.
        job = Job(tasks.email_job_id(note.id), ctx["redis"])
        assert await job.status() == JobStatus.not_found
        assert await tasks.send_notification_email(ctx, str(note.id)) == "not wanted"
    assert sink.to(off.email) == [] and sink.to(daily.email) == []


async def test_daily_digest_groups_per_group_and_sends_nothing_when_empty(
    app: FastAPI, client: httpx.AsyncClient, sink: SmtpSink
) -> None:
    settings = smtp_settings(app, sink.port)
    carla, idle = await _user(client, "Carla", "es"), await _user(client, "Idle")
    for user in (carla, idle):
        await _prefs(client, user, "daily")
    first = await _assign(client, settings, app, carla, title="Encuesta")
    second = await _assign(client, settings, app, carla, title="Informe")
    ctx = worker_ctx(app, settings)

    now = utcnow()
    await tasks.send_daily_digests(ctx, now=now)
    (digest,) = sink.to(carla.email)
    assert sink.to(idle.email) == []  # nothing to say: no mail
    assert digest["Subject"] == "Tu resumen diario de wghub: 2 novedades"
    plain, rich = bodies(digest)
    for group, title in ((first, "Encuesta"), (second, "Informe")):
        heading = (
            f"{group['name']}\n{'=' * len(group['name'])}\n- lead te asignó la acción «{title}»."
        )
        assert heading in plain
        assert (
            f"<h2>{group['name']}</h2><ul><li>lead te asignó la acción «{title}».</li></ul>" in rich
        )
    assert all(n.emailed_at is not None for n in await _notifications(app, carla))

    # The same slot again, and the next day with nothing new: no more mail.
    await tasks.send_daily_digests(ctx, now=now)
    await tasks.send_daily_digests(ctx, now=now + timedelta(days=1))
    assert len(sink.to(carla.email)) == 1 and sink.to(idle.email) == []


async def test_smtp_outage_is_retried_and_mails_once(
    app: FastAPI, client: httpx.AsyncClient, sink: SmtpSink
) -> None:
    settings = smtp_settings(app, sink.port)
    port = sink.port
    await sink.stop()  # the SMTP server is down: connections are refused
    dora = await _user(client, "Dora")
    await _assign(client, settings, app, dora, title="Outage")
    (note,) = await _notifications(app, dora)
    ctx = worker_ctx(app, settings)

    with pytest.raises(Retry) as retry:
        await tasks.send_notification_email({**ctx, "job_try": 1}, str(note.id))
    assert retry.value.defer_score == settings.email_retry_base_seconds * 1000
    with pytest.raises(Retry) as retry:
        await tasks.send_notification_email({**ctx, "job_try": 3}, str(note.id))
    assert retry.value.defer_score == settings.email_retry_base_seconds * 4 * 1000
    (note,) = await _notifications(app, dora)
    assert note.emailed_at is None

    await sink.start(port)
    assert await tasks.send_notification_email({**ctx, "job_try": 4}, str(note.id)) == "sent"
    # A late duplicate run of the job sends nothing.
    assert (
        await tasks.send_notification_email({**ctx, "job_try": 5}, str(note.id)) == "already sent"
    )
    assert len(sink.to(dora.email)) == 1


async def test_a_worker_retries_through_an_outage_with_one_mail(
    app: FastAPI, client: httpx.AsyncClient, sink: SmtpSink
) -> None:
    """A real arq worker: the first attempts hit a server that drops the connection, the
    job retries with backoff, the server comes back, exactly one mail arrives."""
    port = sink.port
    await sink.stop()
    dropped = asyncio.Event()

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()
        dropped.set()

    down = await asyncio.start_server(drop, "127.0.0.1", port)
    settings = smtp_settings(
        app, port, email_retry_base_seconds=0.05, email_retry_max_seconds=0.2, email_max_tries=100
    )
    erin = await _user(client, "Erin")
    await _assign(client, settings, app, erin, title="Retry me")  # enqueues the job
    (note,) = await _notifications(app, erin)

    worker = Worker(
        functions=[func(tasks.send_notification_email, name=tasks.EMAIL_JOB, max_tries=1000)],
        redis_settings=RedisSettings.from_dsn(settings.effective_redis_url),
        **JOB_CODEC,
        queue_name=RedisKeys(settings.redis_prefix).arq_queue,
        ctx={"settings": settings, "session_factory": app.state.session_factory},
        burst=True,
        poll_delay=0.02,
        handle_signals=False,
    )
    run = asyncio.create_task(worker.main())
    try:
        await asyncio.wait_for(dropped.wait(), 20)
        down.close()
        await down.wait_closed()
        await sink.start(port)
        await sink.wait_for(lambda s: len(s.to(erin.email)) >= 1)
        await asyncio.wait_for(run, 20)  # burst: returns once the queue is empty
    finally:
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        await worker.close()
    assert len(sink.to(erin.email)) == 1
    info = await find_job(jobs_pool(app), tasks.email_job_id(note.id)).result_info()
    assert info is not None and info.success and info.result == "sent" and info.job_try >= 2
    (note,) = await _notifications(app, erin)
    assert note.emailed_at is not None


async def test_a_lost_email_job_is_enqueued_again_by_the_sweep(
    app: FastAPI, client: httpx.AsyncClient, sink: SmtpSink
) -> None:
    settings = smtp_settings(app, sink.port)
    fay = await _user(client, "Fay")
    await _assign(client, settings, app, fay, title="Flushed")
    (note,) = await _notifications(app, fay)
    ctx = worker_ctx(app, settings)
    keys = RedisKeys(settings.redis_prefix)
    job = Job(tasks.email_job_id(note.id), ctx["redis"], _queue_name=keys.arq_queue)
    assert await job.status() == JobStatus.queued
    # As after a Redis flush: the queue and the job are gone, the notification is not.
    await ctx["redis"].delete(keys.arq_queue, f"arq:job:{tasks.email_job_id(note.id)}")
    assert await job.status() == JobStatus.not_found

    later = utcnow() + timedelta(minutes=3)
    assert await tasks.requeue_unsent_emails(ctx, now=later) >= 1
    assert await job.status() == JobStatus.queued
    job_id = tasks.email_job_id(note.id)
    score = await ctx["redis"].zscore(keys.arq_queue, job_id)
    await tasks.requeue_unsent_emails(ctx, now=later)  # still queued: arq refuses the same id
    assert await ctx["redis"].zscore(keys.arq_queue, job_id) == score
    assert await tasks.send_notification_email(ctx, str(note.id)) == "sent"
    assert len(sink.to(fay.email)) == 1
