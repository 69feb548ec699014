"""The `data` of each event type, as pydantic models (app/events/types.py names them).

Services build event data as plain dicts, for speed, but out of the same read models the REST
API answers with (`MeetingRead`, `ActionItemRead`, …); the models here name those read models
and the keys around them, so that the AsyncAPI document, the OpenAPI `webhooks` section and
`GET /api/v1/event-types` describe what integrations really receive. tests/test_event_types.py
checks real payloads against them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from app.comments.schemas import CommentRead
from app.consultations.schemas import QuestionnaireRead
from app.diagnosis.schemas import FindingRead
from app.groups.schemas import FocusAreaRead, GroupRead, MemberRead
from app.matching.schemas import IntroductionRead
from app.meetings.schemas import (
    AgendaItemRead,
    AttendeeRead,
    DecisionRead,
    HandRead,
    MeetingRead,
    MinutesRead,
    UserRef,
)
from app.models import ProposalState
from app.polls.schemas import PollRead
from app.proposals.schemas import ProposalRead
from app.roadmap.schemas import ActionItemRead
from app.webhooks.schemas import WebhookRead


def _without(model: type[BaseModel], name: str, *fields: str) -> type[BaseModel]:
    """`model` less `fields` that are per reader (the caller's role, allowed moves, results):
    an event is the same for everyone, so its data leaves them out."""
    kept = {n: (f.annotation, f) for n, f in model.model_fields.items() if n not in fields}
    assert len(kept) == len(model.model_fields) - len(fields), "no such field"
    made: type[BaseModel] = create_model(  # type: ignore[call-overload]
        name, __config__=model.model_config, __doc__=model.__doc__, **kept
    )
    return made


if TYPE_CHECKING:  # to the type checker they are the read models they are made from
    GroupSnapshot = GroupRead
    ProposalSnapshot = ProposalRead
    PollSnapshot = PollRead
    QuestionnaireSnapshot = QuestionnaireRead
else:
    GroupSnapshot = _without(GroupRead, "GroupSnapshot", "my_role")
    ProposalSnapshot = _without(ProposalRead, "ProposalSnapshot", "allowed_transitions")
    PollSnapshot = _without(PollRead, "PollSnapshot", "stance_count", "results", "my_stance")
    QuestionnaireSnapshot = _without(QuestionnaireRead, "QuestionnaireSnapshot", "response_count")


class Data(BaseModel):
    """Event data. Integrations should ignore members they do not know: new ones may come."""

    model_config = ConfigDict(extra="allow")


class Change(BaseModel):
    old: Any
    new: Any


Changes = dict[str, Change]
_CHANGES = Field(description="`{field: {old, new}}` of the fields that changed")


# --- groups --------------------------------------------------------------------------------


class GroupData(Data):
    group: GroupSnapshot


class GroupUpdated(Data):
    changes: Changes = _CHANGES


class GroupArchived(Data):
    archived_at: datetime


class MemberData(Data):
    member: MemberRead


class MemberUpdated(MemberData):
    changes: Changes = _CHANGES


class FocusAreaData(Data):
    focus_area: FocusAreaRead


class FocusAreaUpdated(FocusAreaData):
    changes: Changes = _CHANGES


# --- meetings: every event carries the meeting as it is now --------------------------------


class MeetingData(Data):
    meeting: MeetingRead


class MeetingUpdated(MeetingData):
    changes: Changes = _CHANGES


class MeetingClosed(MeetingData):
    """Ending or cancelling a live meeting also clears its floor."""

    attendees_left: list[uuid.UUID] | None = Field(
        default=None, description="who was still present (only when the meeting was live)"
    )
    hands_cleared: list[uuid.UUID] | None = Field(
        default=None, description="whose raised hands were dropped (only when it was live)"
    )
    previous_speaker_id: uuid.UUID | None = None


class MeetingRsvp(MeetingData):
    user: UserRef
    response: Literal["yes", "no", "maybe"]
    previous_response: Literal["yes", "no", "maybe"] | None
    counts: dict[str, int] = Field(description="the answers so far: `{yes, no, maybe}`")


class MeetingAttendance(MeetingData):
    attendee: AttendeeRead
    present_count: int = Field(description="attendees present after this change")


class MeetingHand(MeetingData):
    hand: HandRead
    queue_length: int = Field(description="raised hands waiting after this change")


class MeetingSpeakerChanged(MeetingData):
    speaker: UserRef
    previous_speaker_id: uuid.UUID | None
    source: Literal["queue", "agenda"] = Field(
        description="`queue`: the first raised hand; `agenda`: the speaker of the next item"
    )
    raised_at: datetime | None = Field(default=None, description="source `queue` only")
    queue_length: int | None = Field(default=None, description="source `queue` only")
    agenda_item_id: uuid.UUID | None = Field(default=None, description="source `agenda` only")


class MeetingAgendaUpdated(MeetingData):
    change: Literal["created", "updated", "deleted"]
    item: AgendaItemRead = Field(description="the item created, updated or deleted")
    agenda: list[AgendaItemRead] = Field(description="the whole agenda in its new order")
    changes: Changes | None = Field(default=None, description="change `updated` only")


class MeetingAgendaAdvanced(MeetingData):
    item: AgendaItemRead = Field(description="the agenda item now current")
    previous_item_id: uuid.UUID | None
    remaining: int = Field(description="agenda items after this one")


class MeetingMinutes(MeetingData):
    minutes: MinutesRead


class MeetingDecision(MeetingData):
    decision: DecisionRead


class MeetingReminder(MeetingData):
    starts_in_minutes: int


# --- proposals -----------------------------------------------------------------------------


class ProposalData(Data):
    proposal: ProposalSnapshot


class ProposalUpdated(ProposalData):
    changes: Changes = _CHANGES


class ProposalMoved(ProposalData):
    from_: ProposalState = Field(alias="from", description="the state before")
    to: ProposalState = Field(description="the state after")
    reason: str | None


class ProposalEndorsement(Data):
    proposal_id: uuid.UUID
    endorsement_count: int


class ProposalVoted(Data):
    proposal_id: uuid.UUID
    choice: Literal["yes", "no", "abstain"]
    previous_choice: Literal["yes", "no", "abstain"] | None


class Commented(Data):
    comment: CommentRead


# --- roadmap -------------------------------------------------------------------------------


class ActionItemData(Data):
    action_item: ActionItemRead


class ActionItemUpdated(ActionItemData):
    changes: Changes = _CHANGES


class ActionItemAssigned(ActionItemData):
    owner_id: uuid.UUID | None
    previous_owner_id: uuid.UUID | None


class ActionItemDue(ActionItemData):
    due_at: datetime = Field(description="the end of the due date")
    days_overdue: int | None = Field(default=None, description="`action_item.overdue` only")


# --- polls ---------------------------------------------------------------------------------


class PollData(Data):
    poll: PollSnapshot


class PollStanceCast(Data):
    poll_id: uuid.UUID
    stance_count: int
    results: dict[str, Any] | None = Field(
        default=None, description="present only when every reader of the group may see them"
    )


class PollClosed(PollData):
    results: dict[str, Any]
    outcome: str | None


# --- diagnosis and matching ----------------------------------------------------------------


class FindingData(Data):
    finding: FindingRead


class FindingUpdated(FindingData):
    changes: list[str] = Field(description="the names of the fields that were sent")


class SnapshotRef(BaseModel):
    id: uuid.UUID
    label: str | None


class SnapshotCreated(Data):
    snapshot: SnapshotRef


# --- consultations -------------------------------------------------------------------------


class QuestionnaireData(Data):
    questionnaire: QuestionnaireSnapshot


class QuestionnaireUpdated(QuestionnaireData):
    changes: Changes = _CHANGES


class ResponseSubmitted(Data):
    """Ids only: interview answers about an organization reach no webhook or websocket."""

    questionnaire_id: uuid.UUID
    response_id: uuid.UUID
    organization_id: uuid.UUID
    interviewed_by: uuid.UUID | None = Field(description="the moderator who recorded it, if one")
    created: bool = Field(description="false: the organization's earlier response was replaced")


class Introduction(IntroductionRead):
    title: str = Field(description="the title of the introduction's action item")


class MatchIntroduced(Data):
    introduction: Introduction


# --- webhooks ------------------------------------------------------------------------------


class WebhookDisabled(Data):
    webhook: WebhookRead
    reason: str


class WebhookTest(Data):
    """Not an event of the group's history: the body of `POST /webhooks/{id}/test`."""

    webhook_id: uuid.UUID
