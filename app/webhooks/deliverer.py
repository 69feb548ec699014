"""The deliverer: a long-lived task in every worker that sends the webhook deliveries the
database says are due, many at a time.

One loop, three steps: record the outcomes of the attempts that ended since the last pass (one
transaction for all of them), claim as many due deliveries as there is room for (one
statement), and start sending them: one task per endpoint, which sends that endpoint's claimed
run — up to `webhook_run_size` of its line — in order, each request once the last one's
outcome is committed, and stops at the first failure (the rest is given back; it waits behind
the failed one). Then the loop waits until an
attempt ends, a wake-up comes (dispatch made deliveries, an owner asked for a redelivery), a
retry falls due, or the poll interval passes. Under load the attempts that end while a pass
runs make the next batch, so the database work per delivery shrinks as the rate grows — and
a busy endpoint is not held to one claim-send-record round per delivery.

Runs go out concurrently on pooled HTTP clients, one request per endpoint at a time, at most
`webhook_max_in_flight` deliveries held; the queue (app/webhooks/queue.py) gives an endpoint's
run to one deliverer, which keeps its order. No transaction is open during an HTTP call. A
worker killed mid-run loses nothing: the leases run out and any deliverer claims again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import logs, tracing
from app.core.config import Settings
from app.core.crypto import keyring
from app.core.db import Tx, autocommit
from app.core.logredact import redact
from app.core.responses import dumps
from app.core.wake import listen_for_wakeups, publish_wake
from app.events.queries import envelope
from app.models.base import utcnow
from app.realtime.keys import RedisKeys
from app.realtime.relay import publish_wake as wake_relay
from app.webhooks import queue, ssrf
from app.webhooks.delivery import HttpClients, attempt
from app.webhooks.metrics import DeliveryMetrics
from app.webhooks.signing import SignerCache

log = logging.getLogger(__name__)

# Event bodies kept ready: an event usually goes to several endpoints within moments.
PAYLOAD_CACHE_SIZE = 2_000
# How often the due-deliveries gauge is refreshed (a count query).
DUE_GAUGE_SECONDS = 5.0


async def wake_deliverers(redis: Redis, prefix: str) -> None:
    """Tell every worker's deliverer that deliveries are due now (best effort: they poll)."""
    await publish_wake(redis, RedisKeys(prefix).webhooks_wake)


def payload(event: Any) -> str:
    """The request body: `{type, timestamp, data: <event envelope>}` (API.md)."""
    body = {"type": event.type, "timestamp": event.occurred_at, "data": envelope(event)}
    return dumps(body).decode()


