"""Webhook endpoints, and their deliveries as owners see and steer them.

How deliveries are queued, ordered, claimed and retried: app/webhooks/queue.py.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.config import Settings
from app.core.crypto import keyring
from app.core.errors import NotFound, ValidationFailed
from app.core.events import record_event
from app.core.pagination import PageParams, paginate
from app.groups.access import GroupContext
from app.models import (
    DeliveryAttempt,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.models.base import utcnow
from app.webhooks import ssrf
from app.webhooks.schemas import WebhookCreate, WebhookRead, WebhookUpdate
from app.webhooks.signing import new_secret


def webhook_read(endpoint: WebhookEndpoint) -> WebhookRead:
    return WebhookRead.model_validate(
        {**endpoint.model_dump(), "enabled": endpoint.disabled_at is None}
    )


def matches(patterns: list[str], event_type: str) -> bool:
    """An endpoint's `event_types` patterns: `*`, an exact type, or `subject.*`."""
    subject = event_type.split(".", 1)[0]
    return any(p in ("*", event_type, f"{subject}.*") for p in patterns)


async def _checked_url(settings: Settings, url: str, resolver: ssrf.Resolver) -> str:
    try:
        await ssrf.check(
            url,
            allowed_hosts=settings.webhook_allowed_hosts,
            allowed_ports=settings.webhook_allowed_ports,
            resolver=resolver,
        )
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
        secret_encrypted=keyring(settings).encrypt(secret),
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
    endpoint.secret_encrypted = keyring(settings).encrypt(secret)
    await session.flush()
    return secret


def signing_secrets(endpoint: WebhookEndpoint, settings: Settings) -> list[str]:
    keys = keyring(settings)
    active = [keys.decrypt(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires and expires > utcnow():
        active.append(keys.decrypt(endpoint.previous_secret_encrypted))
    return active


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
    """Send again now (same `webhook-id`), with a fresh retry schedule. An attempt running
    now loses its lease: its outcome is logged but no longer moves the delivery on."""
    delivery.status = DeliveryStatus.pending
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.lease_token = None
    await session.flush()
    return delivery


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
        .values(status=DeliveryStatus.failed, next_attempt_at=None, lease_token=None)
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
