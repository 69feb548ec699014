from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.core.pagination import Page, PageParams, page_params
from app.core.responses import json_response, page_response
from app.groups.access import Moderator, Reader
from app.matching import queries, service
from app.matching.schemas import (
    IntroductionCreate,
    IntroductionRead,
    IntroductionStats,
    MatchRead,
    Scope,
    TermRead,
)
from app.matching.taxonomy import TERMS
from app.users.deps import CurrentUser

router = APIRouter(tags=["matching"])
Paging = Annotated[PageParams, Depends(page_params)]

# The taxonomy ships with the code: its one page is built once.
_TAXONOMY = Page[TermRead](
    items=[
        TermRead(id=t.id, label_en=t.label_en, label_es=t.label_es, parent=t.parent) for t in TERMS
    ]
)


@router.get("/taxonomy/technologies", response_model=Page[TermRead])
async def technology_taxonomy(user: CurrentUser) -> Page[TermRead]:
    """The technology terms organizations declare as `offers` and `needs`: broad terms and
    the narrower terms under them (`parent`), with English and Spanish labels. All of it, in
    one page."""
    return _TAXONOMY


@router.get("/groups/{group_id}/matches", response_model=Page[MatchRead])
async def list_matches(
    ctx: Reader,
    page: Paging,
    scope: Annotated[
        Scope,
        Query(
            description="`group`: needs and offers of the group's member organizations; "
            "`registry`: member organizations' needs with any registry organization's offers"
        ),
    ] = Scope.group,
    country: Annotated[
        str | None,
        Query(
            min_length=2,
            max_length=2,
            description="Only pairs with an organization of this country (ISO 3166-1 alpha-2)",
        ),
    ] = None,
    focus_area_id: Annotated[
        uuid.UUID | None,
        Query(
            description="Only pairs with an organization engaged in this focus area: named by "
            "a proposal of the group in it"
        ),
    ] = None,
) -> Response:
    """Pairs of a needing organization (one the group's members represent) and an offering
    one that share a technology term, best first (`score`; the README's Matching section
    explains it). An organization is never paired with itself."""
    items, cursor = await service.list_matches(
        ctx=ctx,
        scope=scope,
        country=country.upper() if country else None,
        focus_area_id=focus_area_id,
        page=page,
    )
    return page_response(items, cursor)


@router.post(
    "/groups/{group_id}/introductions",
    status_code=status.HTTP_201_CREATED,
    response_model=IntroductionRead,
)
async def introduce(data: IntroductionCreate, ctx: Moderator) -> Response:
    """Moderators introduce a needing organization to an offering one: an action item
    "Introduce A and B" owned by the moderator, `match.introduced` recorded, and the group's
    members who represent either organization notified."""
    return json_response(await service.introduce(ctx=ctx, data=data), status_code=201)


@router.get("/groups/{group_id}/introductions", response_model=Page[IntroductionRead])
async def list_introductions(ctx: Reader, page: Paging) -> Response:
    """Newest first, each with its action item's status (null once the item is deleted)."""
    items, cursor = await queries.list_introductions(ctx.tx.conn, ctx.group.id, page)
    return page_response(items, cursor)


@router.get("/groups/{group_id}/introductions/stats", response_model=IntroductionStats)
async def introduction_stats(ctx: Reader) -> IntroductionStats:
    """How many introductions were made, and how their action items stand."""
    return await service.stats(ctx=ctx)
