"""Notifications: turning an event into per-user notices, the inbox, and preferences."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.db import Tx
from app.core.errors import NotFound
from app.core.pagination import PageParams
from app.models import (
    EmailMode,
    Event,
    Group,
    Membership,
    Notification,
    NotificationPreference,
    User,
)
from app.models.base import utcnow
from app.notifications import queries
from app.notifications.rules import RULES, SUBJECT_MODELS
from app.notifications.schemas import PreferencesUpdate
from app.users.principal import Principal

COMMENT_EXCERPT = 280
DEFAULT_EMAIL_MODE = EmailMode.immediate  # the preference of a user who never set one


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


async def _subject_snapshot(session: AsyncSession, event: Event) -> dict[str, Any]:
    """The subject as the event recorded it, or as it is now when the event carries none."""
    snapshot = event.data.get(event.subject_type)
    if isinstance(snapshot, dict):
        return snapshot
    model = SUBJECT_MODELS.get(event.subject_type)
    row = await session.get(model, event.subject_id) if model else None
    if row is None:
        return {}
    fields = ("title", "due_date", "starts_at", "timezone")
    return {f: _json(getattr(row, f)) for f in fields if hasattr(row, f)}


async def summarize(session: AsyncSession, event: Event) -> dict[str, Any]:
    """What a notification shows (and an email says) without fetching anything else.

    Names are copied as they are now: a notification is a message, not a live view.
    """
    subject = await _subject_snapshot(session, event)
    group = await session.get(Group, event.group_id)
    actor = await session.get(User, event.actor_id) if event.actor_id else None
    data: dict[str, Any] = {
        "subject": {"type": event.subject_type, "id": str(event.subject_id)},
        # A webhook has no title; its URL says which one it is.
        "title": subject.get("title") or subject.get("url"),
        "group": {"id": str(event.group_id), "name": group.name if group else None},
        "actor": {"id": str(actor.id), "name": actor.name} if actor else None,
        "seq": event.seq,
        "occurred_at": _json(event.occurred_at),
    }
    for key in ("due_date", "starts_at", "timezone"):
        if subject.get(key):
            data[key] = subject[key]
    for key in ("to", "days_overdue"):
        if key in event.data:
            data[key] = event.data[key]
    if isinstance(event.data.get("changes"), dict):
        data["changes"] = sorted(event.data["changes"])
    comment = event.data.get("comment")
    if isinstance(comment, dict):
        data["comment"] = str(comment.get("body", ""))[:COMMENT_EXCERPT]
    return data


async def notify_event(
    *, session: AsyncSession, event: Event
) -> list[tuple[Notification, EmailMode]]:
    """Create the event's notifications (idempotent) and return each with its user's email
    preference. Recipients: the type's rule, minus the actor, minus users who are inactive,
    no longer in the group, or muted the type."""
    rule = RULES.get(event.type)
    if rule is None:
        return []
    candidates = await rule.recipients(session, event)
    if event.actor_id is not None:
        candidates.discard(event.actor_id)  # never the one who did it
    if not candidates:
        return []
    rows = await session.execute(
        select(
            col(User.id),
            col(NotificationPreference.email),
            col(NotificationPreference.muted_types),
        )
        .join(
            Membership,
            and_(
                col(Membership.user_id) == col(User.id),
                col(Membership.group_id) == event.group_id,
            ),
        )
        .outerjoin(NotificationPreference, col(NotificationPreference.user_id) == col(User.id))
        .where(col(User.id).in_(candidates), col(User.is_active))
        .order_by(col(User.id))
    )
    # The dispatcher holds the event's row lock, so nobody inserts these meanwhile.
    already = set(
        (
            await session.execute(
                select(col(Notification.user_id)).where(col(Notification.event_id) == event.id)
            )
        ).scalars()
    )
    created: list[tuple[Notification, EmailMode]] = []
    data: dict[str, Any] | None = None
    for user_id, email, muted in rows.all():
        if user_id in already or event.type in (muted or ()):
            continue
        data = data if data is not None else await summarize(session, event)
        note = Notification(
            user_id=user_id,
            event_id=event.id,
            group_id=event.group_id,
            type=event.type,
            reason=rule.reason,
            data=data,
        )
        session.add(note)
        created.append((note, email or DEFAULT_EMAIL_MODE))
    if created:
        await session.flush()
    return created


# --- the inbox -----------------------------------------------------------------------------


async def list_notifications(
    *, tx: Tx, user: Principal, unread: bool | None, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """The user's notifications, newest first."""
    return await queries.inbox_page(tx.conn, user.id, unread, page)


async def unread_count(*, tx: Tx, user: Principal) -> int:
    return await queries.unread_count(tx.conn, user.id)


async def mark_read(
    *, session: AsyncSession, user: Principal, notification_id: uuid.UUID
) -> Notification:
    """Idempotent: reading a read notification keeps its first `read_at`."""
    note = await session.get(Notification, notification_id)
    if note is None or note.user_id != user.id:
        raise NotFound("Notification not found")
    if note.read_at is None:
        note.read_at = utcnow()
        await session.flush()
    return note


async def mark_all_read(*, session: AsyncSession, user: Principal) -> int:
    result = await session.execute(
        update(Notification)
        .where(col(Notification.user_id) == user.id, col(Notification.read_at).is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- preferences ---------------------------------------------------------------------------


async def get_preferences(
    *, session: AsyncSession, user_id: uuid.UUID
) -> NotificationPreference | None:
    return await session.get(NotificationPreference, user_id)


def effective(pref: NotificationPreference | None) -> tuple[EmailMode, list[str], int]:
    """(email mode, muted types, version) — the defaults, version 0, before any PUT."""
    if pref is None:
        return DEFAULT_EMAIL_MODE, [], 0
    return pref.email, list(pref.muted_types), pref.version


async def put_preferences(
    *, session: AsyncSession, user: Principal, data: PreferencesUpdate
) -> NotificationPreference:
    pref = await session.get(NotificationPreference, user.id)
    if pref is None:
        pref = NotificationPreference(user_id=user.id)
        session.add(pref)
    pref.email = data.email
    if list(pref.muted_types) != data.muted_types:
        pref.muted_types = data.muted_types
    await session.flush()
    return pref
