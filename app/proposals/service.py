"""Proposals: drafting, review through the transition table, endorsements and votes."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.changes import apply_changes
from app.core.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from app.core.pagination import PageParams
from app.diagnosis import links as finding_links
from app.groups.access import GroupContext
from app.models import (
    Endorsement,
    Organization,
    Proposal,
    ProposalState,
    Role,
    Vote,
    VoteChoice,
)
from app.models.base import utcnow
from app.proposals import queries
from app.proposals.schemas import (
    ProposalCreate,
    ProposalRead,
    ProposalUpdate,
    TransitionCreate,
    VoteCast,
    VoteTally,
)
from app.proposals.transitions import (
    AUTHOR_EDITABLE,
    ENDORSABLE,
    FINAL_STATES,
    TABLE,
    VOTABLE,
    allowed_targets,
    may_make,
)
from app.roadmap.queries import ItemRow
from app.roadmap.schemas import ActionItemCreate
from app.roadmap.service import check_links, create_action_item


def _is_author(ctx: GroupContext, author_id: uuid.UUID | None) -> bool:
    return author_id == ctx.user.id and ctx.has_role(Role.member)


def _allowed(
    ctx: GroupContext, state: ProposalState, author_id: uuid.UUID | None
) -> list[ProposalState]:
    """The states the caller may move a proposal in `state` by `author_id` to."""
    return allowed_targets(
        state, is_author=_is_author(ctx, author_id), is_moderator=ctx.has_role(Role.moderator)
    )


def allowed_for(ctx: GroupContext, proposal: Proposal) -> list[ProposalState]:
    return _allowed(ctx, proposal.state, proposal.author_id)


def proposal_read(proposal: Proposal, ctx: GroupContext) -> ProposalRead:
    return ProposalRead.model_validate(proposal).model_copy(
        update={"allowed_transitions": allowed_for(ctx, proposal)}
    )


def _data(proposal: Proposal) -> dict[str, Any]:
    return ProposalRead.model_validate(proposal).model_dump(
        mode="json", exclude={"allowed_transitions"}
    )


async def _event(ctx: GroupContext, proposal: Proposal, type: str, data: dict[str, Any]) -> None:
    await ctx.record(type, subject_type="proposal", subject_id=proposal.id, data=data)


async def _check_refs(
    session: AsyncSession,
    ctx: GroupContext,
    focus_area_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
) -> None:
    await check_links(ctx=ctx, focus_area_id=focus_area_id)
    if organization_id is not None and await session.get(Organization, organization_id) is None:
        raise ValidationFailed(
            "Unknown organization",
            errors=[{"loc": ["body", "organization_id"], "msg": "no such organization"}],
        )


async def create_proposal(
    *, session: AsyncSession, ctx: GroupContext, data: ProposalCreate
) -> Proposal:
    """A new proposal in `draft`, authored by the caller."""
    await _check_refs(session, ctx, data.focus_area_id, data.organization_id)
    conn = await session.connection()
    await finding_links.check_findings(conn, ctx.group.id, data.finding_ids, "finding_ids")
    proposal = Proposal(
        **data.model_dump(exclude={"finding_ids"}), group_id=ctx.group.id, author_id=ctx.user.id
    )
    session.add(proposal)
    await session.flush()
    await finding_links.link(conn, data.finding_ids, "proposal", proposal.id)
    await _event(ctx, proposal, "proposal.created", {"proposal": _data(proposal)})
    return proposal


async def list_proposals(
    *,
    ctx: GroupContext,
    page: PageParams,
    state: ProposalState | None = None,
    focus_area_id: uuid.UUID | None = None,
    author_id: uuid.UUID | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the group's proposals, oldest first, as JSON-ready dicts."""
    rows, cursor = await queries.proposals_page(
        ctx.tx.conn,
        group_id=ctx.group.id,
        page=page,
        state=state,
        focus_area_id=focus_area_id,
        author_id=author_id,
    )
    items = []
    for row in rows:
        item = dict(zip(queries.READ_FIELDS, row, strict=True))
        item["allowed_transitions"] = _allowed(ctx, item["state"], item["author_id"])
        items.append(item)
    return items, cursor


async def update_proposal(
    *, session: AsyncSession, ctx: GroupContext, proposal: Proposal, data: ProposalUpdate
) -> Proposal:
    """Authors edit while `draft` or `submitted`; moderators until a final state."""
    if ctx.has_role(Role.moderator):
        if proposal.state in FINAL_STATES:
            raise Conflict(f"A {proposal.state.value} proposal can no longer be edited")
    elif _is_author(ctx, proposal.author_id):
        if proposal.state not in AUTHOR_EDITABLE:
            raise Conflict("Authors edit their proposal only before its review starts")
    else:
        raise Forbidden("Only the author or a moderator may edit a proposal")
    fields = data.model_dump(exclude_unset=True)
    await _check_refs(
        session,
        ctx,
        fields.get("focus_area_id"),
        fields.get("organization_id"),
    )
    changes = apply_changes(proposal, data)
    if changes:
        await session.flush()
        await _event(
            ctx,
            proposal,
            "proposal.updated",
            {"proposal": _data(proposal), "changes": changes},
        )
    return proposal


