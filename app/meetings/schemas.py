from __future__ import annotations

import functools
import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    computed_field,
    model_validator,
)

from app.core.schemas import Day, InputModel, OutputModel, PatchModel, UTCInstant
from app.meetings.lifecycle import allowed_actions
from app.models import MeetingMode, MeetingStatus, Priority, Role, RsvpResponse
from app.roadmap.schemas import ActionItemRead


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _iana_zone(value: str) -> str:
    if value not in _known_zones():
        raise ValueError("unknown IANA time zone (e.g. America/Santiago)")
    return value


TimeZone = Annotated[
    str, Field(max_length=64, examples=["America/Santiago"]), AfterValidator(_iana_zone)
]
JoinUrl = Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")]


def check_interval(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at")


class MeetingCreate(InputModel):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    starts_at: UTCInstant
    ends_at: UTCInstant
    timezone: TimeZone = Field(description="IANA zone the meeting is planned in (calendar TZID)")
    mode: MeetingMode = MeetingMode.virtual
    join_url: JoinUrl | None = None
    location: str | None = Field(default=None, max_length=500)
    moderator_id: uuid.UUID | None = Field(
        default=None, description="a member of the group; defaults to the creator"
    )

    @model_validator(mode="after")
    def _interval(self) -> MeetingCreate:
        check_interval(self.starts_at, self.ends_at)
        return self


class MeetingUpdate(PatchModel):
    not_null = ("title", "starts_at", "ends_at", "timezone", "mode")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    starts_at: UTCInstant | None = None
    ends_at: UTCInstant | None = None
    timezone: TimeZone | None = None
    mode: MeetingMode | None = None
    join_url: JoinUrl | None = None
    location: str | None = Field(default=None, max_length=500)
    moderator_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _valid(self) -> MeetingUpdate:
        check_interval(self.starts_at, self.ends_at)
        return self


class MeetingRead(OutputModel):
    id: uuid.UUID
    group_id: uuid.UUID
    title: str
    description: str | None
    starts_at: datetime
    ends_at: datetime
    timezone: str
    mode: MeetingMode
    join_url: str | None
    location: str | None
    moderator_id: uuid.UUID | None
    status: MeetingStatus
    current_agenda_item_id: uuid.UUID | None
    current_speaker_id: uuid.UUID | None
    started_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None
    ical_sequence: int = Field(description="iCalendar SEQUENCE; grows with every update")
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def allowed_actions(self) -> list[str]:
        """Lifecycle moves possible now: start, end, cancel."""
        return allowed_actions(self.status)


class RsvpCounts(OutputModel):
    """Answers of the group's members who may answer (every role but observer)."""

    yes: int
    no: int
    maybe: int
    none: int = Field(description="members who have not answered")


class OpenPoll(OutputModel):
    id: uuid.UUID
    title: str
    kind: str
    agenda_item_id: uuid.UUID | None


class MeetingDetail(MeetingRead):
    """One meeting as `GET /meetings/{id}` shows it: with the RSVP counts and the polls open
    in it (`/polls/{id}` for each)."""

    rsvp_counts: RsvpCounts
    open_polls: list[OpenPoll]


class AgendaItemCreate(InputModel):
    title: str = Field(min_length=1, max_length=200)
    speaker_id: uuid.UUID | None = Field(default=None, description="a member of the group")
    focus_area_id: uuid.UUID | None = None
    duration_minutes: int | None = Field(default=None, ge=1, le=1440)
    position: int | None = Field(default=None, ge=1, le=10_000, description="1-based; default last")


class AgendaItemUpdate(PatchModel):
    not_null = ("title", "position")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    speaker_id: uuid.UUID | None = None
    focus_area_id: uuid.UUID | None = None
    duration_minutes: int | None = Field(default=None, ge=1, le=1440)
    position: int | None = Field(default=None, ge=1, le=10_000)


class AgendaItemRead(OutputModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    title: str
    speaker_id: uuid.UUID | None
    focus_area_id: uuid.UUID | None
    duration_minutes: int | None
    position: int
    started_at: datetime | None = Field(description="when the agenda reached this item")
    ended_at: datetime | None = Field(
        description="when the agenda left this item (advanced past it, or the meeting ended)"
    )
    created_at: datetime
    updated_at: datetime


class RsvpUpdate(InputModel):
    response: RsvpResponse


class RsvpRead(OutputModel):
    meeting_id: uuid.UUID
    user_id: uuid.UUID
    response: RsvpResponse
    updated_at: datetime


class RsvpEntry(OutputModel):
    """A member of the group who may answer, and their answer to this meeting."""

    user_id: uuid.UUID
    name: str
    role: Role
    response: RsvpResponse | None = Field(description="null: no answer yet")
    responded_at: datetime | None = Field(description="when the current answer was given")


class UserRef(OutputModel):
    id: uuid.UUID
    name: str


class OrganizationRef(OutputModel):
    id: uuid.UUID
    name: str
    country: str


class StayRead(OutputModel):
    joined_at: datetime
    left_at: datetime | None


class AttendeeRead(OutputModel):
    user_id: uuid.UUID
    name: str
    organization: OrganizationRef | None = Field(description="from the group membership")
    present: bool
    total_seconds: float = Field(description="time present, summed over every stay")
    stays: list[StayRead]


class HandRead(OutputModel):
    user_id: uuid.UUID
    name: str
    position: int = Field(description="1 = next to get the floor")
    raised_at: datetime


class MinutesUpdate(InputModel):
    body: str = Field(max_length=500_000, description="markdown")
    published: StrictBool = False


class MinutesRead(OutputModel):
    meeting_id: uuid.UUID
    body: str
    published: bool
    published_at: datetime | None
    updated_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class DecisionActionItem(InputModel):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    owner_id: uuid.UUID | None = Field(default=None, description="must be a member of the group")
    due_date: Day | None = None
    priority: Priority = Priority.medium
    focus_area_id: uuid.UUID | None = None


class DecisionCreate(InputModel):
    text: str = Field(min_length=1, max_length=20_000)
    action_items: list[DecisionActionItem] = Field(default_factory=list, max_length=50)


class DecisionRead(OutputModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    group_id: uuid.UUID
    text: str
    created_by: uuid.UUID | None
    created_at: datetime
    action_items: list[ActionItemRead]


def dump(model: OutputModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


# --- the meeting report --------------------------------------------------------------------


class ReportAgendaItem(OutputModel):
    id: uuid.UUID
    position: int
    title: str
    speaker: UserRef | None
    focus_area_id: uuid.UUID | None
    duration_minutes: int | None = Field(description="the time planned")
    started_at: datetime | None
    ended_at: datetime | None
    spent_seconds: float | None = Field(
        description="time on the item (null: never reached); the current item of a live "
        "meeting counts up to now"
    )


class OrganizationCount(OutputModel):
    organization: OrganizationRef | None = Field(description="null: attendees without one")
    attendees: int


class CountryCount(OutputModel):
    country: str | None = Field(description="of the organization; null: without one")
    attendees: int


class ReportAttendance(OutputModel):
    total: int = Field(description="everyone who joined at least once")
    by_organization: list[OrganizationCount] = Field(
        description="by the organization each attendee represents in the group (their "
        "membership now), most attendees first"
    )
    by_country: list[CountryCount]
    attendees: list[AttendeeRead]


class ReportPoll(OutputModel):
    """A poll of the meeting and its outcome (filled by the polls: app/meetings/report_polls.py)."""

    id: uuid.UUID
    title: str
    kind: str
    status: str
    outcome: str | None
    results: dict[str, Any] | None = Field(description="as the poll's `results` setting allows")
    options: dict[str, str] = Field(description="each option's title (or time slot) by id")


class MeetingReport(OutputModel):
    meeting: MeetingRead
    draft: bool = Field(description="true while the meeting is live (those who run it only)")
    generated_at: datetime
    agenda: list[ReportAgendaItem]
    attendance: ReportAttendance
    decisions: list[DecisionRead]
    polls: list[ReportPoll]
    minutes: MinutesRead | None = Field(
        description="published minutes; a draft only for those who run the meeting"
    )
    people: list[UserRef] = Field(
        description="the speakers and action item owners the report names by id"
    )
