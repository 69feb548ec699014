"""Demo consultation: the interviews of June 2026 with the digital clusters of Argentina,
Colombia, Costa Rica and Ecuador, as a closed questionnaire.

The moderator recorded each interview on the cluster's behalf (`interviewed_by`), through the
same services as the API; the diagnosis (app/diagnosis/) points its findings at these answers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.consultations import service
from app.consultations.schemas import QuestionIn, QuestionnaireCreate, ResponseSubmit
from app.groups.access import context_for
from app.groups.focus_areas import list_focus_areas
from app.models import (
    Group,
    Organization,
    QuestionKind,
    Questionnaire,
    QuestionnaireStatus,
    User,
)

TITLE = "Interviews with the digital clusters — June 2026"
INTERVIEWER = "moderator@demo.wghub.dev"
BARRIERS = [
    "Cost of the solutions",
    "Lack of digital skills",
    "Little awareness of the benefits",
    "Connectivity and infrastructure",
    "Access to finance",
]
OFFERS = [
    "Cloud services",
    "Data analytics",
    "Artificial intelligence",
    "Internet of things",
    "Cybersecurity",
    "ERP and management software",
    "E-commerce",
    "Digital training",
]
COOPERATION = ["Yes, on a joint project", "Yes, occasional contacts", "No"]


def _questions(areas: list[Any]) -> list[QuestionIn]:
    """Adoption barriers, supply capacities and visibility: the three focus areas, in order."""
    adoption, supply, visibility = (a.id for a in areas[:3])
    return [
        QuestionIn(
            text="What most keeps companies of other clusters from adopting digital technologies?",
            kind=QuestionKind.single,
            options=BARRIERS,
            focus_area_id=adoption,
            required=True,
        ),
        QuestionIn(
            text="Which digital technologies can your cluster's companies supply to other sectors?",
            kind=QuestionKind.multiple,
            options=OFFERS,
            focus_area_id=supply,
            required=True,
        ),
        QuestionIn(
            text="How ready are your companies to serve clients in other countries of the "
            "region? (1 not at all, 5 fully)",
            kind=QuestionKind.scale,
            scale_max=5,
            focus_area_id=supply,
        ),
        QuestionIn(
            text="How well do the other clusters of the region know yours? (1 not at all, "
            "5 very well)",
            kind=QuestionKind.scale,
            scale_max=5,
            focus_area_id=visibility,
            required=True,
        ),
        QuestionIn(
            text="Has your cluster worked with a digital cluster of another country in the "
            "last two years?",
            kind=QuestionKind.single,
            options=COOPERATION,
            focus_area_id=visibility,
        ),
        QuestionIn(text="What should the working group do first?", kind=QuestionKind.text),
    ]


# Cluster → its answers (q1 … q6), as the interviews went.
INTERVIEWS: dict[str, dict[str, Any]] = {
    "Buenos Aires IT Cluster": {
        "q1": BARRIERS[1],
        "q2": [OFFERS[0], OFFERS[1], OFFERS[2], OFFERS[5]],
        "q3": 4,
        "q4": 2,
        "q5": COOPERATION[1],
        "q6": "A regional catalogue of what each cluster offers, so clients find us.",
    },
    "Medellín Digital Economy Cluster": {
        "q1": BARRIERS[2],
        "q2": [OFFERS[1], OFFERS[6], OFFERS[7]],
        "q3": 3,
        "q4": 3,
        "q5": COOPERATION[0],
        "q6": "Training for companies of traditional sectors, with cases they recognise.",
    },
    "Costa Rica ICT Cluster": {
        "q1": BARRIERS[0],
        "q2": [OFFERS[0], OFFERS[3], OFFERS[4]],
        "q3": 5,
        "q4": 2,
        "q5": COOPERATION[1],
        "q6": "Exchange missions between clusters of different countries.",
    },
    "Quito Digital Cluster": {
        "q1": BARRIERS[4],
        "q2": [OFFERS[6], OFFERS[7]],
        "q3": 2,
        "q4": 1,
        "q5": COOPERATION[2],
        "q6": "Make the smaller clusters visible on the network's map.",
    },
}


async def seed_interviews(session: AsyncSession, group: Group) -> Questionnaire:
    """The closed questionnaire of the June interviews with their answers, unless it exists."""
    existing = (
        await session.execute(
            select(Questionnaire).where(
                col(Questionnaire.group_id) == group.id, col(Questionnaire.title) == TITLE
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    interviewer = (
        await session.execute(select(User).where(col(User.email) == INTERVIEWER))
    ).scalar_one()
    ctx = await context_for(session, group_id=group.id, user_id=interviewer.id)
    areas = await list_focus_areas(conn=await session.connection(), group_id=group.id)
    questionnaire = await service.create_questionnaire(
        session=session,
        ctx=ctx,
        data=QuestionnaireCreate(
            title=TITLE,
            intro="Interviews with the cluster initiatives that convened the working group: "
            "what keeps other sectors from adopting digital technologies, what the clusters "
            "can supply, and how well they know each other.",
            questions=_questions(areas),
        ),
    )
    await service.move(
        session=session, ctx=ctx, questionnaire=questionnaire, to=QuestionnaireStatus.open
    )
    names = (
        await session.execute(
            select(col(Organization.name), col(Organization.id)).where(
                col(Organization.name).in_(INTERVIEWS)
            )
        )
    ).all()
    ids = dict(names)
    for name, answers in INTERVIEWS.items():
        await service.submit_response(
            session=session,
            ctx=ctx,
            questionnaire=questionnaire,
            data=ResponseSubmit(organization_id=ids[name], answers=answers),
        )
    await service.move(
        session=session, ctx=ctx, questionnaire=questionnaire, to=QuestionnaireStatus.closed
    )
    return questionnaire
