"""The webhook delivery queue, kept in the database (SQLAlchemy Core, in batches).

The rows of `webhook_deliveries` are the queue. Dispatch puts in one row per (event, matching
endpoint) for a whole batch of events (`enqueue`); deliverers take due rows many at a time
(`claim`) and move each on by its attempt's outcome (`record`), a batch per transaction.
Nothing about a delivery lives only in Redis or in a worker's memory: an attempt that never
reports back (its worker killed) leaves its row leased, and the row is claimed again once the
lease runs out.

Order: an endpoint receives a group's events in seq order. A claim takes an endpoint's *run*:
its pending deliveries from the head (the lowest seq) on, up to `run` of them, each due and
none waiting behind an undispatched earlier event of the group (workers dispatch concurrently,
so event N+1's deliveries may exist before N's). One deliverer sends a run in order and stops
at the first failure; the rest waits behind the failed one. So an endpoint has at most one
attempt in flight, never receives event N+1 before event N, and a failing endpoint holds up
its own line, never another's.

Leases: a claim sets `next_attempt_at` to when the lease runs out (later for each further
delivery of a run) and `lease_token` to the claim's token. Only the holder of the current
lease moves the delivery on; an attempt whose lease was taken over (its worker stalled) is
logged, and changes nothing.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.config import Settings
from app.core.db import Tx
from app.events.queries import ENVELOPE_COLUMNS
from app.models import DeliveryAttempt, DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
from app.models.base import new_id, table_of
from app.webhooks.delivery import Outcome
from app.webhooks.service import disable, matches

deliveries = table_of(WebhookDelivery)
endpoints = table_of(WebhookEndpoint)
events = table_of(Event)
attempts = table_of(DeliveryAttempt)

PENDING = DeliveryStatus.pending


# --- in: dispatch --------------------------------------------------------------------------

_SUBSCRIBED = select(endpoints.c.id, endpoints.c.group_id, endpoints.c.event_types).where(
    endpoints.c.group_id.in_(bindparam("group_ids", expanding=True)),
    endpoints.c.disabled_at.is_(None),
)
_ENQUEUE_VALUES = {
    "id": bindparam("q_id"),
    "event_id": bindparam("q_event"),
    "endpoint_id": bindparam("q_endpoint"),
    "group_id": bindparam("q_group"),
    "seq": bindparam("q_seq"),
    "status": PENDING,
    "attempts": 0,
    "next_attempt_at": bindparam("q_now"),
    "created_at": bindparam("q_now"),
}
# Idempotent: dispatching an event twice cannot make a second delivery to an endpoint.
_ENQUEUE = {
    "postgresql": postgresql.insert(deliveries)
    .values(_ENQUEUE_VALUES)
    .on_conflict_do_nothing(index_elements=["event_id", "endpoint_id"]),
    "sqlite": sqlite.insert(deliveries)
    .values(_ENQUEUE_VALUES)
    .on_conflict_do_nothing(index_elements=["event_id", "endpoint_id"]),
}


async def enqueue(
    conn: AsyncConnection, batch: Sequence[Event], now: datetime
) -> tuple[int, set[uuid.UUID]]:
    """One pending delivery per (event, enabled endpoint of its group whose patterns match),
    for a batch of events in two statements. Returns how many it made (at most; one that
    existed already is kept), and the enabled endpoints of the batch's groups."""
    group_ids = list({e.group_id for e in batch})
    subscribed: dict[uuid.UUID, list[tuple[uuid.UUID, list[str]]]] = {}
    for endpoint_id, group_id, patterns in await conn.execute(
        _SUBSCRIBED, {"group_ids": group_ids}
    ):
        subscribed.setdefault(group_id, []).append((endpoint_id, patterns))
    rows = [
        {
            "q_id": new_id(),
            "q_event": event.id,
            "q_endpoint": endpoint_id,
            "q_group": event.group_id,
            "q_seq": event.seq,
            "q_now": now,
        }
        for event in batch
        for endpoint_id, patterns in subscribed.get(event.group_id, ())
        if matches(patterns, event.type)
    ]
    if rows:
        await conn.execute(_ENQUEUE[conn.dialect.name], rows)
    return len(rows), {e for endpoints in subscribed.values() for e, _ in endpoints}


