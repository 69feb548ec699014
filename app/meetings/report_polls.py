"""The polls part of the meeting report: the extension point for app/polls/ (issue 14).

The report (app/meetings/report.py) calls `report_polls` for the JSON and `polls_markdown`
for the Markdown. Until polls land there are none; the polls package fills both in (and may
reshape `ReportPoll`), obeying each poll's `results` setting as `GET /polls/{id}` does.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.groups.access import GroupContext
from app.meetings.schemas import ReportPoll
from app.models import Meeting


async def report_polls(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting
) -> list[ReportPoll]:
    """The meeting's polls with their outcomes and results, as `ctx`'s caller may see them."""
    return []


def polls_markdown(polls: list[ReportPoll]) -> list[str]:
    """Markdown lines for the report's Polls section (none: the section is left out). User
    text goes through app/meetings/markdown.py's `inline`."""
    return []
