"""Questionnaires: drafting, opening and closing, and the one response per organization.

A questionnaire is `draft → open → closed` (TRANSITIONS; anything else is 409). Its questions
may change until the first response; from then on they are frozen (409), since a response's
answers are keyed by question id and the diagnosis points at them (app/diagnosis/).

Who answers: a member for the organization their membership names (403 for another); a
moderator for any member organization of the group, which records an interview
(`interviewed_by`). A later submission for the same organization replaces its answers while
the questionnaire is open. `response.submitted` carries ids only, never the answers: events
reach every reader of the group and its webhooks, and interviews may say things about an
organization that only moderators should read (GET …/responses).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.consultations import answers, queries
from app.consultations.schemas import (
    QuestionIn,
    QuestionnaireCreate,
    QuestionnaireRead,
    QuestionnaireUpdate,
    ResponseSubmit,
)
from app.core.changes import apply_changes
from app.core.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from app.groups.access import GroupContext
from app.models import (
    Questionnaire,
    QuestionnaireResponse,
    QuestionnaireStatus,
    Role,
)
from app.models.base import utcnow

S = QuestionnaireStatus
# (from, to) → the event that records the move; every other move is 409.
TRANSITIONS: dict[tuple[QuestionnaireStatus, QuestionnaireStatus], str] = {
    (S.draft, S.open): "questionnaire.opened",
    (S.open, S.closed): "questionnaire.closed",
}
SUBJECT = "questionnaire"


def _invalid(loc: list[str | int], msg: str) -> ValidationFailed:
    return ValidationFailed(msg, errors=[{"loc": ["body", *map(str, loc)], "msg": msg}])


async def _questions(ctx: GroupContext, given: list[QuestionIn]) -> list[dict[str, Any]]:
    """The questions as stored, with ids q1, q2, … in order; 422 for a focus area that is not
    the group's (one statement for all of them)."""
    wanted = {q.focus_area_id for q in given if q.focus_area_id is not None}
    known = await queries.areas_of_group(ctx.tx.conn, ctx.group.id, wanted)
    for i, question in enumerate(given):
        if question.focus_area_id is not None and question.focus_area_id not in known:
            raise _invalid(["questions", i, "focus_area_id"], "no such focus area in this group")
    return [
        {"id": f"q{i}", **question.model_dump(mode="json")} for i, question in enumerate(given, 1)
    ]


def questionnaire_read(questionnaire: Questionnaire, response_count: int) -> QuestionnaireRead:
    fields = {name: getattr(questionnaire, name) for name in Questionnaire.model_fields}
    return QuestionnaireRead.model_validate({**fields, "response_count": response_count})


def _data(questionnaire: Questionnaire) -> dict[str, Any]:
    """The questionnaire as events carry it (its response count changes without an event of
    its own: `response.submitted` tells)."""
    read = questionnaire_read(questionnaire, 0)
    return read.model_dump(mode="json", exclude={"response_count"})


async def _record(
    ctx: GroupContext, questionnaire: Questionnaire, type: str, data: dict[str, Any]
) -> None:
    await ctx.record(type, subject_type=SUBJECT, subject_id=questionnaire.id, data=data)


async def create_questionnaire(
    *, session: AsyncSession, ctx: GroupContext, data: QuestionnaireCreate
) -> Questionnaire:
    """A new questionnaire in `draft`."""
    questionnaire = Questionnaire(
        group_id=ctx.group.id,
        title=data.title,
        intro=data.intro,
        questions=await _questions(ctx, data.questions),
        created_by=ctx.user.id,
    )
    session.add(questionnaire)
    await session.flush()
    await _record(
        ctx, questionnaire, "questionnaire.created", {"questionnaire": _data(questionnaire)}
    )
    return questionnaire