# --- out: claims ---------------------------------------------------------------------------

_line = deliveries.alias("line")
_head = deliveries.alias("head")
# `'pending'` written into the statement, not bound: prepared statements are planned for any
# parameter value, and only a literal lets the planner use the partial index of the line.
_PENDING_LITERAL = literal(PENDING.value, String, literal_execute=True)


def _is_due(delivery: Any) -> Any:
    return or_(delivery.c.next_attempt_at.is_(None), delivery.c.next_attempt_at <= bindparam("now"))


def _runs(line: Any, from_: Any, *where: Any) -> Any:
    """Each endpoint's run: the first pending deliveries of its line, numbered in seq order
    (`rank`), with `ready` = 1 while every one up to it may be sent now. A run is sent in
    order by one task, so an endpoint's deliveries go out one after another without a claim
    between them.

    A delivery may be sent when it is due, or when it is held by the same lease as its
    endpoint's head and that lease has run out: the run of a deliverer that died is taken over
    whole, not one delivery per lease period."""
    window = {"partition_by": line.c.endpoint_id, "order_by": line.c.seq}
    due = case((_is_due(line), 1), else_=0)
    lined = (
        select(
            line.c.id,
            line.c.endpoint_id,
            line.c.seq,
            line.c.lease_token,
            due.label("due"),
            func.first_value(due).over(**window).label("head_due"),
            func.first_value(line.c.lease_token).over(**window).label("head_token"),
            func.row_number().over(**window).label("rank"),
        )
        .select_from(from_)
        .where(endpoints.c.disabled_at.is_(None), *where)
        .subquery("lined")
    )
    free = or_(
        lined.c.due == 1, and_(lined.c.head_due == 1, lined.c.lease_token == lined.c.head_token)
    )
    return (
        select(
            lined.c.id,
            lined.c.rank,
            lined.c.head_due,
            lined.c.head_token,
            func.min(case((free, 1), else_=0))
            .over(partition_by=lined.c.endpoint_id, order_by=lined.c.seq)
            .label("ready"),
        )
        .cte("runs")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )


# PostgreSQL: per enabled endpoint, the first `run` rows of its line (a probe of the partial
# index ix_webhook_deliveries_line each, LATERAL). MATERIALIZED keeps the planner from turning
# the claim around into a scan of every pending delivery, which a long backlog made cost
# 30-150 ms instead of 1 ms (bench/README.md).
_FIRST = (
    select(
        _line.c.id,
        _line.c.endpoint_id,
        _line.c.seq,
        _line.c.next_attempt_at,
        _line.c.lease_token,
    )
    .where(_line.c.endpoint_id == endpoints.c.id, _line.c.status == _PENDING_LITERAL)
    .order_by(_line.c.seq)
    .limit(bindparam("run"))
    .lateral("first")
)
_RUNS = {
    "postgresql": _runs(_FIRST, endpoints.join(_FIRST, true())),
    # SQLite (embedded, small queues): a window over every pending delivery.
    "sqlite": _runs(
        _line,
        _line.join(endpoints, endpoints.c.id == _line.c.endpoint_id),
        _line.c.status == PENDING,
    ),
}
_EARLIER_EVENT_UNDISPATCHED = exists().where(
    events.c.group_id == _head.c.group_id,
    events.c.seq < _head.c.seq,
    events.c.dispatched_at.is_(None),
)


def _claimable(runs: Any) -> Any:
    """Runs, or their beginnings, that may be sent now: each row free, none waiting behind an
    undispatched earlier event of its group; first ranks first, so a `limit` cuts runs short
    rather than skipping their heads."""
    return (
        select(_head.c.id, runs.c.rank)
        .select_from(runs.join(_head, _head.c.id == runs.c.id))
        .where(
            runs.c.rank <= bindparam("run"),
            runs.c.ready == 1,
            # Checked again on the locked row: a deliverer that claimed it meanwhile gave
            # it a lease of its own (not due, and another token).
            _head.c.status == PENDING,
            or_(
                _is_due(_head),
                and_(runs.c.head_due == 1, _head.c.lease_token == runs.c.head_token),
            ),
            ~_EARLIER_EVENT_UNDISPATCHED,
        )
        .order_by(runs.c.rank, _head.c.next_attempt_at)
        .limit(bindparam("limit"))
        # Deliverers in other workers skip the rows this one is taking instead of queueing
        # on them; a row another one claimed meanwhile is re-checked and found leased.
        .with_for_update(skip_locked=True, of=_head)
        .cte("claimable")
    )


