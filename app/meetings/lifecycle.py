"""The meeting lifecycle: one transition table; every other state check goes through here too.

scheduled ──start──▶ live ──end──▶ ended
    │                  │
    └──cancel──▶ cancelled ◀──cancel──┘
"""

from __future__ import annotations

import enum
from collections.abc import Collection

from app.core.errors import Conflict, InvalidTransition
from app.models import Meeting, MeetingStatus


class Action(enum.StrEnum):
    start = "start"
    end = "end"
    cancel = "cancel"


TRANSITIONS: dict[MeetingStatus, dict[Action, MeetingStatus]] = {
    MeetingStatus.scheduled: {
        Action.start: MeetingStatus.live,
        Action.cancel: MeetingStatus.cancelled,
    },
    MeetingStatus.live: {Action.end: MeetingStatus.ended, Action.cancel: MeetingStatus.cancelled},
    MeetingStatus.ended: {},
    MeetingStatus.cancelled: {},
}

# The event each move records.
EVENT_TYPES = {
    Action.start: "meeting.started",
    Action.end: "meeting.ended",
    Action.cancel: "meeting.cancelled",
}

# States in which the meeting's content (details, agenda, RSVPs) may still change.
OPEN = frozenset({MeetingStatus.scheduled, MeetingStatus.live})
# States in which a record of the meeting (minutes, decisions) may be written.
RECORDABLE = frozenset({MeetingStatus.scheduled, MeetingStatus.live, MeetingStatus.ended})
LIVE = frozenset({MeetingStatus.live})


def allowed_actions(status: MeetingStatus) -> list[str]:
    return [a.value for a in TRANSITIONS[status]]


def next_status(status: MeetingStatus, action: Action) -> MeetingStatus:
    """The state `action` leads to from `status`; 409 naming the allowed moves otherwise."""
    target = TRANSITIONS[status].get(action)
    if target is None:
        allowed = allowed_actions(status)
        moves = ", ".join(allowed) if allowed else "none (it is final)"
        raise InvalidTransition(
            f"Cannot {action.value} a meeting that is {status.value}; allowed: {moves}",
            extra={"meeting_status": status.value, "allowed": allowed},
        )
    return target


def require_status(meeting: Meeting, allowed: Collection[MeetingStatus], doing: str) -> None:
    """409 unless the meeting is in one of `allowed` (e.g. join only while live)."""
    if meeting.status not in allowed:
        wanted = " or ".join(sorted(s.value for s in allowed))
        raise Conflict(
            f"Cannot {doing}: the meeting is {meeting.status.value}, it must be {wanted}",
            extra={"meeting_status": meeting.status.value},
        )