async def update_questionnaire(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    questionnaire: Questionnaire,
    data: QuestionnaireUpdate,
) -> Questionnaire:
    """Title and intro change at any time; questions until the first response (409 after:
    answers are keyed by question id)."""
    changes: dict[str, dict[str, Any]] = {}
    if data.questions is not None:  # given (`not_null`: never null)
        questions = await _questions(ctx, data.questions)
        if questions != questionnaire.questions:
            if await queries.response_count(ctx.tx.conn, questionnaire.id):
                raise Conflict("The questions are frozen: organizations have answered them")
            changes["questions"] = {"old": questionnaire.questions, "new": questions}
            questionnaire.questions = questions
        # The rest of the body applies as any PATCH does.
        rest = data.model_dump(exclude_unset=True, exclude={"questions"})
        data = QuestionnaireUpdate.model_validate(rest)
    changes |= apply_changes(questionnaire, data)
    if changes:
        await session.flush()
        await _record(
            ctx,
            questionnaire,
            "questionnaire.updated",
            {"questionnaire": _data(questionnaire), "changes": changes},
        )
    return questionnaire


async def move(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    questionnaire: Questionnaire,
    to: QuestionnaireStatus,
) -> Questionnaire:
    """`draft → open` (`questionnaire.opened`), `open → closed` (`questionnaire.closed`)."""
    source = questionnaire.status
    event = TRANSITIONS.get((source, to))
    if event is None:
        raise InvalidTransition(f"A {source.value} questionnaire cannot become {to.value}")
    questionnaire.status = to
    if to == S.open:
        questionnaire.opened_at = utcnow()
    else:
        questionnaire.closed_at = utcnow()
    await session.flush()
    await _record(ctx, questionnaire, event, {"questionnaire": _data(questionnaire)})
    return questionnaire


# --- responses ------------------------------------------------------------------------------


async def _interviewer(ctx: GroupContext, organization_id: uuid.UUID) -> uuid.UUID | None:
    """Who interviewed the organization when the caller answers for it: None for their own
    organization, the caller for a moderator answering for another; 403 for a member
    answering for another, 422 for an organization that is not a member of the group."""
    conn, group_id = ctx.tx.conn, ctx.group.id
    if await queries.own_organization(conn, group_id, ctx.user.id) == organization_id:
        return None
    if not ctx.has_role(Role.moderator):
        raise Forbidden("Members answer for their own organization only")
    # One answer for an unknown id and another group's organization: nothing leaks.
    if not await queries.is_member_organization(conn, group_id, organization_id):
        raise _invalid(["organization_id"], "not a member organization of this group")
    return ctx.user.id


async def submit_response(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    questionnaire: Questionnaire,
    data: ResponseSubmit,
) -> tuple[QuestionnaireResponse, bool]:
    """The organization's response, new (True) or replacing its answers (False)."""
    interviewer = await _interviewer(ctx, data.organization_id)
    if questionnaire.status != S.open:
        raise Conflict(f"The questionnaire is {questionnaire.status.value}: it takes no answers")
    stored = answers.normalize(questionnaire.questions, data.answers)
    # The group lock is held (a write), so no other submission for the organization races.
    response = (
        await session.execute(
            select(QuestionnaireResponse).where(
                col(QuestionnaireResponse.questionnaire_id) == questionnaire.id,
                col(QuestionnaireResponse.organization_id) == data.organization_id,
            )
        )
    ).scalar_one_or_none()
    created = response is None
    if response is None:
        response = QuestionnaireResponse(
            questionnaire_id=questionnaire.id,
            group_id=questionnaire.group_id,
            organization_id=data.organization_id,
        )
        session.add(response)
    response.answers = stored
    response.submitted_by, response.interviewed_by = ctx.user.id, interviewer
    response.updated_at = utcnow()
    await session.flush()
    await ctx.record(
        "response.submitted",
        subject_type="response",
        subject_id=response.id,
        data={
            "questionnaire_id": str(questionnaire.id),
            "response_id": str(response.id),
            "organization_id": str(data.organization_id),
            "interviewed_by": str(interviewer) if interviewer else None,
            "created": created,
        },
    )
    return response, created