class Deliverer:
    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        redis: Redis,
        http: HttpClients,
        resolver: ssrf.Resolver = ssrf.system_resolver,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.redis = redis
        self.http = http
        self.resolver = resolver
        self.metrics = metrics or DeliveryMetrics()
        self.signers = SignerCache(keyring(settings))
        # Claimed deliveries not finished yet (being sent, or next in their run).
        self.in_flight: dict[uuid.UUID, queue.Claim] = {}
        self.runs: dict[uuid.UUID, asyncio.Task[None]] = {}  # endpoint → the task sending to it
        self._claim_due = True  # whether the next pass looks for due deliveries
        self.finished: list[queue.Finished] = []
        self.unsent: list[queue.Claim] = []  # the rest of runs cut short, to give back
        # Runs waiting for an outcome to be committed before their next request.
        self._recorded: dict[uuid.UUID, asyncio.Future[None]] = {}
        self._payloads: OrderedDict[uuid.UUID, str] = OrderedDict()
        self._wake = asyncio.Event()
        # Set while the loop waits for work: all that was due has been claimed.
        self.idle = asyncio.Event()
        self._next_retry: datetime | None = None
        self._due_counted_at = 0.0
        self.metrics.in_flight.set_function(lambda: len(self.in_flight))

    def wake(self, endpoint_ids: Collection[uuid.UUID] | None = None) -> None:
        """Look for due deliveries now. `endpoint_ids`: the endpoints that may have some (a
        dispatch tells); if each has an attempt in flight here, there is nothing to look for:
        an endpoint's next delivery is claimed right after its attempt is recorded."""
        if endpoint_ids is None or not self.runs.keys() >= set(endpoint_ids):
            self._claim_due = True
        self._wake.set()

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Forever: record, claim, send, wait. Database trouble pauses it; it then goes on
        where the database says it stands."""
        channel = RedisKeys(self.settings.redis_prefix).webhooks_wake
        listener = asyncio.create_task(
            listen_for_wakeups(self.settings.effective_redis_url, channel, self.wake),
            name="webhook-wake-listener",
        )
        backoff = 0.5
        try:
            while True:
                try:
                    await self.step()
                    backoff = 0.5
                except Exception:
                    log.exception("deliverer: a pass failed; trying again in %.1f s", backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                await self._wait()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await self._stop()

    async def step(self) -> int:
        """One pass: record what ended, claim and start what is due; how many it started."""
        if self.finished or self.unsent:
            await self._record()
            self._claim_due = True  # the endpoints whose attempt ended may have a next one
        await self._count_due()
        room = self.settings.webhook_max_in_flight - len(self.in_flight)
        if room <= 0 or not self._claim_due:
            return 0
        self._claim_due = False
        run_size = self.settings.webhook_run_size
        async with autocommit(self.engine) as conn:  # the claim is one statement
            claims = await queue.claim(
                conn,
                limit=room,
                run=run_size,
                # Per attempt: the r-th of a run is leased for r times this.
                lease_seconds=self.settings.webhook_timeout + 5,
                now=utcnow(),
            )
        by_endpoint: dict[uuid.UUID, list[queue.Claim]] = {}
        for c in claims:  # an endpoint's claims come together, in order
            by_endpoint.setdefault(c.endpoint_id, []).append(c)
            self.in_flight[c.delivery_id] = c
        for endpoint_id, run in by_endpoint.items():
            task = asyncio.create_task(self._send_run(run), name="webhook-run")
            self.runs[endpoint_id] = task
            task.add_done_callback(functools.partial(self._run_ended, run))
        return len(claims)

    async def _wait(self) -> None:
        timeout = self.settings.webhook_poll_seconds
        if self._next_retry is not None:
            until_retry = (self._next_retry - utcnow()).total_seconds()
            timeout = max(0.0, min(timeout, until_retry))
        if not self._wake.is_set():
            self.idle.set()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                self._claim_due = True  # the poll, or a retry this deliverer scheduled
            self.idle.clear()
        if self.finished and self.in_flight and not self._recorded:
            # Attempts started together end together: a moment's wait records them in one
            # batch instead of a statement per attempt. Not while a run waits for its record
            # to go on: there, the wait would be the endpoint's (what ends meanwhile makes
            # the next batch anyway).
            await asyncio.sleep(self.settings.webhook_batch_interval_seconds)
        self._wake.clear()
        if self._next_retry is not None and self._next_retry <= utcnow():
            self._next_retry = None

    # --- attempts ------------------------------------------------------------------------

    async def _send_run(self, run: list[queue.Claim]) -> None:
        """An endpoint's run, in order; a failure ends it (what follows waits behind it).

        Each next request waits until the last one's outcome is committed (recorded with
        whatever else ended meanwhile): if this worker dies, an endpoint has at most one
        request whose outcome was lost, so it receives at most one delivery twice."""
        for i, c in enumerate(run):
            with logs.bound(delivery_id=c.delivery_id, event_id=c.event.id):
                sent = await self._attempt(c)
            if not sent:
                self.unsent += run[i + 1 :]
                for rest in run[i + 1 :]:
                    self.in_flight.pop(rest.delivery_id, None)
                return
            if i + 1 < len(run):
                recorded = asyncio.get_running_loop().create_future()
                self._recorded[c.delivery_id] = recorded
                await recorded

    async def _attempt(self, c: queue.Claim) -> bool:
        now = utcnow()
        signers = self.signers.signers(
            c.endpoint_id,
            c.secret_encrypted,
            c.previous_secret_encrypted,
            c.previous_secret_expires_at,
            now,
        )
        attributes = {"wg.delivery_id": str(c.delivery_id), "wg.event_id": str(c.event.id)}
        # In the trace of the request that wrote the event: the receiver's `traceparent`
        # (sent by the httpx instrumentation) names that trace.
        with tracing.span("webhook delivery", parent=c.event.traceparent, attributes=attributes):
            outcome = await attempt(
                http=self.http.for_endpoint(c.endpoint_id),
                settings=self.settings,
                url=c.url,
                msg_id=str(c.delivery_id),
                body=self._payload(c.event),
                signers=signers,
                resolver=self.resolver,
            )
        if not outcome.success:
            # The receiver's failure, once per attempt (retries are minutes apart); its
            # error may quote the URL, whose credentials stay out of the logs.
            log.info("webhook attempt failed: %s", redact(outcome.error or "unknown error"))
        self.finished.append(queue.Finished(c, outcome, utcnow()))
        self.in_flight.pop(c.delivery_id, None)
        self._wake.set()  # record it soon
        return outcome.success

    def _run_ended(self, run: list[queue.Claim], task: asyncio.Task[None]) -> None:
        endpoint_id = run[0].endpoint_id
        if self.runs.get(endpoint_id) is task:
            del self.runs[endpoint_id]
        for c in run:
            self.in_flight.pop(c.delivery_id, None)
        if not task.cancelled() and task.exception() is not None:
            # A bug, not a receiver's failure (`attempt` never raises): the leases run out
            # and the deliveries are claimed again.
            log.error("deliverer: a run crashed", exc_info=task.exception())
        self._wake.set()

    def _payload(self, event: Any) -> str:
        body = self._payloads.get(event.id)
        if body is None:
            body = self._payloads[event.id] = payload(event)
            if len(self._payloads) > PAYLOAD_CACHE_SIZE:
                self._payloads.popitem(last=False)
        return body

    # --- outcomes ------------------------------------------------------------------------

    async def _record(self) -> None:
        unsent = list(self.unsent)  # given back once the failures that cut them are recorded
        if self.finished:
            await self._record_finished()
        if unsent:
            async with autocommit(self.engine) as conn:
                await queue.release(conn, unsent, utcnow())
            del self.unsent[: len(unsent)]

    async def _record_finished(self) -> None:
        # Each delivery once per batch; a second outcome of one (possible only after a lease
        # ran out while the database was away) goes in the next batch.
        batch: list[queue.Finished] = []
        seen: set[uuid.UUID] = set()
        for f in self.finished:
            if f.claim.delivery_id in seen:
                break
            seen.add(f.claim.delivery_id)
            batch.append(f)
        if self.engine.dialect.name == "postgresql" and all(f.outcome.success for f in batch):
            async with autocommit(self.engine) as conn:
                recorded = await queue.record_successes(conn, batch, utcnow())
        else:
            async with self.engine.begin() as conn:
                tx = Tx(conn, owned=False)
                recorded = await queue.record(tx, self.settings, batch, utcnow())
        # Committed: only now are these outcomes safe to forget.
        del self.finished[: len(batch)]
        for f in batch:
            waiting = self._recorded.pop(f.claim.delivery_id, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(None)
        for result, count in recorded.results.items():
            self.metrics.deliveries.labels(result).inc(count)
        for f in batch:
            if f.outcome.success:
                self.metrics.latency.observe((f.at - f.claim.event.occurred_at).total_seconds())
        if recorded.retry_at:
            first = min(recorded.retry_at)
            self._next_retry = min(first, self._next_retry or first)
        if recorded.events_written:  # webhook.disabled: let the relay publish it now
            await wake_relay(self.redis, self.settings.redis_prefix)

    async def _count_due(self) -> None:
        now = time.monotonic()
        if now - self._due_counted_at < DUE_GAUGE_SECONDS:
            return
        self._due_counted_at = now
        async with autocommit(self.engine) as conn:
            self.metrics.due.set(await queue.due_count(conn, utcnow()))

    async def _stop(self) -> None:
        """Stop the attempts in flight, record what ended, and give back the claims whose
        attempt did not (due again at once instead of after their lease). Time-boxed and best
        effort: whatever is left over, the leases settle."""
        held = [*self.in_flight.values(), *self.unsent]
        tasks = list(self.runs.values())
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await asyncio.gather(*tasks, return_exceptions=True)
                ended = {f.claim.delivery_id for f in self.finished}
                while self.finished:
                    await self._record_finished()
                async with self.engine.begin() as conn:
                    unsent = [c for c in held if c.delivery_id not in ended]
                    await queue.release(conn, unsent, utcnow())
