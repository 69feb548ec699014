"""Proposals' SQL on the hot read (the group's proposal list): Core statements, built once."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.pagination import Keyset, PageParams
from app.models import Proposal, ProposalState
from app.models.base import table_of
from app.proposals.schemas import ProposalRead

proposals = table_of(Proposal)
# ProposalRead's stored fields (`allowed_transitions` depends on the caller).
READ_FIELDS = tuple(name for name in ProposalRead.model_fields if name != "allowed_transitions")
READ_COLUMNS = [proposals.c[name] for name in READ_FIELDS]
OLDEST_FIRST = Keyset([proposals.c.created_at, proposals.c.id])
FILTERS = ("state", "focus_area_id", "author_id")


@cache
def _page(filters: frozenset[str], with_cursor: bool) -> Select[Any]:
    stmt = select(*READ_COLUMNS).where(proposals.c.group_id == bindparam("group_id"))
    for name in FILTERS:
        if name in filters:
            stmt = stmt.where(proposals.c[name] == bindparam(name))
    return OLDEST_FIRST.page(stmt, with_cursor=with_cursor)


async def proposals_page(
    conn: AsyncConnection,
    *,
    group_id: uuid.UUID,
    page: PageParams,
    state: ProposalState | None,
    focus_area_id: uuid.UUID | None,
    author_id: uuid.UUID | None,
) -> tuple[list[Row[Any]], str | None]:
    given = {
        name: value
        for name, value in zip(FILTERS, (state, focus_area_id, author_id), strict=True)
        if value is not None
    }
    stmt = _page(frozenset(given), bool(page.cursor))
    return await OLDEST_FIRST.fetch(conn, stmt, {"group_id": group_id, **given}, page)
