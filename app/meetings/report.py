"""The meeting report: agenda with time spent, attendance by organization and country,
decisions with their action items, polls and minutes — as JSON and as Markdown to circulate.

Readers of the group get it once the meeting has ended; those who run the meeting also while
it is live, marked as a draft. Before (scheduled) or without it (cancelled): 409.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.errors import Conflict, NotFound
from app.groups.access import GroupContext
from app.meetings import agenda, live, markdown, records
from app.meetings.base import may_run
from app.meetings.report_polls import polls_markdown, report_polls
from app.meetings.schemas import (
    AttendeeRead,
    CountryCount,
    MeetingRead,
    MeetingReport,
    MinutesRead,
    OrganizationCount,
    OrganizationRef,
    ReportAgendaItem,
    ReportAttendance,
    UserRef,
)
from app.models import AgendaItem, Meeting, MeetingStatus, User
from app.models.base import utcnow

MEDIA_TYPE = "text/markdown; charset=utf-8"


def check_available(ctx: GroupContext, meeting: Meeting) -> bool:
    """Whether the caller may have the report now, and if so whether it is a draft."""
    if meeting.status == MeetingStatus.ended:
        return False
    if meeting.status == MeetingStatus.live and may_run(ctx, meeting):
        return True
    when = "once the meeting has ended"
    if meeting.status == MeetingStatus.live:
        detail = f"The report is available {when} (to those who run it, while it is live)"
    elif meeting.status == MeetingStatus.cancelled:
        detail = "A cancelled meeting has no report"
    else:
        detail = f"The report is available {when}"
    raise Conflict(detail, extra={"meeting_status": meeting.status.value})


async def build(*, session: AsyncSession, ctx: GroupContext, meeting: Meeting) -> MeetingReport:
    """The report as the caller may see it (409 when they may not yet)."""
    draft = check_available(ctx, meeting)
    now = utcnow()
    items = await agenda.list_items(session=session, meeting_id=meeting.id)
    decisions = await records.list_decisions(session=session, meeting=meeting)
    names = await _names(
        session,
        [i.speaker_id for i in items] + [a.owner_id for d in decisions for a in d.action_items],
    )
    attendees = await live.attendance(session=session, meeting=meeting)
    return MeetingReport(
        meeting=MeetingRead.model_validate(meeting),
        draft=draft,
        generated_at=now,
        agenda=[_agenda_item(i, meeting, names, now) for i in items],
        attendance=_attendance(attendees),
        decisions=decisions,
        polls=await report_polls(session=session, ctx=ctx, meeting=meeting),
        minutes=await _minutes(session, ctx, meeting),
        people=sorted(names.values(), key=lambda u: (u.name, u.id)),
    )


async def _names(
    session: AsyncSession, user_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, UserRef]:
    wanted = {u for u in user_ids if u is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User).where(col(User.id).in_(wanted)))
    return {u.id: UserRef.model_validate(u) for u in rows.scalars()}


def _agenda_item(
    item: AgendaItem, meeting: Meeting, names: dict[uuid.UUID, UserRef], now: datetime
) -> ReportAgendaItem:
    spent = None
    if item.started_at is not None:
        # No end yet: the live meeting's current item, which runs until now.
        end = item.ended_at or (now if meeting.status == MeetingStatus.live else None)
        spent = (end - item.started_at).total_seconds() if end is not None else None
    return ReportAgendaItem(
        id=item.id,
        position=item.position,
        title=item.title,
        speaker=names.get(item.speaker_id) if item.speaker_id else None,
        focus_area_id=item.focus_area_id,
        duration_minutes=item.duration_minutes,
        started_at=item.started_at,
        ended_at=item.ended_at,
        spent_seconds=None if spent is None else round(spent, 6),
    )


def _attendance(attendees: list[AttendeeRead]) -> ReportAttendance:
    """Counts by organization (and its country): the one each attendee represents in the
    group, as their membership says now; attendees without one are counted under null."""
    orgs: dict[uuid.UUID | None, OrganizationRef | None] = {}
    for a in attendees:
        orgs[a.organization.id if a.organization else None] = a.organization
    by_org = Counter(a.organization.id if a.organization else None for a in attendees)
    by_country = Counter(a.organization.country if a.organization else None for a in attendees)
    return ReportAttendance(
        total=len(attendees),
        # Most attendees first, then by name (country code), unaffiliated last: a stable order.
        by_organization=[
            OrganizationCount(organization=orgs[key], attendees=n)
            for key, n in sorted(by_org.items(), key=lambda kv: (-kv[1], _org_sort(orgs[kv[0]])))
        ],
        by_country=[
            CountryCount(country=country, attendees=n)
            for country, n in sorted(
                by_country.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or "")
            )
        ],
        attendees=attendees,
    )


def _org_sort(org: OrganizationRef | None) -> tuple[bool, str, str]:
    return (org is None, org.name if org else "", str(org.id) if org else "")


async def _minutes(
    session: AsyncSession, ctx: GroupContext, meeting: Meeting
) -> MinutesRead | None:
    """The minutes the caller may read (the rule of `GET /meetings/{id}/minutes`), or None."""
    try:
        minutes = await records.get_minutes(session=session, ctx=ctx, meeting=meeting)
    except NotFound:
        return None
    return MinutesRead.model_validate(minutes)


# --- Markdown ------------------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not reached"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def render_markdown(report: MeetingReport) -> str:
    """The report as Markdown for circulating; every piece of user text is escaped."""
    m = report.meeting
    text = markdown.inline
    names = {p.id: p.name for p in report.people}
    out = [f"# {text(m.title)}", ""]
    if report.draft:
        out += ["**Draft**: the meeting is still live; this report is not final.", ""]
    out += [
        f"- **Status**: {m.status.value}",
        f"- **Scheduled**: {_when(m.starts_at)} to {_when(m.ends_at)} ({text(m.timezone)})",
        f"- **Held**: {_when(m.started_at)} to {_when(m.finished_at)}",
        "",
        "## Agenda",
        "",
    ]
    if not report.agenda:
        out.append("No agenda items.")
    for item in report.agenda:
        planned = f", planned {item.duration_minutes} min" if item.duration_minutes else ""
        speaker = f" — {text(item.speaker.name)}" if item.speaker else ""
        spent = _duration(item.spent_seconds)
        out.append(f"{item.position}. {text(item.title)}{speaker} ({spent}{planned})")
    a = report.attendance
    out += ["", "## Attendance", "", f"{a.total} attended.", ""]
    if a.total:
        out += ["| Organization | Country | Attendees |", "| --- | --- | ---: |"]
        for o in a.by_organization:
            org = o.organization
            name, country = (text(org.name), org.country) if org else ("(none)", "—")
            out.append(f"| {name} | {country} | {o.attendees} |")
        out += ["", "| Country | Attendees |", "| --- | ---: |"]
        out += [f"| {c.country or '(none)'} | {c.attendees} |" for c in a.by_country]
        out += ["", "Attendees: " + ", ".join(text(p.name) for p in a.attendees) + "."]
    out += ["", "## Decisions", ""]
    if not report.decisions:
        out.append("No decisions recorded.")
    for i, d in enumerate(report.decisions, start=1):
        out.append(f"{i}. {markdown.block(d.text, indent='   ')}")
        for ai in d.action_items:
            owner = ""
            if ai.owner_id is not None:
                owner = f"; owner: {text(names.get(ai.owner_id, 'unknown'))}"
            due = f"; due {ai.due_date.isoformat()}" if ai.due_date else ""
            out.append(f"   - {text(ai.title)} ({ai.status.value}{owner}{due})")
    polls = polls_markdown(report.polls)
    if polls:
        out += ["", "## Polls", "", *polls]
    out += ["", "## Minutes", ""]
    if report.minutes is None:
        out.append("No minutes published yet.")
    else:
        if not report.minutes.published:
            out += ["*Draft minutes, not published.*", ""]
        out.append(markdown.minutes(report.minutes.body).strip())
    out += ["", "---", "", f"Generated {_when(report.generated_at)}.", ""]
    return "\n".join(out)
