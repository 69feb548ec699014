"""Recording events: one writer every path uses, inside the caller's transaction.

The group row's `last_seq` is incremented with `UPDATE … RETURNING`, which holds that row's lock
until commit. Concurrent writers of one group therefore take numbers in commit order, and a
rolled-back transaction gives its number back: each group's `seq` is 1, 2, 3 … with no gaps.

On PostgreSQL the bump and the INSERT of the events are one statement (the UPDATE is a
data-modifying CTE the inserted rows take their numbers from); SQLite, which has no such CTEs,
runs the two statements. Request code records through its `GroupContext` (app/groups/access.py);
code holding an ORM session (workers, cold paths) through `record_event(s)` below.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import Insert, bindparam, insert, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.db import mark_events_written
from app.models import Event, Group
from app.models.base import new_id, table_of, utcnow

events_table = table_of(Event)
groups_table = table_of(Group)

# (type, data) of one event; several about one subject get consecutive seqs.
NewEvent = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    id: uuid.UUID
    group_id: uuid.UUID
    seq: int
    type: str
    actor_id: uuid.UUID | None
    subject_type: str
    subject_id: uuid.UUID
    data: dict[str, Any]
    occurred_at: datetime


_COLUMNS = (
    "id",
    "group_id",
    "seq",
    "type",
    "actor_id",
    "subject_type",
    "subject_id",
    "data",
    "occurred_at",
)


def _param(name: str, column: str) -> Any:
    # Typed explicitly: PostgreSQL must know each parameter's type in a SELECT list.
    return bindparam(name, type_=events_table.c[column].type)


def _row(i: int, seq: Any) -> list[Any]:
    """Event i's values in _COLUMNS order (shared ones are one parameter for all rows)."""
    values = {
        "id": _param(f"id_{i}", "id"),
        "group_id": _param("group_id", "group_id"),
        "seq": seq,
        "type": _param(f"type_{i}", "type"),
        "actor_id": _param("actor_id", "actor_id"),
        "subject_type": _param("subject_type", "subject_type"),
        "subject_id": _param("subject_id", "subject_id"),
        "data": _param(f"data_{i}", "data"),
        "occurred_at": _param("occurred_at", "occurred_at"),
    }
    return [values[c].label(c) if c != "seq" else seq.label(c) for c in _COLUMNS]


# Built once per number of events. INSERT … SELECT rather than a multi-row VALUES, which
# SQLAlchemy cannot cache (it would compile the statement on every call).


@cache
def _insert_with_bump(n: int) -> Insert:
    """PostgreSQL: bump `last_seq` by n and insert n events numbered up to the new value, in
    one statement (the UPDATE is a data-modifying CTE, which runs exactly once)."""
    bump = (
        update(groups_table)
        .where(groups_table.c.id == bindparam("group_id"))
        # updated_at is kept as it is: an event of the group is not a change of the group.
        .values(last_seq=groups_table.c.last_seq + n, updated_at=groups_table.c.updated_at)
        .returning(groups_table.c.last_seq)
        .cte("bump")
    )
    selects = [select(*_row(i, bump.c.last_seq - (n - 1 - i))) for i in range(n)]
    rows = selects[0] if n == 1 else union_all(*selects)
    return (
        insert(events_table)
        .from_select(list(_COLUMNS), rows)
        .add_cte(bump)
        .returning(events_table.c.seq)
    )


_BUMP = (
    update(groups_table)
    .where(groups_table.c.id == bindparam("group_id"))
    .values(last_seq=groups_table.c.last_seq + bindparam("n"), updated_at=groups_table.c.updated_at)
    .returning(groups_table.c.last_seq)
)


@cache
def _insert_numbered(n: int) -> Insert:
    """SQLite: insert n events with the seqs the bump returned."""
    selects = [select(*_row(i, _param(f"seq_{i}", "seq"))) for i in range(n)]
    rows = selects[0] if n == 1 else union_all(*selects)
    return insert(events_table).from_select(list(_COLUMNS), rows)


async def write_events(
    conn: AsyncConnection,
    *,
    group_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    subject_type: str,
    subject_id: uuid.UUID,
    events: Sequence[NewEvent],
) -> list[RecordedEvent]:
    """Append `(type, data)` events about one subject to the group's history, in order."""
    n = len(events)
    ids = [new_id() for _ in range(n)]
    now = utcnow()
    params: dict[str, Any] = {
        "group_id": group_id,
        "actor_id": actor_id,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "occurred_at": now,
    }
    for i, (type_, data) in enumerate(events):
        params[f"id_{i}"] = ids[i]
        params[f"type_{i}"] = type_
        params[f"data_{i}"] = data
    if conn.dialect.name == "postgresql":
        seqs = sorted((await conn.execute(_insert_with_bump(n), params)).scalars())
        first = seqs[0]
    else:
        last = (await conn.execute(_BUMP, {"group_id": group_id, "n": n})).scalar_one()
        first = last - n + 1
        params.update({f"seq_{i}": first + i for i in range(n)})
        await conn.execute(_insert_numbered(n), params)
    return [
        RecordedEvent(ids[i], group_id, first + i, t, actor_id, subject_type, subject_id, d, now)
        for i, (t, d) in enumerate(events)
    ]


# --- for code that holds an ORM session (workers, cold paths) ------------------------------


async def record_events(
    *,
    session: AsyncSession,
    group_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    subject_type: str,
    subject_id: uuid.UUID,
    events: Sequence[NewEvent],
) -> list[RecordedEvent]:
    """`write_events` in the session's transaction (its pending changes are flushed first)."""
    await session.flush()
    recorded = await write_events(
        await session.connection(),
        group_id=group_id,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        events=events,
    )
    mark_events_written(session)
    return recorded


async def record_event(
    *,
    session: AsyncSession,
    group_id: uuid.UUID,
    type: str,
    actor_id: uuid.UUID | None,
    subject_type: str,
    subject_id: uuid.UUID,
    data: dict[str, Any],
) -> RecordedEvent:
    """Append one event to the group's history in the session's transaction."""
    (ev,) = await record_events(
        session=session,
        group_id=group_id,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        events=[(type, data)],
    )
    return ev


class GroupObject(Protocol):
    """Anything that belongs to one group: a meeting, a proposal, an action item…"""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def group_id(self) -> uuid.UUID: ...
