"""Meetings' SQL on the hot read (the group's meeting list): Core statements, built once."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.pagination import Keyset, PageParams
from app.meetings.lifecycle import allowed_actions
from app.meetings.schemas import MeetingRead
from app.models import Meeting, MeetingStatus
from app.models.base import table_of

meetings = table_of(Meeting)
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
