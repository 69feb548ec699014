"""The proposal state machine: one table says which move exists and who may make it.

    draft ──author──▶ submitted ──moderator──▶ under_review ──moderator──▶ accepted | rejected
      └───────────────────┴──────────author──────────┴──▶ withdrawn

A move that is not in the table is an InvalidTransition (409); a move in the table made by
someone who is not its actor is Forbidden (403). Both list the moves this caller may make.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.models import ProposalState

S = ProposalState


class Actor(enum.StrEnum):
    author = "author"  # the proposal's author (holding at least the member role)
    moderator = "moderator"  # a moderator or owner of the group (or an admin)


@dataclass(frozen=True)
class Transition:
    source: ProposalState
    target: ProposalState
    actor: Actor
    event: str


TRANSITIONS: tuple[Transition, ...] = (
    Transition(S.draft, S.submitted, Actor.author, "proposal.submitted"),
    Transition(S.submitted, S.under_review, Actor.moderator, "proposal.state_changed"),
    Transition(S.under_review, S.accepted, Actor.moderator, "proposal.state_changed"),
    Transition(S.under_review, S.rejected, Actor.moderator, "proposal.state_changed"),
    Transition(S.draft, S.withdrawn, Actor.author, "proposal.state_changed"),
    Transition(S.submitted, S.withdrawn, Actor.author, "proposal.state_changed"),
    Transition(S.under_review, S.withdrawn, Actor.author, "proposal.state_changed"),
)
TABLE: dict[tuple[ProposalState, ProposalState], Transition] = {
    (t.source, t.target): t for t in TRANSITIONS
}

FINAL_STATES = frozenset({S.accepted, S.rejected, S.withdrawn})
# Authors edit their text only before review starts; moderators until a final state.
AUTHOR_EDITABLE = frozenset({S.draft, S.submitted})
# Endorsements are given (and taken back) while the group considers the proposal.
ENDORSABLE = frozenset({S.submitted, S.under_review})
VOTABLE = frozenset({S.under_review})


def may_make(transition: Transition, *, is_author: bool, is_moderator: bool) -> bool:
    return is_author if transition.actor is Actor.author else is_moderator


def allowed_targets(
    state: ProposalState, *, is_author: bool, is_moderator: bool
) -> list[ProposalState]:
    """The moves from `state` this caller may make, in the table's order."""
    return [
        t.target
        for t in TRANSITIONS
        if t.source == state and may_make(t, is_author=is_author, is_moderator=is_moderator)
    ]
