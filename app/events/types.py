"""The registry of event types: what each one means, its `data` model and an example.

The AsyncAPI document (app/events/asyncapi.py), the OpenAPI `webhooks` section
(app/core/openapi.py) and `GET /api/v1/event-types` are all built from this table, and
tests/test_event_types.py fails when the code can emit a type that is not in it (or the table
lists one nothing emits). A new event type: one `_t(...)` line here, with a model from
app/events/payloads.py (or a new one there).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from app.events import payloads as p
from app.events.examples import EXAMPLE_TIME, example_id, example_of


@dataclass(frozen=True)
class EventType:
    name: str  # the event type, `<subject>.<verb>`
    description: str
    data: type[BaseModel]
    # False: sent to webhooks only, never written to a group's history (`webhook.test`).
    in_history: bool = True
    # The envelope's `subject.type`, when it is not the type's prefix.
    subject_type: str | None = None

    @property
    def subject(self) -> str:
        return self.subject_type or self.name.split(".", 1)[0]

    @cached_property
    def example_data(self) -> dict[str, Any]:
        return example_of(self.data)

    @cached_property
    def example(self) -> dict[str, Any]:
        """An event envelope of this type (for `webhook.test`: the body's `data`)."""
        if not self.in_history:
            return self.example_data
        return {
            "id": example_id(f"event {self.name}"),
            "seq": 42,
            "type": self.name,
            "group_id": example_id("group_id"),
            "occurred_at": EXAMPLE_TIME,
            "actor_id": example_id("actor_id"),
            "subject": {"type": self.subject, "id": example_id(f"{self.subject}_id")},
            "data": self.example_data,
        }

    @property
    def webhook_example(self) -> dict[str, Any]:
        """The body of a webhook request carrying this type (Standard Webhooks)."""
        return {"type": self.name, "timestamp": EXAMPLE_TIME, "data": self.example}


def _t(type_: str, data: type[BaseModel], description: str, **kw: Any) -> EventType:
    return EventType(type_, description, data, **kw)


_ALL = [
    # groups, members, focus areas
    _t("group.created", p.GroupData, "A group was created; its creator's `member.added` follows."),
    _t("group.updated", p.GroupUpdated, "The group's name, description or visibility changed."),
    _t("group.archived", p.GroupArchived, "The group was archived: it takes no more changes."),
    _t("member.added", p.MemberData, "Someone joined the group (invitation, join request)."),
    _t("member.updated", p.MemberUpdated, "A member's role or organization changed."),
    _t("member.removed", p.MemberData, "A member left or was removed from the group."),
    _t("focus_area.created", p.FocusAreaData, "A focus area was added."),
    _t("focus_area.updated", p.FocusAreaUpdated, "A focus area was edited or moved."),
    _t("focus_area.deleted", p.FocusAreaData, "A focus area was deleted (its last state)."),
    # meetings
    _t("meeting.scheduled", p.MeetingData, "A meeting was scheduled."),
    _t("meeting.updated", p.MeetingUpdated, "A meeting's details changed."),
    _t("meeting.started", p.MeetingData, "The moderator started the meeting: it is live."),
    _t("meeting.ended", p.MeetingClosed, "The live meeting ended; everyone present left."),
    _t("meeting.cancelled", p.MeetingClosed, "The meeting was cancelled."),
    _t("meeting.rsvp", p.MeetingRsvp, "A participant answered whether they will attend."),
    _t("meeting.attendee_joined", p.MeetingAttendance, "Someone joined the live meeting."),
    _t("meeting.attendee_left", p.MeetingAttendance, "Someone left the live meeting."),
    _t("meeting.hand_raised", p.MeetingHand, "A participant raised their hand to speak."),
    _t("meeting.hand_lowered", p.MeetingHand, "A participant lowered their hand."),
    _t("meeting.speaker_changed", p.MeetingSpeakerChanged, "Someone else has the floor."),
    _t(
        "meeting.agenda_updated",
        p.MeetingAgendaUpdated,
        "An agenda item was added, edited or removed.",
    ),
    _t(
        "meeting.agenda_advanced",
        p.MeetingAgendaAdvanced,
        "The moderator moved to the next agenda item.",
    ),
    _t("meeting.minutes_updated", p.MeetingMinutes, "The minutes were saved as a draft."),
    _t("meeting.minutes_published", p.MeetingMinutes, "The minutes were published."),
    _t(
        "meeting.decision_recorded",
        p.MeetingDecision,
        "A decision (with its action items) was recorded.",
    ),
    _t("meeting.reminder", p.MeetingReminder, "The meeting starts soon (recorded by the worker)."),
    # proposals
    _t("proposal.created", p.ProposalData, "A member wrote a proposal (a draft)."),
    _t("proposal.updated", p.ProposalUpdated, "A proposal was edited."),
    _t("proposal.submitted", p.ProposalMoved, "The author submitted their draft."),
    _t(
        "proposal.state_changed",
        p.ProposalMoved,
        "A proposal moved: review, accepted, rejected, withdrawn.",
    ),
    _t("proposal.endorsed", p.ProposalEndorsement, "A member endorsed a proposal."),
    _t(
        "proposal.endorsement_withdrawn",
        p.ProposalEndorsement,
        "A member withdrew their endorsement.",
    ),
    _t(
        "proposal.voted",
        p.ProposalVoted,
        "A member voted on a proposal under review (or changed their vote).",
    ),
    _t("proposal.commented", p.Commented, "Someone commented on a proposal."),
    # roadmap
    _t("action_item.created", p.ActionItemData, "An action item was created."),
    _t("action_item.updated", p.ActionItemUpdated, "An action item changed."),
    _t(
        "action_item.assigned", p.ActionItemAssigned, "An action item got an owner, or another one."
    ),
    _t("action_item.completed", p.ActionItemData, "An action item became `done`."),
    _t("action_item.deleted", p.ActionItemData, "An action item was deleted (its last state)."),
    _t("action_item.commented", p.Commented, "Someone commented on an action item."),
    _t(
        "action_item.due_soon",
        p.ActionItemDue,
        "An open action item is due today (recorded by the worker).",
    ),
    _t(
        "action_item.overdue",
        p.ActionItemDue,
        "An open action item is past due (recorded daily by the worker).",
    ),
    # polls
    _t("poll.opened", p.PollData, "A poll was opened."),
    _t("poll.stance_cast", p.PollStanceCast, "A member answered a poll, or changed their answer."),
    _t("poll.closed", p.PollClosed, "A poll closed (by hand, at its time, or with its meeting)."),
    _t("poll.closing_soon", p.PollData, "A poll closes within a day (recorded by the worker)."),
    # consultations
    _t("questionnaire.created", p.QuestionnaireData, "A moderator drafted a questionnaire."),
    _t("questionnaire.updated", p.QuestionnaireUpdated, "A questionnaire was edited."),
    _t("questionnaire.opened", p.QuestionnaireData, "A questionnaire opened for responses."),
    _t("questionnaire.closed", p.QuestionnaireData, "A questionnaire closed."),
    _t(
        "response.submitted",
        p.ResponseSubmitted,
        "An organization answered a questionnaire (or a moderator recorded its interview).",
    ),
    # diagnosis and matching
    _t("finding.created", p.FindingData, "A moderator recorded a finding of the diagnosis."),
    _t("finding.updated", p.FindingUpdated, "A finding was edited."),
    _t(
        "diagnosis.snapshot_created",
        p.SnapshotCreated,
        "The diagnosis was frozen as a snapshot.",
        subject_type="diagnosis_snapshot",
    ),
    _t(
        "match.introduced",
        p.MatchIntroduced,
        "A moderator introduced two organizations.",
        subject_type="introduction",
    ),
    # webhooks
    _t(
        "webhook.disabled",
        p.WebhookDisabled,
        "A webhook endpoint was disabled (410, or failing for days).",
    ),
    _t(
        "webhook.test",
        p.WebhookTest,
        "Sent by `POST /webhooks/{id}/test` only; not an event of the group's history, so its "
        "`data` is `{webhook_id}` rather than an event envelope.",
        in_history=False,
    ),
]

EVENT_TYPES: dict[str, EventType] = {t.name: t for t in _ALL}
assert len(EVENT_TYPES) == len(_ALL), "an event type is listed twice"
