"""Keyset pagination: `{"items": [...], "next_cursor": ...}` with an opaque cursor.

Keyset (not OFFSET) so a page costs the same at any depth and rows inserted meanwhile neither
repeat nor vanish. Lists order by `(created_at, id)` unless a route picks another key.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, bindparam, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.errors import BadRequest

T = TypeVar("T")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps(
        [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[type]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != len(kinds):
            raise ValueError("wrong shape")
        out: list[Any] = []
        for kind, part in zip(kinds, parts, strict=True):
            if kind is datetime:
                moment = datetime.fromisoformat(part)
                if moment.tzinfo is None:  # ours always carry their offset: tampered
                    raise ValueError("a cursor's date-time has an offset")
                out.append(moment)
            elif kind is uuid.UUID:
                out.append(uuid.UUID(part))
            elif kind is int:
                out.append(int(part))
            else:
                out.append(str(part))
        return out
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise BadRequest("Invalid cursor", errors=[{"loc": ["query", "cursor"]}]) from exc


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    params: PageParams,
    order_by: Sequence[Any],
    kinds: Sequence[type] = (datetime, uuid.UUID),
    *,
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """Run `stmt` ordered by `order_by` (ascending, or `descending`) after the cursor; return
    rows and next cursor.

    `order_by` are mapped columns (`col(Model.created_at), col(Model.id)`) whose last one is
    unique, so the order is total.
    """
    if params.cursor:
        after = decode_cursor(params.cursor, kinds)
        rows_key, after_key = tuple_(*order_by), tuple_(*after)
        stmt = stmt.where(rows_key < after_key if descending else rows_key > after_key)
    ordering = [c.desc() for c in order_by] if descending else list(order_by)
    stmt = stmt.order_by(*ordering).limit(params.limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, c.key) for c in order_by])
    return rows, next_cursor


# --- keyset pages on Core statements ------------------------------------------------------


class Keyset:
    """A list's order (`columns`, the last one unique) as Core pieces with bound parameters,
    so that a list statement is built once per shape and reused: `after()` is the cursor
    condition (parameters `after_0`, `after_1`, …), `order()` the ORDER BY."""

    def __init__(
        self,
        columns: Sequence[ColumnElement[Any]],
        kinds: Sequence[type] = (datetime, uuid.UUID),
        *,
        descending: bool = False,
    ) -> None:
        self.columns = list(columns)
        self.kinds = list(kinds)
        self.descending = descending
        self.names = [c.key for c in self.columns]

    def after(self) -> ColumnElement[bool]:
        """`(a, b) > (x, y)`: a row comparison, which an index on (…, a, b) answers as a range
        (PostgreSQL, and SQLite since 3.15), so a deep page costs what the first one does."""
        values = [bindparam(f"after_{i}", type_=c.type) for i, c in enumerate(self.columns)]
        rows, after = tuple_(*self.columns), tuple_(*values)
        return rows < after if self.descending else rows > after

    def order(self) -> list[Any]:
        return [c.desc() for c in self.columns] if self.descending else list(self.columns)

    def page(self, stmt: Select[Any], *, with_cursor: bool) -> Select[Any]:
        """`stmt` ordered, after the cursor when there is one, limited by `limit` (+ 1)."""
        if with_cursor:
            stmt = stmt.where(self.after())
        return stmt.order_by(*self.order()).limit(bindparam("limit_plus_one"))

    def params(self, page: PageParams) -> dict[str, Any]:
        values: dict[str, Any] = {"limit_plus_one": page.limit + 1}
        if page.cursor:
            for i, value in enumerate(decode_cursor(page.cursor, self.kinds)):
                values[f"after_{i}"] = value
        return values

    async def fetch(
        self, conn: AsyncConnection, stmt: Select[Any], params: dict[str, Any], page: PageParams
    ) -> tuple[list[Row[Any]], str | None]:
        """Run a statement made by `page()`: the page's rows and the next cursor."""
        rows = list(await conn.execute(stmt, {**params, **self.params(page)}))
        next_cursor = None
        if len(rows) > page.limit:
            rows = rows[: page.limit]
            last = rows[-1]._mapping
            next_cursor = encode_cursor([last[name] for name in self.names])
        return rows, next_cursor
