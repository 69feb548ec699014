"""Demo proposals from the founding meeting, in different states (idempotent).

The training programme is accepted into a roadmap of action items (app/roadmap/demo.py); the
regional catalogue is under review with endorsements and votes; the joint visibility on the
map is submitted; exchange missions are still a draft. Everything goes through the services,
so the group's event history shows it all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.groups.access import GroupContext, context_for
from app.groups.focus_areas import list_focus_areas
from app.groups.service import membership_of
from app.models import Group, Proposal, ProposalState, User, VoteChoice
from app.proposals import service
from app.proposals.schemas import ProposalCreate, TransitionCreate, VoteCast
from app.roadmap.demo import TRAINING_ROADMAP, DemoItem, bring_up_to_date
from app.roadmap.schemas import ActionItemFields

S = ProposalState
MODERATOR = "moderator@demo.wghub.dev"  # app/demo.py DEMO_USERS


@dataclass(frozen=True)
class DemoProposal:
    title: str
    body: str
    author_email: str
    area_index: int  # into the group's focus areas, in order
    state: ProposalState
    endorsers: tuple[str, ...] = ()
    votes: tuple[tuple[str, VoteChoice], ...] = ()
    roadmap: list[DemoItem] = field(default_factory=list)


PROPOSALS = [
    DemoProposal(
        "Training programme for the network of digital clusters",
        "Raised at the founding meeting: cluster managers and member companies outside the "
        "digital sector lack the skills to adopt digital technologies.\n\n"
        "**Proposal.** A regional training programme run by the digital clusters for clusters "
        "of other sectors: a common curriculum, shared trainers and an online platform, with a "
        "first cohort of two clusters per country.",
        "promoter.co@demo.wghub.dev",
        0,
        S.accepted,
        endorsers=("promoter.ar@demo.wghub.dev", "promoter.mx@demo.wghub.dev"),
        votes=(
            ("promoter.ar@demo.wghub.dev", VoteChoice.yes),
            ("promoter.cr@demo.wghub.dev", VoteChoice.yes),
            ("promoter.cu@demo.wghub.dev", VoteChoice.yes),
            ("promoter.mx@demo.wghub.dev", VoteChoice.abstain),
        ),
        roadmap=TRAINING_ROADMAP,
    ),
    DemoProposal(
        "Regional catalogue of digital solutions offered by the clusters",
        "The diagnosis found strong supply capacities that buyers in the region do not know.\n\n"
        "**Proposal.** A searchable regional catalogue of the digital solutions offered by the "
        "member companies of each cluster, by sector and country, kept up to date by the "
        "clusters themselves.",
        "promoter.mx@demo.wghub.dev",
        1,
        S.under_review,
        endorsers=("promoter.co@demo.wghub.dev", "promoter.cu@demo.wghub.dev"),
        votes=(
            ("promoter.co@demo.wghub.dev", VoteChoice.yes),
            ("promoter.ar@demo.wghub.dev", VoteChoice.no),
        ),
    ),
    DemoProposal(
        "Joint visibility of cluster initiatives on the platform's map",
        "**Proposal.** Show every cluster initiative of the network on the platform's map, with "
        "its sectors and contact point, and a joint calendar of their events, so that clusters "
        "find each other and interact.",
        "promoter.cr@demo.wghub.dev",
        2,
        S.submitted,
        endorsers=("promoter.ar@demo.wghub.dev",),
    ),
    DemoProposal(
        "Exchange missions between clusters",
        "Short visits of cluster managers to another country's cluster, to learn from each "
        "other's services. (Draft: costs and dates still to be worked out.)",
        "promoter.cu@demo.wghub.dev",
        2,
        S.draft,
    ),
]

# The path to each state: (target, moved by the author or the moderator).
_PATH = {
    S.draft: [],
    S.submitted: [(S.submitted, "author")],
    S.under_review: [(S.submitted, "author"), (S.under_review, "moderator")],
    S.accepted: [(S.submitted, "author"), (S.under_review, "moderator"), (S.accepted, "moderator")],
}


async def _user(session: AsyncSession, email: str) -> User:
    return (await session.execute(select(User).where(col(User.email) == email))).scalar_one()


async def _ctx(session: AsyncSession, group: Group, email: str) -> GroupContext:
    user = await _user(session, email)
    return await context_for(session, group_id=group.id, user_id=user.id)


async def _organization_of(
    session: AsyncSession, group: Group, ctx: GroupContext
) -> uuid.UUID | None:
    membership = await membership_of(session, group.id, ctx.user.id)
    return membership.organization_id if membership else None


async def _seed_one(session: AsyncSession, group: Group, spec: DemoProposal) -> None:
    areas = await list_focus_areas(conn=await session.connection(), group_id=group.id)
    author = await _ctx(session, group, spec.author_email)
    moderator = await _ctx(session, group, MODERATOR)
    area = areas[spec.area_index] if spec.area_index < len(areas) else None
    proposal = await service.create_proposal(
        session=session,
        ctx=author,
        data=ProposalCreate(
            title=spec.title,
            body=spec.body,
            focus_area_id=area.id if area else None,
            organization_id=await _organization_of(session, group, author),
        ),
    )
    for target, who in _PATH[spec.state]:
        ctx = author if who == "author" else moderator
        items = None
        if target == S.accepted and spec.roadmap:
            items = [await _item_fields(session, s) for s in spec.roadmap]
        _, created = await service.transition(
            session=session,
            ctx=ctx,
            proposal=proposal,
            data=TransitionCreate(to=target, reason=None, action_items=items),
        )
        if target == S.submitted:  # endorsements open with the submission
            for email in spec.endorsers:
                await service.endorse(
                    session=session, ctx=await _ctx(session, group, email), proposal=proposal
                )
        if target == S.under_review:  # votes open with the review
            for email, choice in spec.votes:
                await service.cast_vote(
                    session=session,
                    ctx=await _ctx(session, group, email),
                    proposal=proposal,
                    data=VoteCast(choice=choice),
                )
        if created:
            await bring_up_to_date(ctx=moderator, items=created, specs=spec.roadmap)


async def _item_fields(session: AsyncSession, spec: DemoItem) -> ActionItemFields:
    """A roadmap item as the acceptance creates it (its focus area is the proposal's)."""
    owner = await _user(session, spec.owner_email)
    return ActionItemFields(
        title=spec.title, owner_id=owner.id, due_date=spec.due_date, priority=spec.priority
    )


async def seed_proposals(session: AsyncSession, group: Group) -> None:
    """The demo proposals that are not there yet (matched by title), in their states."""
    existing = set(
        (
            await session.execute(
                select(col(Proposal.title)).where(col(Proposal.group_id) == group.id)
            )
        ).scalars()
    )
    for spec in PROPOSALS:
        if spec.title not in existing:
            await _seed_one(session, group, spec)
