from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.core.db import SessionDep
from app.core.deps import set_etag
from app.core.errors import Forbidden
from app.core.pagination import Page, PageParams, page_params
from app.core.responses import page_response
from app.groups.access import Loaded, Member, ObjectKind, Reader, object_access
from app.models import Poll, PollStatus, Role
from app.models.base import table_of
from app.polls import service
from app.polls.schemas import PollClose, PollCreate, PollRead, StanceCast, StanceRead

router = APIRouter(tags=["polls"])

POLL = ObjectKind(table_of(Poll), "Poll", Poll)
PollFor = object_access(POLL, "poll_id")
# Observers read; members answer (and take the group lock); the author or a moderator closes.
PollReader = Annotated[Loaded[Poll], PollFor(Role.observer)]
PollVoter = Annotated[Loaded[Poll], PollFor(Role.member)]
Paging = Annotated[PageParams, Depends(page_params)]


async def _closer(poll: PollVoter) -> Loaded[Poll]:
    if not service.may_close(poll.ctx, poll.obj):
        raise Forbidden("Only the poll's author or a moderator closes it")
    return poll


PollCloser = Annotated[Loaded[Poll], Depends(_closer)]


def _shown(read: PollRead, poll: Poll, response: Response) -> PollRead:
    set_etag(response, poll.version)
    return read


@router.post(
    "/groups/{group_id}/polls", status_code=status.HTTP_201_CREATED, response_model=PollRead
)
async def create_poll(
    data: PollCreate, ctx: Member, session: SessionDep, response: Response
) -> PollRead:
    """Members and up open polls; records `poll.opened` (members are notified)."""
    poll = await service.create_poll(session=session, ctx=ctx, data=data)
    return _shown(await service.read(session, poll, ctx.user.id), poll, response)


@router.get("/groups/{group_id}/polls", response_model=Page[PollRead])
async def list_polls(
    ctx: Reader,
    session: SessionDep,
    page: Paging,
    status: Annotated[PollStatus | None, Query()] = None,
    meeting_id: Annotated[uuid.UUID | None, Query()] = None,
    proposal_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    """Newest first; results as each poll shows them to the caller."""
    items, cursor = await service.list_polls(
        session=session,
        ctx=ctx,
        page=page,
        status=status,
        meeting_id=meeting_id,
        proposal_id=proposal_id,
    )
    return page_response([i.model_dump(mode="json") for i in items], cursor)


@router.get("/polls/{poll_id}", response_model=PollRead)
async def get_poll(poll: PollReader, session: SessionDep, response: Response) -> PollRead:
    """`results` is null unless the poll shows them to the caller (`results_shown`)."""
    return _shown(await service.read(session, poll.obj, poll.ctx.user.id), poll.obj, response)


@router.put("/polls/{poll_id}/stance", response_model=PollRead)
async def cast_stance(
    poll: PollVoter, data: StanceCast, session: SessionDep, response: Response
) -> PollRead:
    """Answer, or change the answer, until the poll closes (then 409); observers 403."""
    await service.cast_stance(session=session, ctx=poll.ctx, poll=poll.obj, data=data)
    return _shown(await service.read(session, poll.obj, poll.ctx.user.id), poll.obj, response)


@router.get("/polls/{poll_id}/stances", response_model=Page[StanceRead])
async def list_stances(poll: PollReader, session: SessionDep, page: Paging) -> Response:
    """Who chose what, where the results are visible to the caller; 403 on an anonymous
    poll, for everyone."""
    items, cursor = await service.list_stances(
        session=session, ctx=poll.ctx, poll=poll.obj, page=page
    )
    return page_response(items, cursor)


@router.post("/polls/{poll_id}/close", response_model=PollRead)
async def close_poll(
    poll: PollCloser, data: PollClose, session: SessionDep, response: Response
) -> PollRead:
    """Close now with the final results (`poll.closed`); a time poll may schedule its best
    slot as a meeting (`create_meeting`)."""
    await service.close_poll(session=session, ctx=poll.ctx, poll=poll.obj, data=data)
    return _shown(await service.read(session, poll.obj, poll.ctx.user.id), poll.obj, response)
