from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.comments.router import add_comment_routes
from app.core.db import SessionDep
from app.core.deps import IfMatch, check_if_match, set_etag
from app.core.pagination import Page, PageParams, page_params
from app.core.responses import page_response
from app.groups.access import GroupContext, Loaded, Member, ObjectKind, Reader, object_access
from app.models import Proposal, ProposalState, Role
from app.models.base import table_of
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

router = APIRouter(tags=["proposals"])

PROPOSAL = ObjectKind(table_of(Proposal), "Proposal", Proposal)
ProposalFor = object_access(PROPOSAL, "proposal_id")
# Observers read; every write needs at least the member role (and takes the group lock).
ProposalReader = Annotated[Loaded[Proposal], ProposalFor(Role.observer)]
ProposalWriter = Annotated[Loaded[Proposal], ProposalFor(Role.member)]


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
    page: Annotated[PageParams, Depends(page_params)],
    state: Annotated[ProposalState | None, Query()] = None,
    focus_area_id: Annotated[uuid.UUID | None, Query()] = None,
    author_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    """Oldest first."""
    items, cursor = await service.list_proposals(
        ctx=ctx, page=page, state=state, focus_area_id=focus_area_id, author_id=author_id
    )
    return page_response(items, cursor)


@router.get("/proposals/{proposal_id}", response_model=ProposalRead)
async def get_proposal(proposal: ProposalReader, response: Response) -> ProposalRead:
    return _read(proposal.obj, proposal.ctx, response)


@router.patch("/proposals/{proposal_id}", response_model=ProposalRead)
async def update_proposal(
    loaded: ProposalWriter,
    data: ProposalUpdate,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> ProposalRead:
    """The author edits while `draft` or `submitted` (409 later); moderators edit until the
    proposal is accepted, rejected or withdrawn. Honours `If-Match`."""
    proposal, ctx = loaded.obj, loaded.ctx
    check_if_match(if_match, proposal.version)
    proposal = await service.update_proposal(session=session, ctx=ctx, proposal=proposal, data=data)
    return _read(proposal, ctx, response)


@router.post("/proposals/{proposal_id}/transitions", response_model=ProposalTransitionRead)
async def transition_proposal(
    loaded: ProposalWriter,
    data: TransitionCreate,
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
    proposal, ctx = loaded.obj, loaded.ctx
    proposal, items = await service.transition(
        session=session, ctx=ctx, proposal=proposal, data=data
    )
    read = _read(proposal, ctx, response)
    return ProposalTransitionRead(
        **read.model_dump(), action_items=[ActionItemRead.model_validate(i) for i in items]
    )


@router.put("/proposals/{proposal_id}/endorsement", response_model=ProposalRead)
async def endorse(loaded: ProposalWriter, session: SessionDep, response: Response) -> ProposalRead:
    """Endorse (idempotent) while `submitted` or `under_review`; 409 otherwise."""
    proposal = await service.endorse(session=session, ctx=loaded.ctx, proposal=loaded.obj)
    return _read(proposal, loaded.ctx, response)


@router.delete("/proposals/{proposal_id}/endorsement", status_code=status.HTTP_204_NO_CONTENT)
async def withdraw_endorsement(loaded: ProposalWriter, session: SessionDep) -> None:
    """Take the caller's endorsement back (idempotent: 204 when there is none)."""
    await service.withdraw_endorsement(session=session, ctx=loaded.ctx, proposal=loaded.obj)


@router.put("/proposals/{proposal_id}/vote", response_model=VoteRead)
async def vote(loaded: ProposalWriter, data: VoteCast, session: SessionDep) -> VoteRead:
    """One vote per member, changeable while `under_review` (409 in any other state)."""
    cast = await service.cast_vote(session=session, ctx=loaded.ctx, proposal=loaded.obj, data=data)
    return VoteRead.model_validate(cast)


@router.get("/proposals/{proposal_id}/votes", response_model=VoteTally)
async def votes(loaded: ProposalReader, session: SessionDep) -> VoteTally:
    """The tally: how many members chose yes, no and abstain."""
    return await service.tally(session=session, proposal=loaded.obj)


add_comment_routes(
    router, kind=PROPOSAL, subject_type="proposal", prefix="/proposals", param="proposal_id"
)
