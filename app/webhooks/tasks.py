"""Worker side of webhooks: the dispatch handler, the delivery job and its sweep."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.config import Settings
from app.core.db import SessionFactory
from app.events.dispatch import DispatchContext
from app.models import DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
from app.models.base import utcnow
from app.realtime.keys import RedisKeys
from app.realtime.relay import publish_wake
from app.webhooks import service
from app.webhooks.delivery import attempt
from app.webhooks.ssrf import system_resolver

JOB = "deliver_webhook"
# How long one delivery job may keep following an endpoint's queue (also its arq timeout).
CHAIN_SECONDS = 120.0


async def enqueue_delivery(
    jobs: ArqRedis,
    settings: Settings,
    delivery_id: uuid.UUID,
    attempts: int,
    *,
    at: datetime | None = None,
    tag: str = "",
) -> None:
    """One job per (delivery, attempt): enqueuing the same attempt twice is a no-op."""
    await jobs.enqueue_job(
        JOB,
        str(delivery_id),
        _job_id=f"whd:{delivery_id}:{attempts}{tag}",
        _queue_name=RedisKeys(settings.redis_prefix).arq_queue,
        _defer_until=at,
    )


async def handle_event(session: AsyncSession, event: Event, ctx: DispatchContext) -> None:
    """Dispatcher handler: the event's deliveries, sent right after the commit.

    After the commit it also restarts deliveries of later events that `claim` held back
    while this event was not dispatched yet (workers dispatch a group's events concurrently).
    Looking only after our commit closes the race: a later delivery committed after this
    look is claimed after our commit and so is not held back.
    """
    created = await service.create_deliveries(session, event)
    jobs, factory = ctx.jobs, ctx.session_factory
    if jobs is None:
        return  # without a job pool the sweep picks them up

    async def send() -> None:
        for delivery_id in created:
            await enqueue_delivery(jobs, ctx.settings, delivery_id, 0)
        if factory is None:
            return
        async with factory() as later_session:
            waiting = await service.first_due_after(later_session, event.group_id, event.seq)
        for delivery_id, attempts in waiting:
            # A tag of its own: the held-back job already ran under the plain id.
            await enqueue_delivery(
                jobs, ctx.settings, delivery_id, attempts, tag=f":after{event.seq}"
            )

    ctx.after_commit.append(send)


async def deliver_webhook(ctx: dict[str, Any], delivery_id: str) -> str:
    """Deliver, then keep going down the endpoint's queue while it succeeds (arq job).

    Following the queue in the same job keeps an endpoint's events flowing back to back
    instead of one job (and one queue poll) per event; the chain stops within its time
    budget and hands over to a new job. Safe to run twice: every attempt is claimed first.
    """
    settings: Settings = ctx["settings"]
    budget = CHAIN_SECONDS - settings.webhook_timeout
    started = time.monotonic()
    current: uuid.UUID | None = uuid.UUID(delivery_id)
    outcome = "not due"
    while current is not None:
        outcome, current = await _deliver_one(ctx, current)
        if current is not None and time.monotonic() - started > budget:
            await enqueue_delivery(ctx["redis"], settings, current, 0, tag=":chain")
            break
    return outcome


async def _deliver_one(ctx: dict[str, Any], delivery_id: uuid.UUID) -> tuple[str, uuid.UUID | None]:
    """One attempt; returns what happened and the endpoint's next delivery, if it is due now."""
    settings: Settings = ctx["settings"]
    factory: SessionFactory = ctx["session_factory"]
    lease = settings.webhook_timeout + 5
    async with factory() as session, session.begin():
        delivery = await service.claim(session, delivery_id, lease)
        if delivery is None:
            return "not due", None
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
        event = await session.get(Event, delivery.event_id)
        if endpoint is None or event is None or endpoint.disabled_at is not None:
            delivery.status = DeliveryStatus.failed
            delivery.next_attempt_at = None
            return "endpoint disabled", None
        url, body = endpoint.url, service.payload(event)
        secrets = service.signing_secrets(endpoint, settings)
    outcome = await attempt(
        http=ctx["webhook_http"],
        settings=settings,
        url=url,
        msg_id=str(delivery_id),
        body=body,
        secrets=secrets,
        resolver=ctx.get("resolver", system_resolver),
    )
    async with factory() as session, session.begin():
        # Locked: a worker that took the delivery over after our lease ran out may be
        # recording its own attempt right now (record_outcome says what then).
        delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
        if delivery is None or endpoint is None:
            return "gone", None
        retry_at = await service.record_outcome(
            session=session, settings=settings, delivery=delivery, endpoint=endpoint,
            outcome=outcome,
        )  # fmt: skip
        attempts = delivery.attempts
        follow = None if retry_at else await service.next_in_line(session, endpoint.id)
        wrote_events = bool(session.info.get("events_written"))
    if retry_at is not None:
        await enqueue_delivery(ctx["redis"], settings, delivery_id, attempts, at=retry_at)
    if wrote_events:  # webhook.disabled: let the relay publish it now
        await publish_wake(ctx["wg_redis"], settings.redis_prefix)
    result = "delivered" if outcome.success else f"failed: {outcome.error}"
    return result, follow.id if follow is not None else None


async def sweep_deliveries(
    session_factory: SessionFactory, jobs: ArqRedis, settings: Settings
) -> int:
    """Re-enqueue each endpoint's first pending delivery whose time has come but whose job
    was lost (a flushed Redis, a killed worker): the database says what is still owed."""
    now = utcnow()
    async with session_factory() as session:
        due = (
            await session.execute(
                select(WebhookDelivery).where(
                    col(WebhookDelivery.status) == DeliveryStatus.pending,
                    col(WebhookDelivery.next_attempt_at) < now,
                )
            )
        ).scalars()
        firsts: dict[uuid.UUID, WebhookDelivery] = {}
        for d in due:
            if d.endpoint_id not in firsts or d.seq < firsts[d.endpoint_id].seq:
                firsts[d.endpoint_id] = d
    for d in firsts.values():
        # A tag of its own: the lost job may still hold the plain id in the queue.
        await enqueue_delivery(jobs, settings, d.id, d.attempts, tag=f":s{int(now.timestamp())}")
    return len(firsts)
