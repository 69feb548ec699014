"""Traceability: proposals and action items that answer findings (`finding_ids`).

Kept apart from the rest of the diagnosis so that the proposal and roadmap services can link
what they create without depending on the diagnosis' reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.errors import ValidationFailed
from app.models import Finding, FindingLink
from app.models.base import table_of

findings = table_of(Finding)
links = table_of(FindingLink)

Subject = Literal["proposal", "action_item"]

_COUNT_IN_GROUP = (
    select(func.count())
    .select_from(findings)
    .where(
        findings.c.group_id == bindparam("group_id"),
        findings.c.id.in_(bindparam("ids", expanding=True)),
    )
)


async def check_findings(
    conn: AsyncConnection, group_id: uuid.UUID, finding_ids: Sequence[uuid.UUID], field: str
) -> None:
    """422 naming `field` unless every id is a finding of the group."""
    if not finding_ids:
        return
    found = (
        await conn.execute(_COUNT_IN_GROUP, {"group_id": group_id, "ids": list(set(finding_ids))})
    ).scalar_one()
    if found != len(set(finding_ids)):
        msg = "no such finding in this group"
        raise ValidationFailed(msg, errors=[{"loc": ["body", field], "msg": msg}])


async def link(
    conn: AsyncConnection,
    finding_ids: Sequence[uuid.UUID],
    subject_type: Subject,
    subject_id: uuid.UUID,
) -> None:
    """Record that the subject answers these findings (checked with `check_findings`)."""
    if finding_ids:
        rows = [
            {"finding_id": f, "subject_type": subject_type, "subject_id": subject_id}
            for f in dict.fromkeys(finding_ids)
        ]
        await conn.execute(insert(links), rows)
