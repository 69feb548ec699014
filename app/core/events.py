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
from typing import Any, NamedTuple

from sqlalchemy import Executable, Insert, bindparam, exists, insert, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core import tracing
from app.core.db import mark_events_written
from app.models import Event, Group
from app.models.base import new_id, table_of, utcnow

events_table = table_of(Event)
groups_table = table_of(Group)

# (type, data) of one event; several about one subject get consecutive seqs.
NewEvent = tuple[str, dict[str, Any]]


class Change(NamedTuple):
    """The INSERT/UPDATE/DELETE … RETURNING that events describe, and its parameters: run
    with the events in one statement on PostgreSQL (see `write_events`)."""

    statement: Executable
    params: dict[str, Any]


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
    "traceparent",
)
# Parameter names of the event rows; `ev_` keeps them apart from a change statement's own.
_SHARED = ("group_id", "actor_id", "subject_type", "subject_id", "occurred_at", "traceparent")
_PER_EVENT = ("id", "type", "data")


def _param(name: str, column: str) -> Any:
    # Typed explicitly: PostgreSQL must know each parameter's type in a SELECT list.
    return bindparam(f"ev_{name}", type_=events_table.c[column].type)


def _row(i: int, seq: Any) -> list[Any]:
    """Event i's values in _COLUMNS order (shared ones are one parameter for all rows)."""
    values = {c: _param(c, c) for c in _SHARED}
    values.update({c: _param(f"{c}_{i}", c) for c in _PER_EVENT})
    values["seq"] = seq
    return [values[c].label(c) for c in _COLUMNS]


def _bump(n: Any, change: Any = None) -> Any:
    """`last_seq += n` on the group row, which takes (or holds) the group's row lock.

    `updated_at` is kept as it is: an event of the group is not a change of the group. With a
    `change` (CTE), only when the change touched a row."""
    stmt = update(groups_table).where(groups_table.c.id == bindparam("ev_group_id"))
    if change is not None:
        stmt = stmt.where(exists(select(change.c[0])))
    return stmt.values(
        last_seq=groups_table.c.last_seq + n, updated_at=groups_table.c.updated_at
    ).returning(groups_table.c.last_seq)


# Built once per (change statement, number of events). INSERT … SELECT rather than a
# multi-row VALUES, which SQLAlchemy cannot cache (it would compile it on every call).


@cache
def _insert_with_bump(n: int, change: Executable | None) -> Insert:
    """PostgreSQL, one statement: the change (a CTE, if any), the bump of `last_seq` by n,
    and n events numbered up to the new value. Data-modifying CTEs run exactly once; with a
    change that touches no row nothing else happens either."""
    stmt = insert(events_table)
    change_cte = None
    if change is not None:
        change_cte = change.cte("change")  # type: ignore[attr-defined]
        stmt = stmt.add_cte(change_cte)
    bump = _bump(n, change_cte).cte("bump")
    selects = [select(*_row(i, bump.c.last_seq - (n - 1 - i))) for i in range(n)]
    rows = selects[0] if n == 1 else union_all(*selects)
    return stmt.from_select(list(_COLUMNS), rows).add_cte(bump).returning(events_table.c.seq)


_BUMP = _bump(bindparam("ev_n"))


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
    change: Change | None = None,
) -> list[RecordedEvent] | None:
    """Append `(type, data)` events about one subject to the group's history, in order.

    `change`: what the events describe, with RETURNING (of anything), run first and in the
    same statement on PostgreSQL. When it touches no row (e.g. an UPDATE whose version check
    failed), nothing is written and None is returned. Name its parameters unlike any column
    (e.g. `i_title`): SQLAlchemy takes a parameter named like a column of an INSERT or UPDATE
    in the statement as a value for that column. And give it every value, `updated_at`
    included: Python-side defaults (`onupdate=…`) are not applied to a statement in a CTE.
    """
    n = len(events)
    ids = [new_id() for _ in range(n)]
    now = utcnow()
    statement = change.statement if change is not None else None
    params: dict[str, Any] = dict(change.params) if change is not None else {}
    shared = (group_id, actor_id, subject_type, subject_id, now, tracing.traceparent())
    params.update({f"ev_{name}": value for name, value in zip(_SHARED, shared, strict=True)})
    for i, (type_, data) in enumerate(events):
        params[f"ev_id_{i}"] = ids[i]
        params[f"ev_type_{i}"] = type_
        params[f"ev_data_{i}"] = data
    if conn.dialect.name == "postgresql":
        seqs = sorted((await conn.execute(_insert_with_bump(n, statement), params)).scalars())
        if not seqs:
            return None
        first = seqs[0]
    else:
        if statement is not None and (await conn.execute(statement, params)).first() is None:
            return None
        bumped = await conn.execute(_BUMP, {"ev_group_id": group_id, "ev_n": n})
        first = bumped.scalar_one() - n + 1
        params.update({f"ev_seq_{i}": first + i for i in range(n)})
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
    assert recorded is not None  # no change statement: the events are always written
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
