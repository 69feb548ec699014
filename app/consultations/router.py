from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.consultations import export, queries, service, summary
from app.consultations.deps import (
    QuestionnaireAnswerer,
    QuestionnaireModerator,
    QuestionnaireReader,
    ResponsesReader,
)
from app.consultations.schemas import (
    QuestionnaireCreate,
    QuestionnaireRead,
    QuestionnaireSummary,
    QuestionnaireUpdate,
    ResponseRead,
    ResponseSubmit,
)
from app.core.db import SessionDep
from app.core.deps import IfMatch, check_if_match, set_etag
from app.core.pagination import Page, PageParams, page_params
from app.core.responses import page_response
from app.groups.access import GroupContext, Moderator, Reader
from app.models import Questionnaire, QuestionnaireStatus

router = APIRouter(tags=["consultations"])

Paging = Annotated[PageParams, Depends(page_params)]
Country = Annotated[
    str | None,
    Query(min_length=2, max_length=2, description="ISO 3166-1 alpha-2: only its organizations"),
]


async def _read(
    questionnaire: Questionnaire, ctx: GroupContext, response: Response
) -> QuestionnaireRead:
    set_etag(response, questionnaire.version)
    count = await queries.response_count(ctx.tx.conn, questionnaire.id)
    return service.questionnaire_read(questionnaire, count)


@router.post(
    "/groups/{group_id}/questionnaires",
    status_code=status.HTTP_201_CREATED,
    response_model=QuestionnaireRead,
)
async def create_questionnaire(
    data: QuestionnaireCreate, ctx: Moderator, session: SessionDep, response: Response
) -> QuestionnaireRead:
    """Moderators draft a questionnaire (`draft`); its questions get the ids `q1`, `q2`, … in
    order. A question's `kind` defaults to `text`, a scale's `scale_max` to 5. Records
    `questionnaire.created`."""
    questionnaire = await service.create_questionnaire(session=session, ctx=ctx, data=data)
    return await _read(questionnaire, ctx, response)


@router.get("/groups/{group_id}/questionnaires", response_model=Page[QuestionnaireRead])
async def list_questionnaires(
    ctx: Reader,
    page: Paging,
    status: Annotated[QuestionnaireStatus | None, Query()] = None,
) -> Response:
    """Newest first."""
    items, cursor = await queries.questionnaires_page(
        ctx.tx.conn, group_id=ctx.group.id, status=status, page=page
    )
    return page_response(items, cursor)


@router.get("/questionnaires/{questionnaire_id}", response_model=QuestionnaireRead)
async def get_questionnaire(loaded: QuestionnaireReader, response: Response) -> QuestionnaireRead:
    return await _read(loaded.obj, loaded.ctx, response)


@router.patch("/questionnaires/{questionnaire_id}", response_model=QuestionnaireRead)
async def update_questionnaire(
    loaded: QuestionnaireModerator,
    data: QuestionnaireUpdate,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> QuestionnaireRead:
    """Moderators edit the title and intro at any time, the questions until the first
    response (then 409: answers are keyed by question id). Honours `If-Match`; records
    `questionnaire.updated` with `{field: {old, new}}`."""
    check_if_match(if_match, loaded.obj.version)
    questionnaire = await service.update_questionnaire(
        session=session, ctx=loaded.ctx, questionnaire=loaded.obj, data=data
    )
    return await _read(questionnaire, loaded.ctx, response)


@router.post("/questionnaires/{questionnaire_id}/open", response_model=QuestionnaireRead)
async def open_questionnaire(
    loaded: QuestionnaireModerator, session: SessionDep, response: Response
) -> QuestionnaireRead:
    """`draft → open` (409 from any other status); records `questionnaire.opened`."""
    questionnaire = await service.move(
        session=session, ctx=loaded.ctx, questionnaire=loaded.obj, to=QuestionnaireStatus.open
    )
    return await _read(questionnaire, loaded.ctx, response)


@router.post("/questionnaires/{questionnaire_id}/close", response_model=QuestionnaireRead)
async def close_questionnaire(
    loaded: QuestionnaireModerator, session: SessionDep, response: Response
) -> QuestionnaireRead:
    """`open → closed` (409 from any other status); records `questionnaire.closed`. A closed
    questionnaire takes no more responses."""
    questionnaire = await service.move(
        session=session, ctx=loaded.ctx, questionnaire=loaded.obj, to=QuestionnaireStatus.closed
    )
    return await _read(questionnaire, loaded.ctx, response)


@router.post(
    "/questionnaires/{questionnaire_id}/responses",
    status_code=status.HTTP_201_CREATED,
    response_model=ResponseRead,
    responses={200: {"model": ResponseRead, "description": "The organization's answers replaced"}},
)
async def submit_response(
    loaded: QuestionnaireAnswerer, data: ResponseSubmit, session: SessionDep, response: Response
) -> ResponseRead:
    """One response per organization, while the questionnaire is `open` (409 otherwise): 201
    for the first, 200 when a later submission replaces its answers. A member answers for
    the organization of their membership (403 for another); a moderator may answer for any
    member organization of the group (422 for one that is not), which records an interview
    (`interviewed_by`). Answers are checked per kind (422 naming each wrong one, required
    questions included). Records `response.submitted` with ids only (never the answers)."""
    saved, created = await service.submit_response(
        session=session, ctx=loaded.ctx, questionnaire=loaded.obj, data=data
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return ResponseRead.model_validate(saved)


@router.get("/questionnaires/{questionnaire_id}/responses", response_model=Page[ResponseRead])
async def list_responses(loaded: ResponsesReader, page: Paging) -> Response:
    """Moderators read the responses one by one, oldest first."""
    items, cursor = await queries.responses_page(
        loaded.ctx.tx.conn,
        group_id=loaded.ctx.group.id,
        questionnaire_id=loaded.obj.id,
        page=page,
    )
    return page_response(items, cursor)


@router.get(
    "/questionnaires/{questionnaire_id}/responses.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "RFC 4180 CSV, UTF-8"}},
)
async def export_responses(loaded: ResponsesReader) -> Response:
    """Moderators: one row per response with the columns
    `response_id,organization_id,organization,country,submitted_by,interviewed_by,updated_at`
    and then one per question (`q1: <text>`, …); a multiple-choice answer's options are
    joined by `; `, an empty cell is no answer. Cells a spreadsheet would run as formulas
    start with an apostrophe."""
    text = await export.responses_csv(loaded.ctx.tx.conn, loaded.obj)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="responses.csv"'},
    )


@router.get("/questionnaires/{questionnaire_id}/summary", response_model=QuestionnaireSummary)
async def summarize(
    loaded: QuestionnaireReader,
    country: Country = None,
    focus_area_id: Annotated[
        uuid.UUID | None, Query(description="only the questions of this focus area")
    ] = None,
) -> QuestionnaireSummary:
    """Readers of the group: per question, counts per option (single, multiple), mean and
    histogram (scale), how many answered (every kind; texts are not shown). Response rate
    overall and per country: member organizations that responded / member organizations
    (the distinct organizations of the group's memberships). `country` keeps the responses
    and member organizations of that country; `focus_area_id` the questions of that area."""
    return await summary.summarize(
        ctx=loaded.ctx,
        questionnaire=loaded.obj,
        country=country.upper() if country else None,
        focus_area_id=focus_area_id,
    )
