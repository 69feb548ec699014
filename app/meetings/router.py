from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials

from app.core.db import SessionDep, TxDep
from app.core.deps import IfMatch, check_if_match, set_etag
from app.core.errors import Unauthorized
from app.core.pagination import Page, PageParams, page_params
from app.core.responses import page_response
from app.core.schemas import UTCInstant
from app.core.security import FEED_TOKEN_PREFIX
from app.groups.access import Moderator, Reader, authorize_group, authorize_object
from app.meetings import agenda, ical, live, queries, records, report, service
from app.meetings.deps import (
    MEETING,
    AgendaRunner,
    Attendee,
    MeetingReader,
    MeetingRunner,
    Participant,
    RunnerReader,
)
from app.meetings.lifecycle import Action
from app.meetings.schemas import (
    AgendaItemCreate,
    AgendaItemRead,
    AgendaItemUpdate,
    AttendeeRead,
    DecisionCreate,
    DecisionRead,
    HandRead,
    MeetingCreate,
    MeetingDetail,
    MeetingRead,
    MeetingReport,
    MeetingUpdate,
    MinutesRead,
    MinutesUpdate,
    RsvpEntry,
    RsvpRead,
    RsvpUpdate,
)
from app.models import Meeting, MeetingStatus, Role
from app.polls import service as polls
from app.users.deps import bearer

router = APIRouter(tags=["meetings"])

Paging = Annotated[PageParams, Depends(page_params)]


async def _calendar_token(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    token: Annotated[
        str | None,
        Query(
            max_length=2000,
            description="Your calendar feed token (wgc_…, from POST /users/me/calendar-token), "
            "for calendar apps that cannot send headers",
        ),
    ] = None,
) -> str:
    """The Authorization header's credential, or `?token=<feed token>`: a URL is kept in
    calendar apps, logs and histories, so it may carry only a token that reads calendars."""
    if creds is not None:
        return creds.credentials
    if token is None:
        raise Unauthorized()
    if not token.startswith(FEED_TOKEN_PREFIX):
        raise Unauthorized("?token= takes a calendar feed token (POST /users/me/calendar-token)")
    return token


CalendarToken = Annotated[str, Depends(_calendar_token)]


def _meeting(meeting: Meeting, response: Response) -> MeetingRead:
    set_etag(response, meeting.version)
    return MeetingRead.model_validate(meeting)


