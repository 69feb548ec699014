from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.core.db import SessionDep
from app.core.deps import IfMatch, check_if_match, set_etag
from app.core.pagination import Page, PageParams, page_params
from app.core.responses import page_response
from app.diagnosis import service
from app.diagnosis.schemas import (
    Diagnosis,
    FindingCreate,
    FindingRead,
    FindingUpdate,
    SnapshotBrief,
    SnapshotCreate,
    SnapshotRead,
    Trace,
)
from app.groups.access import Loaded, Moderator, ObjectKind, Reader, object_access
from app.models import DiagnosisSnapshot, Finding, FindingKind, Role
from app.models.base import table_of

router = APIRouter(tags=["diagnosis"])

FINDING = ObjectKind(table_of(Finding), "Finding", Finding)
SNAPSHOT = ObjectKind(table_of(DiagnosisSnapshot), "Snapshot", DiagnosisSnapshot)
FindingFor = object_access(FINDING, "finding_id")
SnapshotFor = object_access(SNAPSHOT, "snapshot_id")
# Readers of the group read the diagnosis; moderators write it.
FindingReader = Annotated[Loaded[Finding], FindingFor(Role.observer)]
FindingWriter = Annotated[Loaded[Finding], FindingFor(Role.moderator)]
SnapshotReader = Annotated[Loaded[DiagnosisSnapshot], SnapshotFor(Role.observer)]
Paging = Annotated[PageParams, Depends(page_params)]


def _finding(read: FindingRead, finding: Finding, response: Response) -> FindingRead:
    set_etag(response, finding.version)
    return read


@router.post(
    "/groups/{group_id}/findings", status_code=status.HTTP_201_CREATED, response_model=FindingRead
)
async def create_finding(
    data: FindingCreate, ctx: Moderator, session: SessionDep, response: Response
) -> FindingRead:
    """A finding of the diagnosis, backed by responses to the group's questionnaires."""
    finding = await service.create_finding(session=session, ctx=ctx, data=data)
    return _finding(await service.read_finding(session, finding), finding, response)


@router.get("/groups/{group_id}/findings", response_model=Page[FindingRead])
async def list_findings(
    ctx: Reader,
    session: SessionDep,
    page: Paging,
    focus_area_id: Annotated[uuid.UUID | None, Query()] = None,
    kind: Annotated[FindingKind | None, Query()] = None,
) -> Response:
    """Oldest first."""
    items, cursor = await service.list_findings(
        session=session, ctx=ctx, page=page, focus_area_id=focus_area_id, kind=kind
    )
    return page_response([i.model_dump(mode="json") for i in items], cursor)


@router.get("/findings/{finding_id}", response_model=FindingRead)
async def get_finding(
    finding: FindingReader, session: SessionDep, response: Response
) -> FindingRead:
    return _finding(await service.read_finding(session, finding.obj), finding.obj, response)


@router.patch("/findings/{finding_id}", response_model=FindingRead)
async def update_finding(
    finding: FindingWriter,
    data: FindingUpdate,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> FindingRead:
    """Change a finding (`evidence` replaces its evidence); snapshots keep what they froze.
    Honours `If-Match`."""
    check_if_match(if_match, finding.obj.version)
    updated = await service.update_finding(
        session=session, ctx=finding.ctx, finding=finding.obj, data=data
    )
    return _finding(await service.read_finding(session, updated), updated, response)


@router.get("/findings/{finding_id}/trace", response_model=Trace)
async def trace(finding: FindingReader, session: SessionDep) -> Trace:
    """From the interviews to the results: the evidence's organizations and countries, the
    proposals and action items that answer the finding (`finding_ids`), and their progress."""
    return await service.trace(session, finding.obj)


@router.get("/groups/{group_id}/diagnosis", response_model=Diagnosis)
async def diagnosis(ctx: Reader, session: SessionDep) -> Diagnosis:
    """Findings per focus area ranked by how many organizations (then countries) back them,
    and the member organizations not consulted yet."""
    return await service.diagnosis(session, ctx.group.id)


@router.post(
    "/groups/{group_id}/diagnosis/snapshots",
    status_code=status.HTTP_201_CREATED,
    response_model=SnapshotRead,
)
async def take_snapshot(data: SnapshotCreate, ctx: Moderator, session: SessionDep) -> SnapshotRead:
    """Freeze the diagnosis as it is now, as an immutable version."""
    snapshot = await service.take_snapshot(session=session, ctx=ctx, data=data)
    return SnapshotRead.model_validate(snapshot)


@router.get("/groups/{group_id}/diagnosis/snapshots", response_model=Page[SnapshotBrief])
async def list_snapshots(ctx: Reader, session: SessionDep, page: Paging) -> Response:
    """Newest first."""
    rows, cursor = await service.list_snapshots(session=session, ctx=ctx, page=page)
    return page_response(
        [SnapshotBrief.model_validate(r).model_dump(mode="json") for r in rows], cursor
    )


@router.get("/diagnosis/snapshots/{snapshot_id}", response_model=SnapshotRead)
async def get_snapshot(snapshot: SnapshotReader) -> SnapshotRead:
    return SnapshotRead.model_validate(snapshot.obj)