_DETAIL_COLUMNS = (
    deliveries.c.id.label("delivery_id"),
    deliveries.c.attempts.label("delivery_attempts"),
    deliveries.c.endpoint_id,
    endpoints.c.url,
    endpoints.c.secret_encrypted,
    endpoints.c.previous_secret_encrypted,
    endpoints.c.previous_secret_expires_at,
    endpoints.c.failing_since,
    *ENVELOPE_COLUMNS,
    events.c.traceparent,  # the delivery continues the trace of the request behind the event
)
# PostgreSQL: the claim returns what the attempts need, from the endpoints and events it
# joins (UPDATE … FROM … RETURNING), in one statement.
_CLAIMABLE_PG = _claimable(_RUNS["postgresql"])
_CLAIM_WITH_DETAILS = (
    update(deliveries)
    .where(
        deliveries.c.id == _CLAIMABLE_PG.c.id,
        endpoints.c.id == deliveries.c.endpoint_id,
        events.c.id == deliveries.c.event_id,
    )
    .values(
        # The lease of a run's r-th delivery covers the r attempts up to and including its own.
        next_attempt_at=bindparam("now", type_=deliveries.c.next_attempt_at.type)
        + func.make_interval(
            0, 0, 0, 0, 0, 0, bindparam("lease_seconds", type_=Float) * _CLAIMABLE_PG.c.rank
        ),
        lease_token=bindparam("token"),
    )
    .returning(_CLAIMABLE_PG.c.rank, *_DETAIL_COLUMNS)
)
# SQLite's RETURNING sees only the updated table: the claimable rows are read first (a
# deliverer's claim runs in a transaction of its own, and SQLite has one writer at a time).
_CLAIMABLE_SQLITE = select(_claimable(_RUNS["sqlite"]))
_CLAIM = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("c_id"))
    .values(next_attempt_at=bindparam("c_lease_until"), lease_token=bindparam("c_token"))
)
_DETAILS = (
    select(*_DETAIL_COLUMNS)
    .join_from(deliveries, endpoints, endpoints.c.id == deliveries.c.endpoint_id)
    .join(events, events.c.id == deliveries.c.event_id)
    .where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
)


@dataclass(frozen=True, slots=True)
class Claim:
    """One delivery taken for one attempt: what to send, where, signed with what."""

    delivery_id: uuid.UUID
    token: uuid.UUID
    attempts: int  # before this attempt
    endpoint_id: uuid.UUID
    url: str
    secret_encrypted: str
    previous_secret_encrypted: str | None
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None
    event: Any  # a row of ENVELOPE_COLUMNS


async def claim(
    conn: AsyncConnection, *, limit: int, lease_seconds: float, now: datetime, run: int = 1
) -> list[Claim]:
    """Take up to `limit` due deliveries, up to `run` in a row of each endpoint's line (oldest
    due first), for one attempt each; an endpoint's claims come together, in seq order. The
    r-th of a run is leased for r times `lease_seconds`: if this deliverer dies, the first ones
    are free again soon, the later ones as their turn would have passed."""
    token = uuid.uuid4()
    params = {
        "now": now,
        "limit": limit,
        "run": run,
        "lease_seconds": lease_seconds,
        "token": token,
    }
    if conn.dialect.name == "postgresql":
        rows = list(await conn.execute(_CLAIM_WITH_DETAILS, params))
        rank = {row.delivery_id: row.rank for row in rows}
    else:
        rank = {row.id: row.rank for row in await conn.execute(_CLAIMABLE_SQLITE, params)}
        if not rank:
            return []
        leases = [
            {
                "c_id": i,
                "c_token": token,
                "c_lease_until": now + timedelta(seconds=lease_seconds * r),
            }
            for i, r in rank.items()
        ]
        await conn.execute(_CLAIM, leases)
        rows = list(await conn.execute(_DETAILS, {"ids": list(rank)}))
    claims = [
        Claim(
            delivery_id=row.delivery_id,
            token=token,
            attempts=row.delivery_attempts,
            endpoint_id=row.endpoint_id,
            url=row.url,
            secret_encrypted=row.secret_encrypted,
            previous_secret_encrypted=row.previous_secret_encrypted,
            previous_secret_expires_at=row.previous_secret_expires_at,
            failing_since=row.failing_since,
            event=row,
        )
        for row in rows
    ]
    claims.sort(key=lambda c: (c.endpoint_id, rank[c.delivery_id]))
    kept, broken = _whole_runs(claims, rank)
    await release(conn, broken, now)
    return kept


