"""Recording events: the one helper every service calls, inside the caller's transaction.

The group row's `last_seq` is incremented with `UPDATE … RETURNING`, which holds that row's lock
until commit. Concurrent writers of one group therefore take numbers in commit order, and a
rolled-back transaction gives its number back: each group's `seq` is 1, 2, 3 … with no gaps.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Event, Group


async def record_event(
    *,
    session: AsyncSession,
    group_id: uuid.UUID,
    type: str,
    actor_id: uuid.UUID | None,
    subject_type: str,
    subject_id: uuid.UUID,
    data: dict[str, Any],
) -> Event:
    """Append an event to the group's history in the current transaction and return it."""
    (ev,) = await record_events(
        session=session,
        group_id=group_id,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        events=[(type, data)],
    )
    return ev


async def record_events(
    *,
    session: AsyncSession,
    group_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    subject_type: str,
    subject_id: uuid.UUID,
    events: Sequence[tuple[str, dict[str, Any]]],
) -> list[Event]:
    """Append several `(type, data)` events about one subject, in order, with consecutive
    `seq`s: one bump of `last_seq` and one INSERT instead of a round trip pair per event."""
    last = (
        await session.execute(
            update(Group)
            .where(col(Group.id) == group_id)
            # updated_at is kept as it is: an event of the group is not a change of the group.
            .values(last_seq=col(Group.last_seq) + len(events), updated_at=col(Group.updated_at))
            .returning(col(Group.last_seq))
            # Plain SQL UPDATE: no ORM version bump, the group itself did not change.
            .execution_options(synchronize_session=False)
        )
    ).scalar_one()
    first = last - len(events) + 1
    rows = [
        Event(
            group_id=group_id,
            seq=first + i,
            type=type,
            actor_id=actor_id,
            subject_type=subject_type,
            subject_id=subject_id,
            data=data,
        )
        for i, (type, data) in enumerate(events)
    ]
    session.add_all(rows)
    await session.flush()
    session.info["events_written"] = True
    return rows


class GroupObject(Protocol):
    """Anything that belongs to one group: a meeting, a proposal, an action item…"""

    id: uuid.UUID
    group_id: uuid.UUID


async def record_object_event(
    *,
    session: AsyncSession,
    actor_id: uuid.UUID | None,
    subject_type: str,
    subject: GroupObject,
    type: str,
    data: dict[str, Any],
) -> Event:
    """`record_event` about one of a group's objects, in that object's group."""
    return await record_event(
        session=session,
        group_id=subject.group_id,
        type=type,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject.id,
        data=data,
    )
