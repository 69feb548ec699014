"""Who is notified of what: one rule per event type.

A rule names the candidate recipients of an event; `service.notify_event` then applies what is
common to every rule: never the actor, only active users who are members of the event's group
when it is dispatched, and never a user who muted the type. Adding a notification type is one
line in `RULES` (and a sentence in app/notifications/templates.py for its email).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import (
    ActionItem,
    Event,
    Meeting,
    MeetingRsvp,
    Membership,
    Poll,
    Proposal,
    Role,
    RsvpResponse,
    Stance,
)

Recipients = Callable[[AsyncSession, Event], Awaitable[set[uuid.UUID]]]


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


def _snapshot(event: Event, key: str) -> dict[str, Any]:
    value = event.data.get(key)
    return value if isinstance(value, dict) else {}


def _just(user_id: uuid.UUID | None) -> set[uuid.UUID]:
    return {user_id} if user_id is not None else set()


async def item_owner(session: AsyncSession, event: Event) -> set[uuid.UUID]:
    """The item's owner as the event recorded it (the row may have changed, or be deleted,
    by the time the event is dispatched); the current owner for events without a snapshot."""
    snapshot = _snapshot(event, "action_item")
    if snapshot:
        return _just(_uuid(snapshot.get("owner_id")))
    item = await session.get(ActionItem, event.subject_id)
    return _just(item.owner_id if item else None)


async def new_owner(session: AsyncSession, event: Event) -> set[uuid.UUID]:
    return _just(_uuid(event.data.get("owner_id")))


async def item_owner_unless_reassigned(session: AsyncSession, event: Event) -> set[uuid.UUID]:
    # A change of owner also records `action_item.assigned`, which tells the new owner.
    if "owner_id" in (event.data.get("changes") or {}):
        return set()
    return await item_owner(session, event)


async def proposal_author(session: AsyncSession, event: Event) -> set[uuid.UUID]:
    snapshot = _snapshot(event, "proposal")
    if snapshot.get("author_id"):
        return _just(_uuid(snapshot["author_id"]))
    proposal = await session.get(Proposal, event.subject_id)
    return _just(proposal.author_id if proposal else None)


async def group_members(session: AsyncSession, event: Event) -> set[uuid.UUID]:
    rows = await session.execute(
        select(col(Membership.user_id)).where(col(Membership.group_id) == event.group_id)
    )
    return set(rows.scalars())


async def group_owners(session: AsyncSession, event: Event) -> set[uuid.UUID]:
    rows = await session.execute(
        select(col(Membership.user_id)).where(
            col(Membership.group_id) == event.group_id, col(Membership.role) == Role.owner
        )
    )
    return set(rows.scalars())


async def members_not_declined(session: AsyncSession, event: Event) -> set[uuid.UUID]:
    """Members of the meeting's group, except those who answered "no" to it."""
    declined = await session.execute(
        select(col(MeetingRsvp.user_id)).where(
            col(MeetingRsvp.meeting_id) == event.subject_id,
            col(MeetingRsvp.response) == RsvpResponse.no,
        )
    )
    return await group_members(session, event) - set(declined.scalars())


async def members_without_stance(session: AsyncSession, event: Event) -> set[uuid.UUID]:
    """Members of the poll's group (above observer: they may answer) who have not answered."""
    answered = await session.execute(
        select(col(Stance.user_id)).where(col(Stance.poll_id) == event.subject_id)
    )
    voters = await session.execute(
        select(col(Membership.user_id)).where(
            col(Membership.group_id) == event.group_id, col(Membership.role) != Role.observer
        )
    )
    return set(voters.scalars()) - set(answered.scalars())


async def introduced_organizations(session: AsyncSession, event: Event) -> set[uuid.UUID]:
    """Members of the group who represent either organization of an introduction (their
    membership names it), as the event recorded the two."""
    snapshot = _snapshot(event, "introduction")
    orgs = {
        org_id
        for side in ("need_organization", "offer_organization")
        if (org_id := _uuid((snapshot.get(side) or {}).get("id"))) is not None
    }
    if not orgs:
        return set()
    rows = await session.execute(
        select(col(Membership.user_id)).where(
            col(Membership.group_id) == event.group_id,
            col(Membership.organization_id).in_(orgs),
        )
    )
    return set(rows.scalars())


@dataclass(frozen=True)
class Rule:
    recipients: Recipients
    reason: str  # stored on the notification: why this user got it
    who: str  # for the docs


OWNER = "owner"
AUTHOR = "author"
MEMBER = "member"
ORGANIZATION = "organization"

RULES: dict[str, Rule] = {
    "action_item.assigned": Rule(new_owner, OWNER, "the new owner"),
    "action_item.updated": Rule(
        item_owner_unless_reassigned, OWNER, "the owner (a change of owner: see assigned)"
    ),
    "action_item.deleted": Rule(item_owner, OWNER, "the owner"),
    "action_item.commented": Rule(item_owner, OWNER, "the owner"),
    "action_item.due_soon": Rule(item_owner, OWNER, "the owner, once, on the due date (UTC)"),
    "action_item.overdue": Rule(item_owner, OWNER, "the owner, at most once a day"),
    "proposal.state_changed": Rule(proposal_author, AUTHOR, "the author"),
    "proposal.commented": Rule(proposal_author, AUTHOR, "the author"),
    "meeting.scheduled": Rule(group_members, MEMBER, "every member of the group"),
    "meeting.started": Rule(group_members, MEMBER, "every member of the group"),
    "meeting.cancelled": Rule(group_members, MEMBER, "every member of the group"),
    "meeting.minutes_published": Rule(group_members, MEMBER, "every member of the group"),
    "meeting.reminder": Rule(
        members_not_declined, MEMBER, 'members who did not answer "no", an hour before the start'
    ),
    "poll.opened": Rule(group_members, MEMBER, "every member of the group"),
    "poll.closing_soon": Rule(
        members_without_stance, MEMBER, "members who have not answered, 24 hours before it closes"
    ),
    "webhook.disabled": Rule(group_owners, OWNER, "the group's owners"),
    "match.introduced": Rule(
        introduced_organizations, ORGANIZATION, "members who represent either organization"
    ),
}

NOTIFIABLE_TYPES: frozenset[str] = frozenset(RULES)

# Where an event's data keeps a snapshot of its subject (its title, due date, start time).
SUBJECT_MODELS: dict[str, type[ActionItem] | type[Proposal] | type[Meeting] | type[Poll]] = {
    "action_item": ActionItem,
    "proposal": Proposal,
    "meeting": Meeting,
    "poll": Poll,
}


def rules_markdown() -> str:
    """The rules as a Markdown table (the OpenAPI description of `GET /notifications`)."""
    lines = ["| event type | who is notified |", "|---|---|"]
    lines += [f"| `{t}` | {rule.who} |" for t, rule in RULES.items()]
    return "\n".join(lines)
