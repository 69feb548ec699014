"""The meeting routes' authorize-and-load dependencies (app/groups/access.py).

Reading a meeting needs read access to its group; attending it (join, leave) membership in
any role, observers included; taking part (RSVP, raise a hand) the member role; running it
(`MeetingRunner`) the moderator role or being the meeting's own moderator (`may_run`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.core.errors import Forbidden
from app.groups.access import Loaded, ObjectKind, object_access
from app.meetings.base import may_run
from app.models import AgendaItem, Meeting, Role
from app.models.base import table_of

MEETING = ObjectKind(table_of(Meeting), "Meeting", Meeting)
AGENDA_ITEM = ObjectKind(
    table_of(AgendaItem), "Agenda item", AgendaItem, parent=(table_of(Meeting), "meeting_id")
)
MeetingFor = object_access(MEETING, "meeting_id")
AgendaItemFor = object_access(AGENDA_ITEM, "item_id")

MeetingReader = Annotated[Loaded[Meeting], MeetingFor(Role.observer)]
Participant = Annotated[Loaded[Meeting], MeetingFor(Role.member)]
# A write open to observers: `need=observer` only checks read access, which a public group
# grants to every signed-in user, so membership is checked in `_attendee`.
_GroupReaderWriting = Annotated[Loaded[Meeting], MeetingFor(Role.observer, write=True)]
_AgendaWriter = Annotated[Loaded[AgendaItem], AgendaItemFor(Role.member)]

RUN_MESSAGE = "This needs the moderator role in the group, or being this meeting's moderator"
ATTEND_MESSAGE = "Attending a meeting needs membership of its group (any role)"


async def _runner(meeting: Participant) -> Loaded[Meeting]:
    if not may_run(meeting.ctx, meeting.obj):
        raise Forbidden(RUN_MESSAGE)
    return meeting


MeetingRunner = Annotated[Loaded[Meeting], Depends(_runner)]


async def _attendee(meeting: _GroupReaderWriting) -> Loaded[Meeting]:
    """Attending is not writing: observers (the commission's staff, guests) are present and
    belong in the attendance list. Readers of a public group who are not members are not."""
    if meeting.ctx.role is None:
        raise Forbidden(ATTEND_MESSAGE)
    return meeting


Attendee = Annotated[Loaded[Meeting], Depends(_attendee)]


async def _runner_reading(meeting: MeetingReader) -> Loaded[Meeting]:
    """A read for those who run the meeting (the RSVP list): no lock, unlike MeetingRunner."""
    if not may_run(meeting.ctx, meeting.obj):
        raise Forbidden(RUN_MESSAGE)
    return meeting


RunnerReader = Annotated[Loaded[Meeting], Depends(_runner_reading)]


async def _agenda_runner(item: _AgendaWriter) -> tuple[Loaded[AgendaItem], Meeting]:
    """An agenda item to change, and its meeting (read under the same lock)."""
    meeting = await item.ctx.tx.session().get(Meeting, item.obj.meeting_id)
    assert meeting is not None  # agenda items go with their meeting
    if not may_run(item.ctx, meeting):
        raise Forbidden(RUN_MESSAGE)
    return item, meeting


AgendaRunner = Annotated[tuple[Loaded[AgendaItem], Meeting], Depends(_agenda_runner)]
