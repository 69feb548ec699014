from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.comments.router import add_comment_routes
from app.comments.subjects import load_authorized
from app.core.db import SessionDep
from app.core.deps import IfMatch, check_if_match, set_etag
from app.core.pagination import Page, PageParams, page_params
from app.groups.access import GroupContext, GroupMember
from app.models import Proposal, ProposalState, Role, User
from app.proposals import service
from app.proposals.schemas import (
    ProposalCreate,
    ProposalRead,
    ProposalTransitionRead,
    ProposalUpdate,
    TransitionCreate,
    VoteCast,
    VoteRead,
    VoteTally,
)
from app.roadmap.schemas import ActionItemRead
from app.users.deps import CurrentUser

router = APIRouter(tags=["proposals"])

Reader = Annotated[GroupContext, GroupMember(Role.observer)]
Member = Annotated[GroupContext, GroupMember(Role.member)]


async def _load(
    session: AsyncSession, user: User, proposal_id: uuid.UUID, *, write: bool
) -> tuple[Proposal, GroupContext]:
    """Observers read; every write needs at least the member role (and takes the group lock)."""
    return await load_authorized(
        session=session,
        user=user,
        model=Proposal,
        object_id=proposal_id,
        need=Role.member if write else Role.observer,
        write=write,
    )


def _read(proposal: Proposal, ctx: GroupContext, response: Response) -> ProposalRead:
    set_etag(response, proposal.version)
    return service.proposal_read(proposal, ctx)


@router.post(
    "/groups/{group_id}/proposals",
    status_code=status.HTTP_201_CREATED,
    response_model=ProposalRead,
)
async def create_proposal(
    data: ProposalCreate, ctx: Member, session: SessionDep, response: Response
) -> ProposalRead:
    """Members propose; a new proposal is a `draft` only its author may submit."""
    proposal = await service.create_proposal(session=session, ctx=ctx, data=data)
    return _read(proposal, ctx, response)


@router.get("/groups/{group_id}/proposals", response_model=Page[ProposalRead])
async def list_proposals(
    ctx: Reader,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    state: Annotated[ProposalState | None, Query()] = None,
    focus_area_id: Annotated[uuid.UUID | None, Query()] = None,
    author_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[ProposalRead]:
    """Oldest first."""
    rows, cursor = await service.list_proposals(
        session=session,
        group_id=ctx.group.id,
        params=page,
        state=state,
        focus_area_id=focus_area_id,
        author_id=author_id,
    )
    return Page(items=[service.proposal_read(p, ctx) for p in rows], next_cursor=cursor)


@router.get("/proposals/{proposal_id}", response_model=ProposalRead)
async def get_proposal(
    proposal_id: uuid.UUID, user: CurrentUser, session: SessionDep, response: Response
) -> ProposalRead:
    proposal, ctx = await _load(session, user, proposal_id, write=False)
    return _read(proposal, ctx, response)


@router.patch("/proposals/{proposal_id}", response_model=ProposalRead)
async def update_proposal(
    proposal_id: uuid.UUID,
    data: ProposalUpdate,
    user: CurrentUser,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> ProposalRead:
    """The author edits while `draft` or `submitted` (409 later); moderators edit until the
    proposal is accepted, rejected or withdrawn. Honours `If-Match`."""
    proposal, ctx = await _load(session, user, proposal_id, write=True)
    check_if_match(if_match, proposal.version)
    proposal = await service.update_proposal(session=session, ctx=ctx, proposal=proposal, data=data)
    return _read(proposal, ctx, response)


@router.post("/proposals/{proposal_id}/transitions", response_model=ProposalTransitionRead)
async def transition_proposal(
    proposal_id: uuid.UUID,
    data: TransitionCreate,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
) -> ProposalTransitionRead:
    """Move the proposal: `draft → submitted` (author) · `submitted → under_review`
    (moderator) · `under_review → accepted | rejected` (moderator) ·
    `draft | submitted | under_review → withdrawn` (author).

    A move not in this table is 409, a move of the table made by someone else than its actor
    is 403; both answer `allowed`: the states this caller may move the proposal to.
    `accepted` may carry `action_items`, created linked to the proposal in the same
    transaction: one bad item (e.g. an owner who is not a member) is a 422 and nothing
    changes. Records `proposal.submitted` for the submission, `proposal.state_changed` for
    every other move (`data.from`, `data.to`, `data.reason`)."""
    proposal, ctx = await _load(session, user, proposal_id, write=True)
    proposal, items = await service.transition(
        session=session, ctx=ctx, proposal=proposal, data=data
    )
    read = _read(proposal, ctx, response)
    return ProposalTransitionRead(
        **read.model_dump(), action_items=[ActionItemRead.model_validate(i) for i in items]
    )


@router.put("/proposals/{proposal_id}/endorsement", response_model=ProposalRead)
async def endorse(
    proposal_id: uuid.UUID, user: CurrentUser, session: SessionDep, response: Response
) -> ProposalRead:
    """Endorse (idempotent) while `submitted` or `under_review`; 409 otherwise."""
    proposal, ctx = await _load(session, user, proposal_id, write=True)
    proposal = await service.endorse(session=session, ctx=ctx, proposal=proposal)
    return _read(proposal, ctx, response)


@router.delete("/proposals/{proposal_id}/endorsement", status_code=status.HTTP_204_NO_CONTENT)
async def withdraw_endorsement(
    proposal_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> None:
    """Take the caller's endorsement back (idempotent: 204 when there is none)."""
    proposal, ctx = await _load(session, user, proposal_id, write=True)
    await service.withdraw_endorsement(session=session, ctx=ctx, proposal=proposal)


@router.put("/proposals/{proposal_id}/vote", response_model=VoteRead)
async def vote(
    proposal_id: uuid.UUID, data: VoteCast, user: CurrentUser, session: SessionDep
) -> VoteRead:
    """One vote per member, changeable while `under_review` (409 in any other state)."""
    proposal, ctx = await _load(session, user, proposal_id, write=True)
    cast = await service.cast_vote(session=session, ctx=ctx, proposal=proposal, data=data)
    return VoteRead.model_validate(cast)


@router.get("/proposals/{proposal_id}/votes", response_model=VoteTally)
async def votes(proposal_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> VoteTally:
    """The tally: how many members chose yes, no and abstain."""
    proposal, _ = await _load(session, user, proposal_id, write=False)
    return await service.tally(session=session, proposal=proposal)


add_comment_routes(
    router, prefix="/proposals", param="proposal_id", model=Proposal, subject_type="proposal"
)
