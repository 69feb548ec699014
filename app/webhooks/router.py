from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.core.config import Settings
from app.core.db import SessionDep, after_commit, commit_early
from app.core.deps import IfMatch, SettingsDep, check_if_match, set_etag
from app.core.errors import RateLimited
from app.core.pagination import Page, PageParams, page_params
from app.groups.access import GroupContext, GroupMember, Loaded, ObjectKind, Owner, object_access
from app.models import DeliveryStatus, Role, WebhookEndpoint
from app.models.base import table_of, utcnow
from app.webhooks import service, ssrf
from app.webhooks.deliverer import wake_deliverers
from app.webhooks.delivery import attempt
from app.webhooks.schemas import (
    AttemptRead,
    DeliveryDetail,
    DeliveryRead,
    TestResult,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)
from app.webhooks.signing import signers_of

router = APIRouter(tags=["webhooks"])
Paging = Annotated[PageParams, Depends(page_params)]

# Webhooks are the owners' business: others get 404 in private groups, 403 in public ones.
WEBHOOK = ObjectKind(table_of(WebhookEndpoint), "Webhook", WebhookEndpoint)
WebhookFor = object_access(WEBHOOK, "webhook_id")
WebhookReader = Annotated[Loaded[WebhookEndpoint], WebhookFor(Role.owner, write=False)]
WebhookWriter = Annotated[Loaded[WebhookEndpoint], WebhookFor(Role.owner)]


def _resolver(request: Request) -> ssrf.Resolver:
    """DNS for the SSRF guard; tests give the app a resolver of their own (no DNS here)."""
    resolver: ssrf.Resolver = getattr(request.app.state, "resolver", ssrf.system_resolver)
    return resolver


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret.model_validate(
        {**service.webhook_read(endpoint).model_dump(), "secret": secret}
    )