def _whole_runs(
    claims: Sequence[Claim], rank: dict[uuid.UUID, int]
) -> tuple[list[Claim], list[Claim]]:
    """Split sorted claims into those that begin at their endpoint's head with no gap, and
    the rest. A gap is possible on PostgreSQL: two deliverers claiming at once skip each
    other's locked rows, and one may get a run's second row but not its first; sending it
    would overtake the first."""
    kept: list[Claim] = []
    broken: list[Claim] = []
    expected: dict[uuid.UUID, int] = {}
    for c in claims:
        if rank[c.delivery_id] == expected.get(c.endpoint_id, 1):
            expected[c.endpoint_id] = rank[c.delivery_id] + 1
            kept.append(c)
        else:
            expected[c.endpoint_id] = -1  # nothing after a gap either
            broken.append(c)
    return kept, broken


_RELEASE = (
    update(deliveries)
    .where(
        deliveries.c.id == bindparam("r_id"),
        deliveries.c.lease_token == bindparam("r_token"),
        deliveries.c.status == PENDING,
    )
    .values(next_attempt_at=bindparam("r_now"), lease_token=None)
)


async def release(conn: AsyncConnection, claims: Sequence[Claim], now: datetime) -> None:
    """Give back claims whose attempt will not be made (a deliverer stopping), so they are
    due at once rather than when their lease runs out."""
    if claims:
        rows = [{"r_id": c.delivery_id, "r_token": c.token, "r_now": now} for c in claims]
        await conn.execute(_RELEASE, rows)


_DUE_COUNT = select(func.count()).where(
    deliveries.c.status == PENDING, deliveries.c.next_attempt_at <= bindparam("now")
)


async def due_count(conn: AsyncConnection, now: datetime) -> int:
    """Pending deliveries whose time has come (some wait behind their endpoint's head)."""
    return int((await conn.execute(_DUE_COUNT, {"now": now})).scalar_one())


# --- moving on: outcomes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finished:
    """An attempt that ended: its claim, what the receiver did, and when it ended."""

    claim: Claim
    outcome: Outcome
    at: datetime


@dataclass
class Recorded:
    """What recording a batch did: each attempt's result (succeeded, retrying, failed,
    disabled, superseded: logged only, its lease was taken over), the retry times it set,
    and whether it wrote events (an endpoint disabled) for the relay to publish."""

    results: Counter[str] = field(default_factory=Counter)
    retry_at: list[datetime] = field(default_factory=list)
    events_written: bool = False


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


