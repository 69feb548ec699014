"""Webhook endpoints and their deliveries.

Delivery order: an endpoint receives a group's events in `seq` order. A delivery waits while
an earlier one to the same endpoint is still pending (retrying); when that one succeeds or
is given up, the next is sent. A failing endpoint therefore holds its own queue, never the
others', and never receives event N+1 before event N.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from app.core.config import Settings
from app.core.crypto import decrypt, encrypt
from app.core.errors import NotFound, ValidationFailed
from app.core.events import record_event
from app.core.pagination import PageParams, paginate
from app.events.service import event_read
from app.groups.access import GroupContext
from app.models import (
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.models.base import utcnow
from app.webhooks import ssrf
from app.webhooks.delivery import Outcome
from app.webhooks.schemas import WebhookCreate, WebhookRead, WebhookUpdate
from app.webhooks.signing import new_secret


def webhook_read(endpoint: WebhookEndpoint) -> WebhookRead:
    return WebhookRead.model_validate(
        {**endpoint.model_dump(), "enabled": endpoint.disabled_at is None}
    )


def matches(patterns: list[str], event_type: str) -> bool:
    subject = event_type.split(".", 1)[0]
    return any(p in ("*", event_type, f"{subject}.*") for p in patterns)


async def _checked_url(settings: Settings, url: str, resolver: ssrf.Resolver) -> str:
    try:
        await ssrf.check(url, allowed_hosts=settings.webhook_allowed_hosts, resolver=resolver)
    except ssrf.UnsafeURL as exc:
        raise ValidationFailed(
            f"The webhook URL is not allowed: {exc}",
            errors=[{"loc": ["body", "url"], "msg": str(exc)}],
        ) from exc
    return url


async def create_endpoint(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    data: WebhookCreate,
    settings: Settings,
    resolver: ssrf.Resolver = ssrf.system_resolver,
) -> tuple[WebhookEndpoint, str]:
    url = await _checked_url(settings, str(data.url), resolver)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        group_id=ctx.group.id,
        url=url,
        event_types=data.event_types,
        description=data.description,
        secret_encrypted=encrypt(settings.secret_key, secret),
        created_by=ctx.user.id,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def list_endpoints(
    *, session: AsyncSession, ctx: GroupContext, page: PageParams
) -> tuple[list[WebhookEndpoint], str | None]:
    stmt = select(WebhookEndpoint).where(col(WebhookEndpoint.group_id) == ctx.group.id)
    order = (col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
    rows, cursor = await paginate(session, stmt, page, order)
    return rows, cursor


async def delete_endpoint(*, session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    await session.delete(endpoint)


async def update_endpoint(
    *,
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    data: WebhookUpdate,
    settings: Settings,
    resolver: ssrf.Resolver = ssrf.system_resolver,
) -> WebhookEndpoint:
    if data.url is not None:
        endpoint.url = await _checked_url(settings, str(data.url), resolver)
    if data.event_types is not None:
        endpoint.event_types = data.event_types
    if "description" in data.model_fields_set:
        endpoint.description = data.description
    if data.enabled is True and endpoint.disabled_at is not None:
        endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
    elif data.enabled is False and endpoint.disabled_at is None:
        endpoint.disabled_at, endpoint.disabled_reason = utcnow(), "disabled by an owner"
    await session.flush()
    return endpoint


async def rotate_secret(
    *, session: AsyncSession, endpoint: WebhookEndpoint, settings: Settings
) -> str:
    """A new secret; the old one keeps signing beside it for the overlap period."""
    secret = new_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = utcnow() + timedelta(
        seconds=settings.webhook_secret_overlap_seconds
    )
    endpoint.secret_encrypted = encrypt(settings.secret_key, secret)
    await session.flush()
    return secret


def signing_secrets(endpoint: WebhookEndpoint, settings: Settings) -> list[str]:
    active = [decrypt(settings.secret_key, endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires and expires > utcnow():
        active.append(decrypt(settings.secret_key, endpoint.previous_secret_encrypted))
    return active


def payload(event: Event) -> str:
    """The request body: `{type, timestamp, data: <event envelope>}` (API.md)."""
    envelope = event_read(event).model_dump(mode="json")
    return json.dumps(
        {"type": event.type, "timestamp": envelope["occurred_at"], "data": envelope},
        separators=(",", ":"),
    )


# --- dispatch: events → deliveries ---------------------------------------------------------


async def create_deliveries(session: AsyncSession, event: Event) -> list[uuid.UUID]:
    """One pending delivery per enabled endpoint of the group whose patterns match."""
    endpoints = (
        await session.execute(
            select(WebhookEndpoint).where(
                col(WebhookEndpoint.group_id) == event.group_id,
                col(WebhookEndpoint.disabled_at).is_(None),
            )
        )
    ).scalars()
    existing = set(
        (
            await session.execute(
                select(col(WebhookDelivery.endpoint_id)).where(
                    col(WebhookDelivery.event_id) == event.id
                )
            )
        ).scalars()
    )
    created = []
    for endpoint in endpoints:
        if endpoint.id in existing or not matches(endpoint.event_types, event.type):
            continue
        delivery = WebhookDelivery(
            event_id=event.id,
            endpoint_id=endpoint.id,
            group_id=event.group_id,
            seq=event.seq,
            next_attempt_at=utcnow(),
        )
        session.add(delivery)
        created.append(delivery.id)
    await session.flush()
    return created


# --- delivery state machine ------------------------------------------------------------------


def _due_and_first_in_line(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """A pending delivery whose time has come and that no earlier one of its endpoint precedes."""
    earlier = aliased(WebhookDelivery)
    return (
        col(WebhookDelivery.status) == DeliveryStatus.pending,
        or_(
            col(WebhookDelivery.next_attempt_at).is_(None),
            col(WebhookDelivery.next_attempt_at) <= now,
        ),
        ~exists().where(
            col(earlier.endpoint_id) == col(WebhookDelivery.endpoint_id),
            col(earlier.status) == DeliveryStatus.pending,
            col(earlier.seq) < col(WebhookDelivery.seq),
        ),
    )


async def claim(
    session: AsyncSession, delivery_id: uuid.UUID, lease_seconds: float
) -> WebhookDelivery | None:
    """Take the delivery for one attempt, or None when it is not due, not first in its
    endpoint's order, or taken by another worker (the lease is its `next_attempt_at`).

    One conditional UPDATE does it all: a concurrent claimer blocks on the row and then finds
    the lease in the future, so exactly one wins.
    """
    now = utcnow()
    stmt = (
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == delivery_id,
            *_due_and_first_in_line(now),
            # Workers dispatch events concurrently, so an earlier event of the group may not
            # have its deliveries yet; wait for it rather than overtake it.
            ~exists().where(
                col(Event.group_id) == col(WebhookDelivery.group_id),
                col(Event.seq) < col(WebhookDelivery.seq),
                col(Event.dispatched_at).is_(None),
            ),
        )
        .values(next_attempt_at=now + timedelta(seconds=lease_seconds))
        .returning(WebhookDelivery)
        .execution_options(synchronize_session=False)
    )
    delivery: WebhookDelivery | None = (await session.execute(stmt)).scalar_one_or_none()
    return delivery


# A receiver may ask us to wait (Retry-After), but not for longer than the longest step of the
# default schedule.
RETRY_AFTER_CAP_SECONDS = 10 * 3600


def next_delay(settings: Settings, attempts: int, outcome: Outcome) -> float | None:
    """Seconds until the next attempt after `attempts` failures; None: give up."""
    schedule = settings.webhook_retry_schedule
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * (1 + random.uniform(0, 0.1))  # jitter, not crypto
    if outcome.retry_after is not None:
        delay = max(delay, min(outcome.retry_after, RETRY_AFTER_CAP_SECONDS))
    return delay


async def record_outcome(
    *,
    session: AsyncSession,
    settings: Settings,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    outcome: Outcome,
) -> datetime | None:
    """Log the attempt and move the delivery on; returns when to try again (or None).

    `delivery` must be row-locked by the caller. If it is no longer pending, another worker
    took it over after this attempt's lease ran out (a stalled worker) and settled it: the
    attempt is logged, as it did reach out, but it changes nothing.
    """
    now = utcnow()
    settled = delivery.status != DeliveryStatus.pending
    delivery.attempts += 1
    delivery.last_attempt_at = now
    number = (
        1
        + (
            await session.execute(
                select(func.count())
                .select_from(DeliveryAttempt)
                .where(col(DeliveryAttempt.delivery_id) == delivery.id)
            )
        ).scalar_one()
    )
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            number=number,
            attempted_at=now,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            error=outcome.error,
            response_excerpt=outcome.response_excerpt,
        )
    )
    if settled:
        await session.flush()
        return None
    retry_at = None
    if outcome.success:
        delivery.status = DeliveryStatus.succeeded
        delivery.next_attempt_at = None
        endpoint.failing_since = None
    elif outcome.status_code == 410:
        await disable(session=session, endpoint=endpoint, reason="the receiver answered 410 Gone")
    else:
        endpoint.failing_since = endpoint.failing_since or now
        failing_for = (now - endpoint.failing_since).total_seconds()
        delay = next_delay(settings, delivery.attempts, outcome)
        if failing_for >= settings.webhook_disable_after_seconds:
            await disable(session=session, endpoint=endpoint, reason="failing for too long")
        elif delay is None:
            delivery.status = DeliveryStatus.failed
            delivery.next_attempt_at = None
        else:
            retry_at = now + timedelta(seconds=delay)
            delivery.next_attempt_at = retry_at
    await session.flush()
    return retry_at


async def disable(*, session: AsyncSession, endpoint: WebhookEndpoint, reason: str) -> None:
    """Stop an endpoint: its pending deliveries fail, and owners hear of it (an event)."""
    endpoint.disabled_at = utcnow()
    endpoint.disabled_reason = reason
    await session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.endpoint_id) == endpoint.id,
            col(WebhookDelivery.status) == DeliveryStatus.pending,
        )
        .values(status=DeliveryStatus.failed, next_attempt_at=None)
        .execution_options(synchronize_session="fetch")
    )
    await record_event(
        session=session,
        group_id=endpoint.group_id,
        type="webhook.disabled",
        actor_id=None,
        subject_type="webhook",
        subject_id=endpoint.id,
        data={"webhook": webhook_read(endpoint).model_dump(mode="json"), "reason": reason},
    )


async def first_due_after(
    session: AsyncSession, group_id: uuid.UUID, seq: int
) -> list[tuple[uuid.UUID, int]]:
    """(id, attempts) of each endpoint's first pending delivery in the group that is due now
    and belongs to an event after `seq`."""
    rows = await session.execute(
        select(col(WebhookDelivery.id), col(WebhookDelivery.attempts)).where(
            col(WebhookDelivery.group_id) == group_id,
            col(WebhookDelivery.seq) > seq,
            *_due_and_first_in_line(utcnow()),
        )
    )
    return [(row[0], row[1]) for row in rows]


async def next_in_line(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookDelivery | None:
    """The endpoint's first pending delivery (the one to send next)."""
    return (
        await session.execute(
            select(WebhookDelivery)
            .where(
                col(WebhookDelivery.endpoint_id) == endpoint_id,
                col(WebhookDelivery.status) == DeliveryStatus.pending,
            )
            .order_by(col(WebhookDelivery.seq))
            .limit(1)
        )
    ).scalar_one_or_none()


async def list_deliveries(
    *,
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    status: DeliveryStatus | None,
    params: PageParams,
) -> tuple[list[WebhookDelivery], str | None]:
    stmt = select(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint_id)
    if status is not None:
        stmt = stmt.where(col(WebhookDelivery.status) == status)
    order = (col(WebhookDelivery.created_at), col(WebhookDelivery.id))
    return await paginate(session, stmt, params, order)


async def get_delivery(
    *, session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> tuple[WebhookDelivery, list[DeliveryAttempt]]:
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise NotFound("Delivery not found")
    attempts = (
        await session.execute(
            select(DeliveryAttempt)
            .where(col(DeliveryAttempt.delivery_id) == delivery_id)
            .order_by(col(DeliveryAttempt.number))
        )
    ).scalars()
    return delivery, list(attempts)


async def redeliver(*, session: AsyncSession, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send again now (same `webhook-id`), with a fresh retry schedule."""
    delivery.status = DeliveryStatus.pending
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    await session.flush()
    return delivery
