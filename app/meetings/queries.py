"""Meetings' SQL on the list pages (the group's meetings, a meeting's RSVPs): Core
statements, built once."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.pagination import Keyset, PageParams
from app.groups.queries import MEMBERS_ORDER, memberships, users
from app.meetings.lifecycle import allowed_actions
from app.meetings.schemas import MeetingRead, RsvpCounts, RsvpEntry
from app.models import Meeting, MeetingRsvp, MeetingStatus, Role, RsvpResponse
from app.models.base import table_of

meetings = table_of(Meeting)
rsvps = table_of(MeetingRsvp)
READ_FIELDS = tuple(name for name in MeetingRead.model_fields)
READ_COLUMNS = [meetings.c[name] for name in READ_FIELDS]
BY_START = Keyset([meetings.c.starts_at, meetings.c.id])


@cache
def _page(with_status: bool, with_start: bool, with_end: bool, with_cursor: bool) -> Select[Any]:
    stmt = select(*READ_COLUMNS).where(meetings.c.group_id == bindparam("group_id"))
    if with_status:
        stmt = stmt.where(meetings.c.status == bindparam("status"))
    if with_start:
        stmt = stmt.where(meetings.c.ends_at > bindparam("start", type_=meetings.c.ends_at.type))
    if with_end:
        stmt = stmt.where(meetings.c.starts_at < bindparam("end", type_=meetings.c.starts_at.type))
    return BY_START.page(stmt, with_cursor=with_cursor)


def meeting_json(row: Any) -> dict[str, Any]:
    """MeetingRead as a dict for the JSON encoder."""
    item = dict(zip(READ_FIELDS, row, strict=True))
    item["allowed_actions"] = allowed_actions(item["status"])
    return item


async def meetings_page(
    conn: AsyncConnection,
    *,
    group_id: uuid.UUID,
    page: PageParams,
    status: MeetingStatus | None,
    start: datetime | None,
    end: datetime | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Meetings by start time; `start`/`end` keep those overlapping that window."""
    params = {"group_id": group_id, "status": status, "start": start, "end": end}
    stmt = _page(status is not None, start is not None, end is not None, bool(page.cursor))
    used = {k: v for k, v in params.items() if v is not None}
    rows, cursor = await BY_START.fetch(conn, stmt, used, page)
    return [meeting_json(row) for row in rows], cursor


# --- RSVPs ---------------------------------------------------------------------------------

# Those who may answer an RSVP (the member role and up: `Participant`), each with their answer
# to the meeting or NULL: the outer join keeps those who have not answered.
_ANSWERING = memberships.join(users, users.c.id == memberships.c.user_id).outerjoin(
    rsvps,
    and_(
        rsvps.c.meeting_id == bindparam("meeting_id"),
        rsvps.c.user_id == memberships.c.user_id,
    ),
)
_ANSWERING_WHERE = and_(
    memberships.c.group_id == bindparam("group_id"), memberships.c.role != Role.observer
)
RSVP_COLUMNS = [
    memberships.c.user_id,
    users.c.name,
    memberships.c.role,
    rsvps.c.response,
    rsvps.c.updated_at.label("responded_at"),
]
RSVP_FIELDS = tuple(RsvpEntry.model_fields)
assert tuple(c.key for c in RSVP_COLUMNS) == RSVP_FIELDS


@cache
def _rsvps_page(with_cursor: bool) -> Select[Any]:
    # The order of the group's member list (by joining), on its index; the keyset columns
    # come last, after the read model's.
    stmt = (
        select(*RSVP_COLUMNS, memberships.c.created_at, memberships.c.id)
        .select_from(_ANSWERING)
        .where(_ANSWERING_WHERE)
    )
    return MEMBERS_ORDER.page(stmt, with_cursor=with_cursor)


async def rsvps_page(
    conn: AsyncConnection, *, group_id: uuid.UUID, meeting_id: uuid.UUID, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """Every member who may answer, in the member list's order, with their answer (None: not
    yet). One statement per page."""
    params = {"group_id": group_id, "meeting_id": meeting_id}
    rows, cursor = await MEMBERS_ORDER.fetch(conn, _rsvps_page(bool(page.cursor)), params, page)
    return [dict(zip(RSVP_FIELDS, row, strict=False)) for row in rows], cursor


_RSVP_COUNTS = (
    select(rsvps.c.response, func.count())
    .select_from(_ANSWERING)
    .where(_ANSWERING_WHERE)
    .group_by(rsvps.c.response)
)


async def rsvp_counts(
    conn: AsyncConnection, *, group_id: uuid.UUID, meeting_id: uuid.UUID
) -> RsvpCounts:
    """The answers of the members `rsvps_page` lists, counted; `none`: not answered yet."""
    rows = await conn.execute(_RSVP_COUNTS, {"group_id": group_id, "meeting_id": meeting_id})
    counts: dict[RsvpResponse | None, int] = {response: n for response, n in rows}
    return RsvpCounts(**{r.value: counts.get(r, 0) for r in RsvpResponse}, none=counts.get(None, 0))
