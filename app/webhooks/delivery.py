"""One HTTP attempt at a webhook: SSRF-checked, signed, time-boxed, its response capped."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from app.core.config import Settings
from app.models.base import utcnow
from app.webhooks import ssrf
from app.webhooks.signing import signature_header


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: int
    error: str | None = None
    response_excerpt: str | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait

    @property
    def success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def http_client(settings: Settings, **options: Any) -> httpx.AsyncClient:
    """The client for webhook calls: no redirects, no proxies from the environment."""
    timeout = httpx.Timeout(settings.webhook_timeout, connect=settings.webhook_connect_timeout)
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        headers={"User-Agent": "wghub-webhooks/1"},
        **options,
    )


class HttpClients:
    """A few pooled clients for the deliverer, each endpoint always on the same one.

    One client would do, but httpcore's pool looks at every one of its connections for every
    request it starts or ends (`_assign_requests_to_connections`), so with tens of endpoints
    in flight its CPU per request doubles (bench/README.md). Spread over a few pools, each
    stays small. They share one TLS context (loading the CA bundle once).
    """

    def __init__(self, settings: Settings, shards: int = 16) -> None:
        tls = httpx.create_ssl_context()
        self.clients = [http_client(settings, verify=tls) for _ in range(shards)]

    def for_endpoint(self, endpoint_id: uuid.UUID) -> httpx.AsyncClient:
        return self.clients[endpoint_id.int % len(self.clients)]

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


async def attempt(
    *,
    http: httpx.AsyncClient,
    settings: Settings,
    url: str,
    msg_id: str,
    body: str,
    signers: Sequence[Webhook],
    resolver: ssrf.Resolver = ssrf.system_resolver,
) -> Outcome:
    """POST `body` to `url` as Standard Webhooks message `msg_id`, signed by each of
    `signers` (the endpoint's active secrets); never raises."""
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        target = await ssrf.check(
            url,
            allowed_hosts=settings.webhook_allowed_hosts,
            allowed_ports=settings.webhook_allowed_ports,
            resolver=resolver,
        )
    except ssrf.UnsafeURL as exc:
        return Outcome(None, elapsed(), error=f"refused: {exc}")
    now = utcnow()
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature_header(msg_id, now, body, signers),
        "host": target.host_header,
    }
    extensions = {"sni_hostname": target.host} if url.startswith("https") else {}
    request = http.build_request(
        "POST", target.connect_url, content=body.encode(), headers=headers, extensions=extensions
    )
    try:
        async with asyncio.timeout(settings.webhook_timeout):
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                excerpt = await _read_capped(response, settings.webhook_max_response_bytes)
            finally:
                await response.aclose()
    except TimeoutError:
        return Outcome(None, elapsed(), error=f"timed out after {settings.webhook_timeout:g} s")
    except httpx.HTTPError as exc:
        return Outcome(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(
        response.status_code,
        elapsed(),
        error=None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}",
        response_excerpt=excerpt,
        retry_after=_retry_after(response.headers.get("retry-after"), now),
    )


async def _read_capped(response: httpx.Response, limit: int) -> str:
    """At most `limit` bytes of the body: an endless response must not hold us."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit].decode("utf-8", errors="replace")


def _retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None
