"""The polls part of the meeting report: the meeting's polls with their outcome and results,
each as `GET /polls/{id}` shows it to the caller (results only where the poll allows)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.groups.access import GroupContext
from app.meetings.markdown import inline
from app.meetings.schemas import ReportPoll
from app.models import Meeting, Poll
from app.polls import service as polls

# What each kind's results show per option in the Markdown, in this order.
FIGURES = ("count", "points", "sum", "mean", "yes", "maybe")


async def report_polls(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting
) -> list[ReportPoll]:
    """The meeting's polls, oldest first, as `ctx`'s caller may see them."""
    rows = await session.execute(
        select(Poll).where(col(Poll.meeting_id) == meeting.id).order_by(col(Poll.created_at))
    )
    shown = await polls.read_many(session, list(rows.scalars()), ctx.user.id)
    return [
        ReportPoll(
            id=p.id,
            title=p.title,
            kind=p.kind.value,
            status=p.status.value,
            outcome=p.outcome,
            results=p.results.model_dump(mode="json") if p.results else None,
            options={o.id: _option_label(o.model_dump(mode="json")) for o in p.options},
        )
        for p in shown
    ]


def _option_label(option: dict[str, Any]) -> str:
    if option.get("title") is not None:
        return str(option["title"])
    return f"{option['starts_at']} to {option['ends_at']}"


def polls_markdown(report: list[ReportPoll]) -> list[str]:
    """Markdown lines for the report's Polls section (none: the section is left out)."""
    lines: list[str] = []
    for poll in report:
        lines += [f"### {inline(poll.title)} ({poll.kind}, {poll.status})", ""]
        if poll.outcome:
            lines += [f"Outcome: {inline(poll.outcome)}", ""]
        if poll.results is None:
            lines += ["Results are not shown yet.", ""]
            continue
        lines.append(f"{poll.results['voters']} answered.")
        lines.append("")
        for row in poll.results["options"]:
            figures = ", ".join(f"{k} {row[k]}" for k in FIGURES if row.get(k) is not None)
            lines.append(f"- {inline(poll.options.get(row['id'], row['id']))}: {figures}")
        lines.append("")
    return lines