async def transition(
    *, session: AsyncSession, ctx: GroupContext, proposal: Proposal, data: TransitionCreate
) -> tuple[Proposal, list[ItemRow]]:
    """Move the proposal along the table; `accepted` may create linked action items in the
    same transaction (a bad item refuses the whole move)."""
    allowed = [s.value for s in allowed_for(ctx, proposal)]
    move = TABLE.get((proposal.state, data.to))
    if move is None:
        raise InvalidTransition(
            f"A {proposal.state.value} proposal cannot move to {data.to.value}",
            extra={"allowed": allowed},
        )
    if not may_make(
        move,
        is_author=_is_author(ctx, proposal.author_id),
        is_moderator=ctx.has_role(Role.moderator),
    ):
        raise Forbidden(
            f"Only the {move.actor.value} may move a {proposal.state.value} proposal to "
            f"{data.to.value}",
            extra={"allowed": allowed},
        )
    if data.action_items and data.to != ProposalState.accepted:
        raise ValidationFailed(
            "Action items can only come with an acceptance",
            errors=[{"loc": ["body", "action_items"], "msg": "only with to: accepted"}],
        )
    source = proposal.state
    now = utcnow()
    proposal.state = data.to
    if data.to == ProposalState.submitted:
        proposal.submitted_at = now
    if data.to in FINAL_STATES:
        proposal.decided_at = now
    await session.flush()
    await _event(
        ctx,
        proposal,
        move.event,
        {
            "proposal": _data(proposal),
            "from": source.value,
            "to": data.to.value,
            "reason": data.reason,
        },
    )
    items: list[ItemRow] = []
    for i, spec in enumerate(data.action_items or []):
        fields = spec.model_dump()
        fields["focus_area_id"] = fields["focus_area_id"] or proposal.focus_area_id
        item_data = ActionItemCreate(**fields, proposal_id=proposal.id)
        items.append(
            await create_action_item(ctx=ctx, data=item_data, field_prefix=f"action_items.{i}.")
        )
    return proposal, items


# --- endorsements and votes -------------------------------------------------------------------


def _require_state(proposal: Proposal, states: frozenset[ProposalState], what: str) -> None:
    if proposal.state not in states:
        names = " or ".join(sorted(s.value for s in states))
        raise Conflict(f"{what} only while the proposal is {names}")


async def _recount_endorsements(session: AsyncSession, proposal: Proposal) -> None:
    # The group lock is held (a write), so the count cannot race another endorsement.
    await session.flush()
    count = (
        await session.execute(
            select(func.count()).where(col(Endorsement.proposal_id) == proposal.id)
        )
    ).scalar_one()
    proposal.endorsement_count = int(count)
    await session.flush()


async def endorse(*, session: AsyncSession, ctx: GroupContext, proposal: Proposal) -> Proposal:
    """Idempotent: endorsing twice is one endorsement (and one event)."""
    _require_state(proposal, ENDORSABLE, "Endorsements are possible")
    if await session.get(Endorsement, (proposal.id, ctx.user.id)) is not None:
        return proposal
    session.add(Endorsement(proposal_id=proposal.id, user_id=ctx.user.id))
    await _recount_endorsements(session, proposal)
    await _event(
        ctx,
        proposal,
        "proposal.endorsed",
        {"proposal_id": str(proposal.id), "endorsement_count": proposal.endorsement_count},
    )
    return proposal


async def withdraw_endorsement(
    *, session: AsyncSession, ctx: GroupContext, proposal: Proposal
) -> Proposal:
    """Idempotent: removing an endorsement that is not there changes nothing."""
    endorsement = await session.get(Endorsement, (proposal.id, ctx.user.id))
    if endorsement is None:
        return proposal
    _require_state(proposal, ENDORSABLE, "Endorsements can be withdrawn")
    await session.delete(endorsement)
    await _recount_endorsements(session, proposal)
    await _event(
        ctx,
        proposal,
        "proposal.endorsement_withdrawn",
        {"proposal_id": str(proposal.id), "endorsement_count": proposal.endorsement_count},
    )
    return proposal


async def cast_vote(
    *, session: AsyncSession, ctx: GroupContext, proposal: Proposal, data: VoteCast
) -> Vote:
    """One vote per member, changeable while under review; the same choice again is a no-op."""
    _require_state(proposal, VOTABLE, "Voting is open")
    vote = await session.get(Vote, (proposal.id, ctx.user.id))
    previous = vote.choice if vote else None
    if vote is not None and vote.choice == data.choice:
        return vote
    if vote is None:
        vote = Vote(proposal_id=proposal.id, user_id=ctx.user.id, choice=data.choice)
        session.add(vote)
    else:
        vote.choice = data.choice
    await session.flush()
    await _event(
        ctx,
        proposal,
        "proposal.voted",
        {
            "proposal_id": str(proposal.id),
            "choice": data.choice.value,
            "previous_choice": previous.value if previous else None,
        },
    )
    return vote


async def tally(*, session: AsyncSession, proposal: Proposal) -> VoteTally:
    stmt = (
        select(col(Vote.choice), func.count())
        .where(col(Vote.proposal_id) == proposal.id)
        .group_by(col(Vote.choice))
    )
    counts: dict[str, int] = {c.value: 0 for c in VoteChoice}
    for choice, n in (await session.execute(stmt)).all():
        counts[VoteChoice(choice).value] = int(n)
    return VoteTally(**counts)
