"""Worker side of notifications: the dispatch handler, email jobs, the digest and reminders.

Jobs take ids, reload from the database and return early when already done, so arq running
one twice (a worker lost mid-job) is harmless. No transaction stays open while talking to
the SMTP server.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from arq import Retry
from arq.connections import ArqRedis
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.config import Settings
from app.core.db import SessionFactory
from app.core.worker_metrics import count_email
from app.events.dispatch import DispatchContext
from app.models import EmailMode, Event, Notification, NotificationPreference, User
from app.models.base import utcnow
from app.notifications import email, reminders, service
from app.notifications.schemas import NotificationRead
from app.realtime.keys import RedisKeys
from app.realtime.notify import push_notification
from app.realtime.relay import publish_wake

log = logging.getLogger(__name__)

EMAIL_JOB = "send_notification_email"
# The sweep re-enqueues immediate mails whose job was lost (a Redis flush) once they are this
# old, and gives up on those older than the window.
EMAIL_SWEEP_AFTER = timedelta(minutes=2)
EMAIL_SWEEP_WINDOW = timedelta(hours=6)
# A digest carries at most this many items, from at most this far back.
DIGEST_MAX_ITEMS = 500
DIGEST_MAX_AGE = timedelta(days=7)


def email_job_id(notification_id: uuid.UUID) -> str:
    """One job per notification: arq refuses a second job with the same id."""
    return f"email:{notification_id}"


async def enqueue_email(jobs: ArqRedis, settings: Settings, notification_id: uuid.UUID) -> None:
    await jobs.enqueue_job(
        EMAIL_JOB,
        str(notification_id),
        _job_id=email_job_id(notification_id),
        _queue_name=RedisKeys(settings.redis_prefix).arq_queue,
    )


async def handle_events(
    session: AsyncSession, batch: Sequence[Event], ctx: DispatchContext
) -> None:
    """Dispatcher handler: the events' notifications; after commit, the live pushes and the
    immediate emails."""
    created = []
    for event in batch:
        created += await service.notify_event(session=session, event=event)
    if not created:
        return
    settings = ctx.settings
    pushes = [
        (note.user_id, NotificationRead.model_validate(note).model_dump(mode="json"))
        for note, _ in created
    ]
    mails = [note.id for note, mode in created if mode == EmailMode.immediate]
    jobs = ctx.jobs if settings.smtp_host else None

    async def after_commit() -> None:
        for user_id, body in pushes:
            await push_notification(ctx.redis, settings.redis_prefix, user_id, body)
        if jobs is not None:  # without a job pool, the email sweep enqueues them
            for notification_id in mails:
                await enqueue_email(jobs, settings, notification_id)

    ctx.after_commit.append(after_commit)


def retry_delay(settings: Settings, job_try: int) -> float:
    """Exponential backoff: base, 2·base, 4·base … capped."""
    delay: float = settings.email_retry_base_seconds * 2 ** max(job_try - 1, 0)
    return min(delay, settings.email_retry_max_seconds)


async def send_notification_email(ctx: dict[str, Any], notification_id: str) -> str:
    """Mail one notification (immediate mode). An SMTP failure raises `Retry` with backoff;
    nothing was sent then, so the retry cannot duplicate the mail."""
    settings: Settings = ctx["settings"]
    factory: SessionFactory = ctx["session_factory"]
    note_id = uuid.UUID(notification_id)
    async with factory() as session:
        note = await session.get(Notification, note_id)
        if note is None or note.emailed_at is not None:
            return "already sent" if note else "gone"
        user = await session.get(User, note.user_id)
        mode, _, _ = service.effective(await session.get(NotificationPreference, note.user_id))
        # The user may have switched to `daily` (the digest takes it) or `off` since.
        if user is None or not user.is_active or mode != EmailMode.immediate:
            return "not wanted"
        if settings.smtp_host is None:
            return "email disabled"
        message = email.notification_email(settings, note, user)
    if not await send_or_retry(ctx, message, f"notification {note_id}"):
        return "failed"
    async with factory() as session, session.begin():
        await _mark_emailed(session, [note_id])
    return "sent"


async def send_or_retry(ctx: dict[str, Any], message: EmailMessage, what: str) -> bool:
    """Send a mail from a job: True once sent; on an SMTP failure `Retry` with backoff
    (nothing was sent, so the retry cannot duplicate it), False after the last try."""
    settings: Settings = ctx["settings"]
    try:
        await email.send(settings, message)
    except email.SMTP_ERRORS as exc:
        job_try = int(ctx.get("job_try", 1))
        if job_try >= settings.email_max_tries:
            log.error("email for %s failed %d times: %r", what, job_try, exc)
            count_email(ctx, "failed")
            return False
        log.warning("email for %s failed (try %d): %r", what, job_try, exc)
        count_email(ctx, "retrying")
        raise Retry(defer=retry_delay(settings, job_try)) from exc
    count_email(ctx, "sent")
    return True


async def _mark_emailed(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    await session.execute(
        update(Notification)
        .where(col(Notification.id).in_(ids), col(Notification.emailed_at).is_(None))
        .values(emailed_at=utcnow())
        .execution_options(synchronize_session=False)
    )


SWEEP_BATCH = 1000


async def requeue_unsent_emails(ctx: dict[str, Any], now: datetime | None = None) -> int:
    """Cron: enqueue immediate mails whose job never ran (Redis lost it). Jobs still queued
    or retrying keep their id, so enqueueing them again is a no-op."""
    settings: Settings = ctx["settings"]
    jobs: ArqRedis | None = ctx.get("redis")
    if settings.smtp_host is None or jobs is None:
        return 0
    now = now or utcnow()
    factory: SessionFactory = ctx["session_factory"]
    stmt = (
        select(col(Notification.id))
        .outerjoin(
            NotificationPreference,
            col(NotificationPreference.user_id) == col(Notification.user_id),
        )
        .where(
            col(Notification.emailed_at).is_(None),
            col(Notification.created_at) > now - EMAIL_SWEEP_WINDOW,
            col(Notification.created_at) < now - EMAIL_SWEEP_AFTER,
            or_(
                col(NotificationPreference.email).is_(None),
                col(NotificationPreference.email) == EmailMode.immediate,
            ),
        )
        .order_by(col(Notification.id))
        .limit(SWEEP_BATCH)
    )
    total, after = 0, None
    while True:  # in batches, so a large backlog is covered whole, not its first page forever
        page = stmt if after is None else stmt.where(col(Notification.id) > after)
        async with factory() as session:
            ids = list((await session.execute(page)).scalars())
        for notification_id in ids:
            await enqueue_email(jobs, settings, notification_id)
        total += len(ids)
        if len(ids) < SWEEP_BATCH:
            return total
        after = ids[-1]


# --- the daily digest ------------------------------------------------------------------------


def digest_slot(settings: Settings, now: datetime) -> datetime:
    """The latest digest time at or before `now` (today's or yesterday's hour)."""
    slot = now.replace(hour=settings.digest_hour_utc, minute=0, second=0, microsecond=0)
    return slot if slot <= now else slot - timedelta(days=1)


def _digest_due(slot: datetime) -> Any:
    return and_(
        col(NotificationPreference.email) == EmailMode.daily,
        or_(
            col(NotificationPreference.last_digest_at).is_(None),
            col(NotificationPreference.last_digest_at) < slot,
        ),
    )


async def send_daily_digests(ctx: dict[str, Any], now: datetime | None = None) -> int:
    """Cron (hourly): one digest per `daily` user whose digest of the current slot has not
    gone out — unread, unemailed notifications, grouped by group. Nothing to say, no mail.
    Returns the number of mails sent."""
    settings: Settings = ctx["settings"]
    if settings.smtp_host is None:
        return 0
    now = now or utcnow()
    slot = digest_slot(settings, now)
    factory: SessionFactory = ctx["session_factory"]
    async with factory() as session:
        user_ids = list(
            (
                await session.execute(
                    select(col(NotificationPreference.user_id)).where(_digest_due(slot))
                )
            ).scalars()
        )
    sent = 0
    for user_id in user_ids:
        try:
            sent += await _send_digest(settings, factory, user_id, now, slot)
        except email.SMTP_ERRORS as exc:
            # Not marked as done: the next hourly run tries again.
            log.warning("digest for user %s failed: %r", user_id, exc)
    return sent


async def _send_digest(
    settings: Settings, factory: SessionFactory, user_id: uuid.UUID, now: datetime, slot: datetime
) -> int:
    async with factory() as session:
        due = await session.execute(
            select(col(NotificationPreference.user_id)).where(
                col(NotificationPreference.user_id) == user_id, _digest_due(slot)
            )
        )
        user = await session.get(User, user_id)
        if due.first() is None or user is None:
            return 0  # another run got there first
        notes = list(
            (
                await session.execute(
                    select(Notification)
                    .where(
                        col(Notification.user_id) == user_id,
                        col(Notification.emailed_at).is_(None),
                        col(Notification.read_at).is_(None),
                        col(Notification.created_at) <= now,
                        col(Notification.created_at) > now - DIGEST_MAX_AGE,
                    )
                    .order_by(col(Notification.created_at), col(Notification.id))
                    .limit(DIGEST_MAX_ITEMS)
                )
            ).scalars()
        )
        message = email.digest_email(settings, user, notes) if notes and user.is_active else None
    if message is not None:
        await email.send(settings, message)
    async with factory() as session, session.begin():
        if message is not None:
            await _mark_emailed(session, [n.id for n in notes])
        # A plain UPDATE: the preference's version (its ETag) is the user's, not ours.
        await session.execute(
            update(NotificationPreference)
            .where(col(NotificationPreference.user_id) == user_id)
            .values(last_digest_at=now, updated_at=col(NotificationPreference.updated_at))
            .execution_options(synchronize_session=False)
        )
    return int(message is not None)


# --- reminders -----------------------------------------------------------------------------


async def send_reminders(ctx: dict[str, Any], now: datetime | None = None) -> dict[str, int]:
    """Cron (every 5 minutes): record due-soon, overdue and meeting-reminder events; the
    dispatcher turns them into notifications like any other event."""
    settings: Settings = ctx["settings"]
    counts = await reminders.run_all(
        session_factory=ctx["session_factory"], settings=settings, now=now or utcnow()
    )
    redis = ctx.get("redis")
    if any(counts.values()) and redis is not None:
        await publish_wake(redis, settings.redis_prefix)
    return counts
