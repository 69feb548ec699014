"""Demo diagnosis: the findings the June interviews showed, one area at a time, each backed by
the answers that showed it; a snapshot of it; and the training programme proposal linked to
the adoption finding, so its trace runs from the interviews to the roadmap (idempotent)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.consultations.demo import INTERVIEWER, INTERVIEWS
from app.diagnosis import links, service
from app.diagnosis.schemas import EvidenceIn, FindingCreate, SnapshotCreate
from app.groups.access import context_for
from app.groups.focus_areas import list_focus_areas
from app.models import (
    Finding,
    FindingKind,
    Group,
    Organization,
    Proposal,
    Questionnaire,
    QuestionnaireResponse,
    User,
)
from app.proposals.demo import PROPOSALS

SNAPSHOT_LABEL = "Preliminary diagnosis — July 2026"
TRAINING_TITLE = PROPOSALS[0].title

# (title, kind, focus area index, question, clusters whose answers back it)
FINDINGS = [
    (
        "Companies of other sectors do not see what digital technologies would do for them",
        FindingKind.barrier,
        0,
        "q1",
        ["Buenos Aires IT Cluster", "Medellín Digital Economy Cluster", "Costa Rica ICT Cluster"],
    ),
    (
        "Digital training is offered by few clusters and asked for by many",
        FindingKind.need,
        0,
        "q6",
        ["Medellín Digital Economy Cluster", "Quito Digital Cluster"],
    ),
    (
        "A broad supply: cloud, data analytics, e-commerce and training across four countries",
        FindingKind.strength,
        1,
        "q2",
        list(INTERVIEWS),
    ),
    (
        "The clusters barely know each other across borders",
        FindingKind.barrier,
        2,
        "q4",
        ["Buenos Aires IT Cluster", "Costa Rica ICT Cluster", "Quito Digital Cluster"],
    ),
    (
        "A regional catalogue and map would let clients find the clusters",
        FindingKind.opportunity,
        2,
        "q6",
        ["Buenos Aires IT Cluster", "Quito Digital Cluster"],
    ),
]


async def seed_diagnosis(session: AsyncSession, group: Group, questionnaire: Questionnaire) -> None:
    exists = (
        await session.execute(
            select(col(Finding.id)).where(col(Finding.group_id) == group.id).limit(1)
        )
    ).first()
    if exists is not None:
        return
    moderator = (
        await session.execute(select(User).where(col(User.email) == INTERVIEWER))
    ).scalar_one()
    ctx = await context_for(session, group_id=group.id, user_id=moderator.id)
    areas = await list_focus_areas(conn=await session.connection(), group_id=group.id)
    rows = await session.execute(
        select(col(Organization.name), col(QuestionnaireResponse.id))
        .join(Organization, col(Organization.id) == col(QuestionnaireResponse.organization_id))
        .where(col(QuestionnaireResponse.questionnaire_id) == questionnaire.id)
    )
    response_of = {name: response_id for name, response_id in rows.all()}
    made = []
    for title, kind, area, question, clusters in FINDINGS:
        evidence = [
            EvidenceIn(response_id=response_of[c], question_id=question)
            for c in clusters
            if c in response_of
        ]
        made.append(
            await service.create_finding(
                session=session,
                ctx=ctx,
                data=FindingCreate(
                    title=title, kind=kind, focus_area_id=areas[area].id, evidence=evidence
                ),
            )
        )
    await service.take_snapshot(session=session, ctx=ctx, data=SnapshotCreate(label=SNAPSHOT_LABEL))
    training = (
        await session.execute(
            select(col(Proposal.id)).where(
                col(Proposal.group_id) == group.id, col(Proposal.title) == TRAINING_TITLE
            )
        )
    ).scalar_one_or_none()
    if training is not None:
        await links.link(await session.connection(), [made[1].id], "proposal", training)
