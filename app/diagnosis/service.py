"""Findings and the diagnosis: what the consultations showed, per focus area, and how far
the group has come on each finding (its trace).

A finding is ranked by the breadth of its evidence: the distinct organizations (then
countries) whose responses back it — a barrier reported by clusters of four countries weighs
more than one reported four times by the same cluster. A snapshot freezes the diagnosis as it
was; it is stored whole, so later edits of findings never change it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.errors import ValidationFailed
from app.core.pagination import PageParams, paginate
from app.diagnosis.schemas import (
    Diagnosis,
    EvidenceIn,
    FindingCreate,
    FindingRead,
    FindingUpdate,
    OrganizationRef,
    RankedFinding,
    SnapshotCreate,
    Trace,
    TraceItem,
    TraceProposal,
)
from app.groups.access import GroupContext
from app.models import (
    ActionItem,
    ActionItemStatus,
    DiagnosisSnapshot,
    Finding,
    FindingEvidence,
    FindingKind,
    FindingLink,
    FocusArea,
    Membership,
    Organization,
    Proposal,
    Questionnaire,
    QuestionnaireResponse,
)
from app.roadmap.service import check_links

SUBJECT = "finding"


def _invalid(field: str, msg: str) -> ValidationFailed:
    """422 naming `field` (`evidence.0.response_id`: its path, as validation errors give it)."""
    loc = ["body", *field.split(".")]
    return ValidationFailed(f"{field}: {msg}", errors=[{"loc": loc, "msg": msg}])


async def _check_evidence(
    session: AsyncSession, ctx: GroupContext, evidence: list[EvidenceIn]
) -> dict[uuid.UUID, uuid.UUID]:
    """Each response is one of the group's, and each question one of its questionnaire's
    (422 naming the item otherwise); the organization of each response."""
    ids = {e.response_id for e in evidence}
    if not ids:
        return {}
    rows = await session.execute(
        select(
            col(QuestionnaireResponse.id),
            col(QuestionnaireResponse.organization_id),
            col(Questionnaire.questions),
        )
        .join(Questionnaire, col(Questionnaire.id) == col(QuestionnaireResponse.questionnaire_id))
        .where(
            col(QuestionnaireResponse.id).in_(ids),
            col(QuestionnaireResponse.group_id) == ctx.group.id,
        )
    )
    found = {r_id: (org_id, {q["id"] for q in questions}) for r_id, org_id, questions in rows.all()}
    for index, item in enumerate(evidence):
        if item.response_id not in found:
            raise _invalid(f"evidence.{index}.response_id", "no such response in this group")
        if item.question_id is not None and item.question_id not in found[item.response_id][1]:
            raise _invalid(f"evidence.{index}.question_id", "no such question in its questionnaire")
    return {r_id: org_id for r_id, (org_id, _) in found.items()}


async def _set_evidence(
    session: AsyncSession, finding: Finding, evidence: list[EvidenceIn]
) -> None:
    await session.execute(
        delete(FindingEvidence).where(col(FindingEvidence.finding_id) == finding.id)
    )
    for item in {(e.response_id, e.question_id): e for e in evidence}.values():
        session.add(
            FindingEvidence(
                finding_id=finding.id, response_id=item.response_id, question_id=item.question_id
            )
        )
    await session.flush()


async def read_finding(session: AsyncSession, finding: Finding) -> FindingRead:
    rows = await session.execute(
        select(FindingEvidence, col(QuestionnaireResponse.organization_id))
        .join(
            QuestionnaireResponse,
            col(QuestionnaireResponse.id) == col(FindingEvidence.response_id),
        )
        .where(col(FindingEvidence.finding_id) == finding.id)
        .order_by(col(FindingEvidence.response_id), col(FindingEvidence.question_id))
    )
    evidence = [
        {"response_id": e.response_id, "question_id": e.question_id, "organization_id": org}
        for e, org in rows.all()
    ]
    fields = {
        name: getattr(finding, name) for name in FindingRead.model_fields if name != "evidence"
    }
    return FindingRead.model_validate({**fields, "evidence": evidence})


async def create_finding(
    *, session: AsyncSession, ctx: GroupContext, data: FindingCreate
) -> Finding:
    await check_links(ctx=ctx, focus_area_id=data.focus_area_id)
    await _check_evidence(session, ctx, data.evidence)
    finding = Finding(
        **data.model_dump(exclude={"evidence"}), group_id=ctx.group.id, created_by=ctx.user.id
    )
    session.add(finding)
    await session.flush()
    await _set_evidence(session, finding, data.evidence)
    read = await read_finding(session, finding)
    await ctx.record(
        "finding.created",
        subject_type=SUBJECT,
        subject_id=finding.id,
        data={"finding": read.model_dump(mode="json")},
    )
    return finding


async def update_finding(
    *, session: AsyncSession, ctx: GroupContext, finding: Finding, data: FindingUpdate
) -> Finding:
    changes = data.model_dump(exclude_unset=True)
    if "focus_area_id" in changes:
        await check_links(ctx=ctx, focus_area_id=data.focus_area_id)
    if data.evidence is not None:
        await _check_evidence(session, ctx, data.evidence)
        await _set_evidence(session, finding, data.evidence)
    for field, value in changes.items():
        if field != "evidence":
            setattr(finding, field, value)
    await session.flush()
    read = await read_finding(session, finding)
    await ctx.record(
        "finding.updated",
        subject_type=SUBJECT,
        subject_id=finding.id,
        data={"finding": read.model_dump(mode="json"), "changes": sorted(changes)},
    )
    return finding


async def list_findings(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    page: PageParams,
    focus_area_id: uuid.UUID | None,
    kind: FindingKind | None,
) -> tuple[list[FindingRead], str | None]:
    """Oldest first."""
    stmt = select(Finding).where(col(Finding.group_id) == ctx.group.id)
    if focus_area_id is not None:
        stmt = stmt.where(col(Finding.focus_area_id) == focus_area_id)
    if kind is not None:
        stmt = stmt.where(col(Finding.kind) == kind)
    rows, cursor = await paginate(session, stmt, page, (col(Finding.created_at), col(Finding.id)))
    return [await read_finding(session, f) for f in rows], cursor


# --- the diagnosis -------------------------------------------------------------------------


async def diagnosis(session: AsyncSession, group_id: uuid.UUID) -> Diagnosis:
    """Findings per focus area (in the areas' order, then those of none), each area's best
    supported first; and the member organizations nobody has consulted yet."""
    areas = (
        await session.execute(
            select(col(FocusArea.id), col(FocusArea.title))
            .where(col(FocusArea.group_id) == group_id)
            .order_by(col(FocusArea.position), col(FocusArea.created_at))
        )
    ).all()
    found = (
        (
            await session.execute(
                select(Finding)
                .where(col(Finding.group_id) == group_id)
                .order_by(col(Finding.created_at), col(Finding.id))
            )
        )
        .scalars()
        .all()
    )
    backing: dict[uuid.UUID, tuple[set[uuid.UUID], set[str]]] = defaultdict(lambda: (set(), set()))
    rows = await session.execute(
        select(
            col(FindingEvidence.finding_id),
            col(Organization.id),
            col(Organization.country),
        )
        .join(Finding, col(Finding.id) == col(FindingEvidence.finding_id))
        .join(
            QuestionnaireResponse,
            col(QuestionnaireResponse.id) == col(FindingEvidence.response_id),
        )
        .join(Organization, col(Organization.id) == col(QuestionnaireResponse.organization_id))
        .where(col(Finding.group_id) == group_id)
    )
    for finding_id, org_id, country in rows.all():
        backing[finding_id][0].add(org_id)
        backing[finding_id][1].add(country)

    def ranked(of_area: uuid.UUID | None) -> list[RankedFinding]:
        items = [
            RankedFinding(
                id=f.id,
                title=f.title,
                kind=f.kind,
                organizations=len(backing[f.id][0]),
                countries=len(backing[f.id][1]),
                country_codes=sorted(backing[f.id][1]),
            )
            for f in found
            if f.focus_area_id == of_area
        ]
        # Stable: equal support keeps the order the findings were made in.
        return sorted(items, key=lambda r: (-r.organizations, -r.countries))

    per_area: list[dict[str, Any]] = [
        {"focus_area": {"id": area_id, "title": title}, "findings": ranked(area_id)}
        for area_id, title in areas
    ]
    loose = ranked(None)
    if loose:
        per_area.append({"focus_area": None, "findings": loose})
    members, consulted = await _organizations(session, group_id)
    return Diagnosis.model_validate(
        {
            "focus_areas": per_area,
            "member_organizations": len(members),
            "consulted_organizations": len(consulted & set(members)),
            "not_consulted": [m for org_id, m in members.items() if org_id not in consulted],
        }
    )


async def _organizations(
    session: AsyncSession, group_id: uuid.UUID
) -> tuple[dict[uuid.UUID, OrganizationRef], set[uuid.UUID]]:
    """The group's member organizations (by name) and those with a response."""
    rows = await session.execute(
        select(col(Organization.id), col(Organization.name), col(Organization.country))
        .join(Membership, col(Membership.organization_id) == col(Organization.id))
        .where(col(Membership.group_id) == group_id)
        .distinct()
        .order_by(col(Organization.name))
    )
    members = {
        org_id: OrganizationRef(id=org_id, name=name, country=country)
        for org_id, name, country in rows.all()
    }
    answered = await session.execute(
        select(col(QuestionnaireResponse.organization_id))
        .where(col(QuestionnaireResponse.group_id) == group_id)
        .distinct()
    )
    return members, set(answered.scalars())


async def take_snapshot(
    *, session: AsyncSession, ctx: GroupContext, data: SnapshotCreate
) -> DiagnosisSnapshot:
    frozen = await diagnosis(session, ctx.group.id)
    snapshot = DiagnosisSnapshot(
        group_id=ctx.group.id,
        label=data.label,
        diagnosis=frozen.model_dump(mode="json"),
        created_by=ctx.user.id,
    )
    session.add(snapshot)
    await session.flush()
    await ctx.record(
        "diagnosis.snapshot_created",
        subject_type="diagnosis_snapshot",
        subject_id=snapshot.id,
        data={"snapshot": {"id": str(snapshot.id), "label": snapshot.label}},
    )
    return snapshot


async def list_snapshots(
    *, session: AsyncSession, ctx: GroupContext, page: PageParams
) -> tuple[list[DiagnosisSnapshot], str | None]:
    stmt = select(DiagnosisSnapshot).where(col(DiagnosisSnapshot.group_id) == ctx.group.id)
    order = (col(DiagnosisSnapshot.created_at), col(DiagnosisSnapshot.id))
    return await paginate(session, stmt, page, order, descending=True)


# --- the trace ---------------------------------------------------------------------------


async def trace(session: AsyncSession, finding: Finding) -> Trace:
    """Finding → evidence (organizations, countries) → proposals → action items, with the
    progress of everything done about it."""
    read = await read_finding(session, finding)
    org_ids = {e.organization_id for e in read.evidence}
    orgs = (
        (await session.execute(select(Organization).where(col(Organization.id).in_(org_ids))))
        .scalars()
        .all()
    )
    linked = (
        await session.execute(
            select(col(FindingLink.subject_type), col(FindingLink.subject_id)).where(
                col(FindingLink.finding_id) == finding.id
            )
        )
    ).all()
    proposal_ids = [i for t, i in linked if t == "proposal"]
    item_ids = [i for t, i in linked if t == "action_item"]
    proposals = (
        (
            await session.execute(
                select(Proposal)
                .where(col(Proposal.id).in_(proposal_ids))
                .order_by(col(Proposal.created_at))
            )
        )
        .scalars()
        .all()
    )
    items = (
        (
            await session.execute(
                select(ActionItem)
                .where(
                    col(ActionItem.id).in_(item_ids) | col(ActionItem.proposal_id).in_(proposal_ids)
                )
                .order_by(col(ActionItem.created_at), col(ActionItem.id))
            )
        )
        .scalars()
        .all()
    )
    direct = set(item_ids)
    counted = [i for i in items if i.status != ActionItemStatus.cancelled]

    def brief(item: ActionItem) -> TraceItem:
        return TraceItem(id=item.id, title=item.title, status=item.status, progress=item.progress)

    return Trace(
        finding=read,
        organizations=[
            OrganizationRef(id=o.id, name=o.name, country=o.country)
            for o in sorted(orgs, key=lambda o: o.name)
        ],
        countries=sorted({o.country for o in orgs}),
        proposals=[
            TraceProposal(
                id=p.id,
                title=p.title,
                state=p.state,
                action_items=[brief(i) for i in items if i.proposal_id == p.id],
            )
            for p in proposals
        ],
        action_items=[brief(i) for i in items if i.id in direct],
        progress=round(sum(i.progress for i in counted) / len(counted), 1) if counted else None,
    )