def _ics(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type=ical.MEDIA_TYPE,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


# --- meetings ------------------------------------------------------------------------------


@router.post(
    "/groups/{group_id}/meetings", status_code=status.HTTP_201_CREATED, response_model=MeetingRead
)
async def create_meeting(
    data: MeetingCreate, ctx: Moderator, session: SessionDep, response: Response
) -> MeetingRead:
    """Schedule a meeting (moderators). Times are stored in UTC; `timezone` is the IANA zone
    it is planned in, used for the calendar's TZID."""
    meeting = await service.create_meeting(session=session, ctx=ctx, data=data)
    return _meeting(meeting, response)


@router.get("/groups/{group_id}/meetings", response_model=Page[MeetingRead])
async def list_meetings(
    ctx: Reader,
    page: Paging,
    status: MeetingStatus | None = None,
    start: Annotated[
        UTCInstant | None, Query(alias="from", description="meetings ending after this")
    ] = None,
    end: Annotated[
        UTCInstant | None, Query(alias="to", description="meetings starting before this")
    ] = None,
) -> Response:
    """Meetings by start time."""
    items, cursor = await service.list_meetings(
        ctx=ctx, page=page, status=status, start=start, end=end
    )
    return page_response(items, cursor)


@router.get(
    "/groups/{group_id}/calendar.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
async def group_calendar(
    request: Request, group_id: uuid.UUID, token: CalendarToken, tx: TxDep
) -> Response:
    """The group's meetings as an iCalendar feed. Accepts `?token=<feed token>` instead of
    the Authorization header, for calendar apps."""
    ctx = await authorize_group(
        tx,
        request.app.state.settings,
        token,
        group_id=group_id,
        need=Role.observer,
        write=False,
        allow_feed=True,
    )
    meetings = await service.all_meetings(session=tx.session(), ctx=ctx)
    return _ics(ical.calendar(name=ctx.group.name, meetings=meetings), "calendar.ics")


# Declared before /meetings/{meeting_id}, which would otherwise take "<id>.ics" as its id.
@router.get(
    "/meetings/{meeting_id}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
async def meeting_calendar(
    request: Request, meeting_id: uuid.UUID, token: CalendarToken, tx: TxDep
) -> Response:
    """One meeting as iCalendar. Accepts `?token=<feed token>` like the group feed."""
    loaded = await authorize_object(
        tx,
        request.app.state.settings,
        token,
        kind=MEETING,
        object_id=meeting_id,
        need=Role.observer,
        write=False,
        allow_feed=True,
    )
    meeting: Meeting = loaded.obj
    return _ics(ical.calendar(name=meeting.title, meetings=[meeting]), f"{meeting.id}.ics")


@router.get("/meetings/{meeting_id}", response_model=MeetingDetail)
async def get_meeting(
    meeting: MeetingReader, session: SessionDep, response: Response
) -> MeetingDetail:
    """The meeting, with the counts of RSVP answers (`none`: members yet to answer) and the
    polls open in it."""
    set_etag(response, meeting.obj.version)
    counts = await queries.rsvp_counts(
        meeting.ctx.tx.conn, group_id=meeting.obj.group_id, meeting_id=meeting.obj.id
    )
    return MeetingDetail(
        **dict(MeetingRead.model_validate(meeting.obj)),
        rsvp_counts=counts,
        open_polls=await polls.open_polls_of(session, meeting.obj.id),
    )


@router.patch("/meetings/{meeting_id}", response_model=MeetingRead)
async def update_meeting(
    meeting: MeetingRunner,
    data: MeetingUpdate,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> MeetingRead:
    """Change a scheduled or live meeting (those who run it); bumps `ical_sequence`."""
    check_if_match(if_match, meeting.obj.version)
    updated = await service.update_meeting(
        session=session, ctx=meeting.ctx, meeting=meeting.obj, data=data
    )
    return _meeting(updated, response)


def _lifecycle_route(action: Action, summary: str) -> None:
    async def move(meeting: MeetingRunner, session: SessionDep, response: Response) -> MeetingRead:
        moved = await service.transition(
            session=session, ctx=meeting.ctx, meeting=meeting.obj, action=action
        )
        if action in (Action.end, Action.cancel):
            await polls.close_meeting_polls(session=session, ctx=meeting.ctx, meeting=moved)
        return _meeting(moved, response)

    router.add_api_route(
        f"/meetings/{{meeting_id}}/{action.value}",
        move,
        methods=["POST"],
        response_model=MeetingRead,
        summary=f"{action.value.capitalize()} meeting",
        description=summary,
        name=f"{action.value}_meeting",
    )


_lifecycle_route(Action.start, "`scheduled → live` (those who run the meeting); else 409.")
_lifecycle_route(
    Action.end,
    "`live → ended`; closes open attendances, clears the hand queue and the current speaker, "
    "and closes the meeting's open polls.",
)
_lifecycle_route(
    Action.cancel,
    "`scheduled|live → cancelled`; the calendar entry becomes STATUS:CANCELLED; the "
    "meeting's open polls close.",
)


# --- agenda --------------------------------------------------------------------------------


@router.get("/meetings/{meeting_id}/agenda-items", response_model=Page[AgendaItemRead])
async def list_agenda_items(meeting: MeetingReader, session: SessionDep) -> Page[AgendaItemRead]:
    """The whole agenda in order (one page)."""
    items = await agenda.list_items(session=session, meeting_id=meeting.obj.id)
    return Page(items=[AgendaItemRead.model_validate(i) for i in items])


@router.post(
    "/meetings/{meeting_id}/agenda-items",
    status_code=status.HTTP_201_CREATED,
    response_model=AgendaItemRead,
)
async def create_agenda_item(
    meeting: MeetingRunner, data: AgendaItemCreate, session: SessionDep, response: Response
) -> AgendaItemRead:
    item = await agenda.create_item(
        session=session, ctx=meeting.ctx, meeting=meeting.obj, data=data
    )
    set_etag(response, item.version)
    return AgendaItemRead.model_validate(item)


@router.patch("/agenda-items/{item_id}", response_model=AgendaItemRead)
async def update_agenda_item(
    target: AgendaRunner,
    data: AgendaItemUpdate,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> AgendaItemRead:
    """Edit or move an item (`position` renumbers the others)."""
    item, meeting = target
    check_if_match(if_match, item.obj.version)
    updated = await agenda.update_item(
        session=session, ctx=item.ctx, meeting=meeting, item=item.obj, data=data
    )
    set_etag(response, updated.version)
    return AgendaItemRead.model_validate(updated)


@router.delete("/agenda-items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agenda_item(target: AgendaRunner, session: SessionDep) -> None:
    item, meeting = target
    await agenda.delete_item(session=session, ctx=item.ctx, meeting=meeting, item=item.obj)


@router.post("/meetings/{meeting_id}/agenda/advance", response_model=MeetingRead)
async def advance_agenda(
    meeting: MeetingRunner, session: SessionDep, response: Response
) -> MeetingRead:
    """Move a live meeting to its next agenda item (`current_agenda_item_id`); an item with a
    speaker gives them the floor. 409 when not live or at the last item."""
    advanced = await agenda.advance(session=session, ctx=meeting.ctx, meeting=meeting.obj)
    return _meeting(advanced, response)


# --- taking part ---------------------------------------------------------------------------


@router.put("/meetings/{meeting_id}/rsvp", response_model=RsvpRead)
async def rsvp(meeting: Participant, data: RsvpUpdate, session: SessionDep) -> RsvpRead:
    """Answer yes/no/maybe (members) while the meeting is scheduled or live; idempotent."""
    row = await live.set_rsvp(
        session=session, ctx=meeting.ctx, meeting=meeting.obj, response=data.response
    )
    return RsvpRead.model_validate(row)


@router.get("/meetings/{meeting_id}/rsvps", response_model=Page[RsvpEntry])
async def list_rsvps(meeting: RunnerReader, page: Paging) -> Response:
    """Every member who may answer (every role but observer), with their answer or `null`
    for none yet, in the member list's order (those who run the meeting; others 403)."""
    items, cursor = await queries.rsvps_page(
        meeting.ctx.tx.conn, group_id=meeting.obj.group_id, meeting_id=meeting.obj.id, page=page
    )
    return page_response(items, cursor)


@router.post("/meetings/{meeting_id}/join", response_model=AttendeeRead)
async def join(meeting: Attendee, session: SessionDep) -> AttendeeRead:
    """Enter the live meeting (members of any role, observers included; 409 when not live);
    joining while present changes nothing."""
    return await live.join(session=session, ctx=meeting.ctx, meeting=meeting.obj)


@router.post("/meetings/{meeting_id}/leave", response_model=AttendeeRead)
async def leave(meeting: Attendee, session: SessionDep) -> AttendeeRead:
    """Leave the live meeting (409 otherwise); leaving when not present changes nothing."""
    return await live.leave(session=session, ctx=meeting.ctx, meeting=meeting.obj)


@router.get("/meetings/{meeting_id}/attendance", response_model=Page[AttendeeRead])
async def attendance(meeting: MeetingReader, session: SessionDep) -> Page[AttendeeRead]:
    """Everyone who joined, by first arrival: their stays, total time present and the
    organization they represent in the group (one page)."""
    return Page(items=await live.attendance(session=session, meeting=meeting.obj))


@router.post(
    "/meetings/{meeting_id}/hands",
    status_code=status.HTTP_201_CREATED,
    response_model=HandRead,
    responses={200: {"model": HandRead, "description": "the hand was already raised"}},
)
async def raise_hand(meeting: Participant, session: SessionDep, response: Response) -> HandRead:
    """Ask for the floor: 201 with your place in the queue, or 200 if already raised."""
    hand, created = await live.raise_hand(session=session, ctx=meeting.ctx, meeting=meeting.obj)
    if not created:
        response.status_code = status.HTTP_200_OK
    return hand


@router.delete("/meetings/{meeting_id}/hands/me", status_code=status.HTTP_204_NO_CONTENT)
async def lower_hand(meeting: Participant, session: SessionDep) -> None:
    """Leave the queue; idempotent."""
    await live.lower_hand(session=session, ctx=meeting.ctx, meeting=meeting.obj)


@router.get("/meetings/{meeting_id}/hands", response_model=Page[HandRead])
async def hands(meeting: MeetingReader, session: SessionDep) -> Page[HandRead]:
    """The raised hands in queue order (one page)."""
    return Page(items=await live.queue(session=session, meeting=meeting.obj))


@router.post("/meetings/{meeting_id}/hands/next", response_model=MeetingRead)
async def next_speaker(
    meeting: MeetingRunner, session: SessionDep, response: Response
) -> MeetingRead:
    """Give the floor to the first raised hand (`current_speaker_id`); 409 if none."""
    moved = await live.next_speaker(session=session, ctx=meeting.ctx, meeting=meeting.obj)
    return _meeting(moved, response)


# --- minutes and decisions -----------------------------------------------------------------


@router.get("/meetings/{meeting_id}/minutes", response_model=MinutesRead)
async def get_minutes(
    meeting: MeetingReader, session: SessionDep, response: Response
) -> MinutesRead:
    """Published minutes; drafts only for those who run the meeting (404 otherwise)."""
    minutes = await records.get_minutes(session=session, ctx=meeting.ctx, meeting=meeting.obj)
    set_etag(response, minutes.version)
    return MinutesRead.model_validate(minutes)


@router.put("/meetings/{meeting_id}/minutes", response_model=MinutesRead)
async def put_minutes(
    meeting: MeetingRunner,
    data: MinutesUpdate,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> MinutesRead:
    """Save the minutes (markdown) as a draft or published; publishing sets `published_at`."""
    check_if_match(if_match, await records.minutes_version(session=session, meeting=meeting.obj))
    minutes = await records.put_minutes(
        session=session, ctx=meeting.ctx, meeting=meeting.obj, data=data
    )
    set_etag(response, minutes.version)
    return MinutesRead.model_validate(minutes)


@router.get("/meetings/{meeting_id}/decisions", response_model=Page[DecisionRead])
async def list_decisions(meeting: MeetingReader, session: SessionDep) -> Page[DecisionRead]:
    """The meeting's decisions with their action items, in order (one page)."""
    return Page(items=await records.list_decisions(session=session, meeting=meeting.obj))


@router.post(
    "/meetings/{meeting_id}/decisions",
    status_code=status.HTTP_201_CREATED,
    response_model=DecisionRead,
)
async def record_decision(
    meeting: MeetingRunner, data: DecisionCreate, session: SessionDep
) -> DecisionRead:
    """Record a decision and its action items in one transaction (409 on a cancelled meeting;
    an invalid action item is a 422 and nothing is written)."""
    return await records.record_decision(
        session=session, ctx=meeting.ctx, meeting=meeting.obj, data=data
    )


# --- the report ----------------------------------------------------------------------------

_REPORT_NOT_YET: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Not yet: the meeting is scheduled, cancelled, or live and the caller "
        "does not run it"
    }
}


@router.get(
    "/meetings/{meeting_id}/report", response_model=MeetingReport, responses=_REPORT_NOT_YET
)
async def meeting_report(meeting: MeetingReader, session: SessionDep) -> MeetingReport:
    """Agenda with time spent per item, attendance by organization and country, decisions
    with their action items, polls and minutes. Readers get it once the meeting has ended;
    those who run it also while it is live (`draft: true`); otherwise 409."""
    return await report.build(session=session, ctx=meeting.ctx, meeting=meeting.obj)


@router.get(
    "/meetings/{meeting_id}/report.md",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}}, **_REPORT_NOT_YET},
)
async def meeting_report_markdown(meeting: MeetingReader, session: SessionDep) -> Response:
    """The report as Markdown, for circulating (user text escaped); the same rules as
    `GET /meetings/{id}/report`."""
    built = await report.build(session=session, ctx=meeting.ctx, meeting=meeting.obj)
    return Response(
        report.render_markdown(built),
        media_type=report.MEDIA_TYPE,
        headers={"Content-Disposition": f'inline; filename="meeting-{meeting.obj.id}.md"'},
    )
