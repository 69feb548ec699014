from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.core.responses import dumps
from app.events import service
from app.events.schemas import EventRead, EventTypeRead
from app.events.types import EVENT_TYPES
from app.groups.access import Reader
from app.users.deps import CurrentUser

router = APIRouter(tags=["events"])
# `seq` is a 32-bit integer column: a larger number is no seq, and PostgreSQL refuses it.
MAX_SEQ = 2**31 - 1


@router.get("/groups/{group_id}/events", response_model=Page[EventRead])
async def list_events(
    ctx: Reader,
    after: Annotated[
        int, Query(ge=0, le=MAX_SEQ, description="Return events with seq greater than this")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$", description="next_cursor")] = None,
) -> Response:
    """The group's history in `seq` order; resume with `after=<last seq seen>`."""
    # No seq is above MAX_SEQ, so a larger cursor means the same as MAX_SEQ.
    start = min(int(cursor), MAX_SEQ) if cursor is not None else after
    return await service.history_page(ctx=ctx, after=start, limit=limit)


# The registry does not change while the process runs: encoded once.
_EVENT_TYPES = dumps(
    {
        "items": [
            EventTypeRead(
                type=t.name, description=t.description, in_history=t.in_history, example=t.example
            ).model_dump(mode="json")
            for t in EVENT_TYPES.values()
        ],
        "next_cursor": None,
    }
)


@router.get("/event-types", response_model=Page[EventTypeRead])
async def list_event_types(user: CurrentUser) -> Response:
    """Every event type the events API, the websocket and webhooks carry, with what it means
    and an example, in one page. Their schemas are in the AsyncAPI document (`/asyncapi.json`)
    and in this document's `webhooks`."""
    return Response(_EVENT_TYPES, media_type="application/json")