_CURRENT = (
    select(
        deliveries.c.id,
        deliveries.c.status,
        deliveries.c.lease_token,
        deliveries.c.attempts,
        deliveries.c.next_attempt_at,
    )
    .where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(deliveries.c.id)  # one lock order for every recorder: no deadlocks
    .with_for_update()
)
_SETTLE = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("s_id"))
    .values(
        attempts=deliveries.c.attempts + 1,
        last_attempt_at=bindparam("s_at"),
        status=bindparam("s_status"),
        next_attempt_at=bindparam("s_next"),
        lease_token=bindparam("s_token"),
    )
)
_LOG_ATTEMPT = insert(attempts).values(
    id=bindparam("a_id"),
    delivery_id=bindparam("a_delivery"),
    # Attempts are numbered per delivery across redeliveries (which reset `attempts`).
    number=select(func.count() + 1)
    .where(attempts.c.delivery_id == bindparam("a_delivery"))
    .scalar_subquery(),
    attempted_at=bindparam("a_at"),
    status_code=bindparam("a_status_code"),
    duration_ms=bindparam("a_duration"),
    error=bindparam("a_error"),
    response_excerpt=bindparam("a_excerpt"),
)
_ENDPOINTS_FAILING = (
    select(endpoints.c.id, endpoints.c.failing_since)
    .where(endpoints.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(endpoints.c.id)
    .with_for_update()
)
# `failing_since` is part of an endpoint's representation: changing it is a new version.
_MARK_FAILING = (
    update(endpoints)
    .where(
        endpoints.c.id.in_(bindparam("ids", expanding=True)), endpoints.c.failing_since.is_(None)
    )
    .values(
        failing_since=bindparam("now"), version=endpoints.c.version + 1, updated_at=bindparam("now")
    )
)
_MARK_HEALTHY = (
    update(endpoints)
    .where(
        endpoints.c.id.in_(bindparam("ids", expanding=True)),
        endpoints.c.failing_since.is_not(None),
    )
    .values(failing_since=None, version=endpoints.c.version + 1, updated_at=bindparam("now"))
)


# The common case on PostgreSQL, a batch of successes, in one statement (run it outside a
# transaction): lock the deliveries, settle those whose lease the attempt held, log every
# attempt, and clear `failing_since` of endpoints that were failing. The same rules as
# `record`, which handles every other case (failures, SQLite).
_RECORD_SUCCESSES = text(
    """
WITH outcome AS (
    SELECT * FROM unnest(
        CAST(:ids AS uuid[]), CAST(:tokens AS uuid[]), CAST(:ats AS timestamptz[]),
        CAST(:codes AS integer[]), CAST(:durations AS integer[]), CAST(:excerpts AS text[])
    ) AS o(id, token, at, code, duration, excerpt)
),
current AS (
    SELECT d.id, d.endpoint_id, (d.status = 'pending' AND d.lease_token = o.token) AS holds
    FROM webhook_deliveries d JOIN outcome o ON o.id = d.id
    ORDER BY d.id
    FOR UPDATE OF d
),
settled AS (
    UPDATE webhook_deliveries d
    SET attempts = d.attempts + 1,
        last_attempt_at = o.at,
        status = CASE WHEN c.holds THEN 'succeeded' ELSE d.status END,
        next_attempt_at = CASE WHEN c.holds THEN NULL ELSE d.next_attempt_at END,
        lease_token = CASE WHEN c.holds THEN NULL ELSE d.lease_token END
    FROM outcome o JOIN current c ON c.id = o.id
    WHERE d.id = o.id
    RETURNING d.id, c.holds, c.endpoint_id
),
logged AS (
    INSERT INTO webhook_delivery_attempts
        (id, delivery_id, number, attempted_at, status_code, duration_ms, response_excerpt)
    SELECT gen_random_uuid(), o.id,
           (SELECT count(*) + 1 FROM webhook_delivery_attempts a WHERE a.delivery_id = o.id),
           o.at, o.code, o.duration, o.excerpt
    FROM outcome o JOIN current c ON c.id = o.id
),
healthy AS (
    UPDATE webhook_endpoints e
    SET failing_since = NULL, version = e.version + 1, updated_at = :now
    WHERE e.id IN (SELECT endpoint_id FROM settled WHERE holds)
      AND e.failing_since IS NOT NULL
)
SELECT holds FROM settled
"""
)


async def record_successes(
    conn: AsyncConnection, batch: Sequence[Finished], now: datetime
) -> Recorded:
    """`record` for a batch of successes on PostgreSQL, in one statement."""
    params = {
        "ids": [f.claim.delivery_id for f in batch],
        "tokens": [f.claim.token for f in batch],
        "ats": [f.at for f in batch],
        "codes": [f.outcome.status_code for f in batch],
        "durations": [f.outcome.duration_ms for f in batch],
        "excerpts": [f.outcome.response_excerpt for f in batch],
        "now": now,
    }
    result = Recorded()
    for (holds,) in await conn.execute(_RECORD_SUCCESSES, params):
        result.results["succeeded" if holds else "superseded"] += 1
    return result


async def record(tx: Tx, settings: Settings, batch: Sequence[Finished], now: datetime) -> Recorded:
    """Log each attempt of the batch and move its delivery on, in the caller's transaction.

    Successes settle; failures are retried on the schedule (or after the receiver's
    Retry-After), given up when it runs out, and disable the endpoint on `410 Gone` or after
    failing for `webhook_disable_after_seconds`. A delivery deleted meanwhile (its endpoint
    was) is skipped. The batch must hold each delivery once.
    """
    conn = tx.conn
    result = Recorded()
    ids = [f.claim.delivery_id for f in batch]
    current = {row.id: row for row in await conn.execute(_CURRENT, {"ids": ids})}
    batch = [f for f in batch if f.claim.delivery_id in current]
    if not batch:
        return result

    def holds_lease(f: Finished) -> bool:
        row = current[f.claim.delivery_id]
        return bool(row.status == PENDING and row.lease_token == f.claim.token)

    failing_endpoints = sorted(
        {f.claim.endpoint_id for f in batch if holds_lease(f) and not f.outcome.success}
    )
    failing_since: dict[uuid.UUID, datetime | None] = {}
    if failing_endpoints:
        rows = await conn.execute(_ENDPOINTS_FAILING, {"ids": failing_endpoints})
        failing_since = {row.id: row.failing_since for row in rows}

    settle: list[dict[str, Any]] = []
    to_disable: dict[uuid.UUID, str] = {}
    healthy: set[uuid.UUID] = set()
    for f in batch:
        row = current[f.claim.delivery_id]
        status, next_at, token = row.status, row.next_attempt_at, row.lease_token
        if not holds_lease(f):
            label = "superseded"
        elif f.outcome.success:
            status, next_at, token, label = DeliveryStatus.succeeded, None, None, "succeeded"
            if f.claim.failing_since is not None:
                healthy.add(f.claim.endpoint_id)
        else:
            token = None
            since = failing_since.get(f.claim.endpoint_id) or now
            delay = next_delay(settings, row.attempts + 1, f.outcome)
            if f.outcome.status_code == 410:
                to_disable[f.claim.endpoint_id] = "the receiver answered 410 Gone"
            elif (now - since).total_seconds() >= settings.webhook_disable_after_seconds:
                to_disable.setdefault(f.claim.endpoint_id, "failing for too long")
            if f.claim.endpoint_id in to_disable:
                status, next_at, label = DeliveryStatus.failed, None, "disabled"
            elif delay is None:
                status, next_at, label = DeliveryStatus.failed, None, "failed"
            else:
                next_at = now + timedelta(seconds=delay)
                label = "retrying"
                result.retry_at.append(next_at)
        result.results[label] += 1
        settle.append(
            {"s_id": row.id, "s_at": f.at, "s_status": status, "s_next": next_at, "s_token": token}
        )
    await conn.execute(_SETTLE, settle)
    await conn.execute(
        _LOG_ATTEMPT,
        [
            {
                "a_id": new_id(),
                "a_delivery": f.claim.delivery_id,
                "a_at": f.at,
                "a_status_code": f.outcome.status_code,
                "a_duration": f.outcome.duration_ms,
                "a_error": f.outcome.error,
                "a_excerpt": f.outcome.response_excerpt,
            }
            for f in batch
        ],
    )
    if healthy:
        await conn.execute(_MARK_HEALTHY, {"ids": sorted(healthy), "now": now})
    still_failing = [e for e in failing_endpoints if e not in to_disable]
    if still_failing:
        await conn.execute(_MARK_FAILING, {"ids": still_failing, "now": now})
    if to_disable:
        await _disable(tx, to_disable)
        result.events_written = True
    return result


async def _disable(tx: Tx, reasons: dict[uuid.UUID, str]) -> None:
    """Disable endpoints (rare: the ORM path that also tells the owners, by an event)."""
    session = tx.session()
    for endpoint_id, reason in sorted(reasons.items()):
        endpoint = await session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
        if endpoint is not None and endpoint.disabled_at is None:
            await disable(session=session, endpoint=endpoint, reason=reason)
    await session.flush()