@router.post(
    "/groups/{group_id}/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookWithSecret,
)
async def create_webhook(
    data: WebhookCreate,
    request: Request,
    ctx: Owner,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> WebhookWithSecret:
    """Register an endpoint (owners). The signing secret is in this response only.
    The URL must reach a public address (SSRF guard): 422 otherwise."""
    endpoint, secret = await service.create_endpoint(
        session=session, ctx=ctx, data=data, settings=settings, resolver=_resolver(request)
    )
    set_etag(response, endpoint.version)
    return _with_secret(endpoint, secret)


@router.get("/groups/{group_id}/webhooks", response_model=Page[WebhookRead])
async def list_webhooks(
    ctx: Annotated[GroupContext, GroupMember(Role.owner, write=False)],
    session: SessionDep,
    page: Paging,
) -> Page[WebhookRead]:
    rows, cursor = await service.list_endpoints(session=session, ctx=ctx, page=page)
    return Page(items=[service.webhook_read(e) for e in rows], next_cursor=cursor)


@router.get("/webhooks/{webhook_id}", response_model=WebhookRead)
async def get_webhook(webhook: WebhookReader, response: Response) -> WebhookRead:
    set_etag(response, webhook.obj.version)
    return service.webhook_read(webhook.obj)


@router.patch("/webhooks/{webhook_id}", response_model=WebhookRead)
async def update_webhook(
    webhook: WebhookWriter,
    data: WebhookUpdate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    if_match: IfMatch,
    response: Response,
) -> WebhookRead:
    """Change the URL, event types or description; `enabled: true` re-enables it."""
    check_if_match(if_match, webhook.obj.version)
    endpoint = await service.update_endpoint(
        session=session,
        endpoint=webhook.obj,
        data=data,
        settings=settings,
        resolver=_resolver(request),
    )
    set_etag(response, endpoint.version)
    return service.webhook_read(endpoint)


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(webhook: WebhookWriter, session: SessionDep) -> None:
    await service.delete_endpoint(session=session, endpoint=webhook.obj)


@router.post("/webhooks/{webhook_id}/rotate-secret", response_model=WebhookWithSecret)
async def rotate_secret(
    webhook: WebhookWriter, session: SessionDep, settings: SettingsDep, response: Response
) -> WebhookWithSecret:
    """A new signing secret (shown once). The previous one keeps signing beside it for 24 h,
    so receivers can switch without losing messages."""
    secret = await service.rotate_secret(session=session, endpoint=webhook.obj, settings=settings)
    set_etag(response, webhook.obj.version)  # the rotation is flushed: its new version
    return _with_secret(webhook.obj, secret)


@router.post("/webhooks/{webhook_id}/test", response_model=TestResult)
async def test_webhook(
    webhook: WebhookReader, request: Request, settings: SettingsDep
) -> TestResult:
    """Send a signed `webhook.test` message now and report how the receiver answered.
    A user may have `WG_WEBHOOK_TESTS_PER_USER` of these waiting on receivers at once (per
    API process); more get 429."""
    endpoint = webhook.obj
    signers = signers_of(service.signing_secrets(endpoint, settings))
    await commit_early(request)  # no transaction open while the receiver is called
    with _test_slot(request, webhook.ctx.user.id, settings.webhook_tests_per_user):
        return await _send_test(request, settings, endpoint, signers)


@contextlib.contextmanager
def _test_slot(request: Request, user_id: uuid.UUID, limit: int) -> Iterator[None]:
    """One of the user's slots for test calls, or 429: a receiver that never answers ties up
    a request for the whole webhook timeout, and one user must not tie up many."""
    busy: Counter[uuid.UUID] = request.app.state.webhook_tests
    if busy[user_id] >= limit:
        raise RateLimited(
            f"At most {limit} webhook tests at a time; wait for one to finish",
            headers={"Retry-After": "5"},
        )
    busy[user_id] += 1
    try:
        yield
    finally:
        busy[user_id] -= 1
        if not busy[user_id]:
            del busy[user_id]


async def _send_test(
    request: Request, settings: Settings, endpoint: WebhookEndpoint, signers: Any
) -> TestResult:
    msg_id = f"test_{uuid.uuid4().hex}"
    now = utcnow().isoformat().replace("+00:00", "Z")
    message = {"type": "webhook.test", "timestamp": now, "data": {"webhook_id": str(endpoint.id)}}
    body = json.dumps(message, separators=(",", ":"))
    outcome = await attempt(
        http=request.app.state.webhook_http,
        settings=settings,
        url=endpoint.url,
        msg_id=msg_id,
        body=body,
        signers=signers,
        resolver=_resolver(request),
    )
    return TestResult(
        success=outcome.success,
        status_code=outcome.status_code,
        duration_ms=outcome.duration_ms,
        error=outcome.error,
        response_excerpt=outcome.response_excerpt,
    )


@router.get("/webhooks/{webhook_id}/deliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    webhook: WebhookReader,
    session: SessionDep,
    page: Paging,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> Page[DeliveryRead]:
    rows, cursor = await service.list_deliveries(
        session=session, endpoint_id=webhook.obj.id, status=status_, params=page
    )
    return Page(items=[DeliveryRead.model_validate(d) for d in rows], next_cursor=cursor)


@router.get("/webhooks/{webhook_id}/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(
    webhook: WebhookReader, delivery_id: uuid.UUID, session: SessionDep
) -> DeliveryDetail:
    """A delivery with its attempt log: time, status code, duration, response excerpt."""
    delivery, attempts = await service.get_delivery(
        session=session, endpoint_id=webhook.obj.id, delivery_id=delivery_id
    )
    return DeliveryDetail.model_validate(
        {
            **DeliveryRead.model_validate(delivery).model_dump(),
            "attempt_log": [AttemptRead.model_validate(a) for a in attempts],
        }
    )


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
)
async def redeliver(
    webhook: WebhookWriter,
    delivery_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> DeliveryRead:
    """Send the delivery again (same `webhook-id`), with a fresh retry schedule."""
    delivery, _ = await service.get_delivery(
        session=session, endpoint_id=webhook.obj.id, delivery_id=delivery_id
    )
    delivery = await service.redeliver(session=session, delivery=delivery)
    redis, breaker = request.app.state.redis, request.app.state.redis_breaker
    after_commit(
        session, lambda: breaker.attempt(lambda: wake_deliverers(redis, settings.redis_prefix))
    )
    return DeliveryRead.model_validate(delivery)
