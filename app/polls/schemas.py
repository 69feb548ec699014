from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    model_serializer,
    model_validator,
)

from app.core.schemas import InputModel, OutputModel, UTCInstant
from app.meetings.schemas import TimeZone, UserRef
from app.models import PollKind, PollStatus, ResultsShown

OptionTitle = Annotated[str, Field(max_length=200)]
OptionId = Annotated[str, Field(max_length=8, examples=["o1"])]


class PollOptionIn(InputModel):
    """An option: a title, or a `{starts_at, ends_at}` slot for a `time` poll. A bare string
    is taken as a title."""

    title: OptionTitle | None = None
    starts_at: UTCInstant | None = None
    ends_at: UTCInstant | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_title(cls, value: Any) -> Any:
        return {"title": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_shape(self) -> PollOptionIn:
        slot = (self.starts_at, self.ends_at)
        if self.title is not None and any(slot):
            raise ValueError("an option is a title or a time slot, not both")
        if self.title is None and not all(slot):
            raise ValueError("an option needs a title, or both starts_at and ends_at")
        if self.title is not None and not self.title:
            raise ValueError("an option's title cannot be blank")
        return self

    @property
    def as_given(self) -> str | tuple[datetime, datetime]:
        """The title, or the (starts_at, ends_at) pair (app/polls/kinds.py)."""
        if self.title is not None:
            return self.title
        assert self.starts_at is not None and self.ends_at is not None
        return self.starts_at, self.ends_at


class PollCreate(InputModel):
    title: str = Field(min_length=1, max_length=200)
    details: str | None = Field(default=None, max_length=20_000)
    kind: PollKind
    options: list[PollOptionIn] = Field(
        min_length=2,
        max_length=50,
        description="`{title}` (or just the title); for a `time` poll `{starts_at, ends_at}` "
        "slots. They get ids `o1`, `o2`, … in this order.",
    )
    closes_at: UTCInstant | None = Field(
        default=None, description="The poll closes by itself then (in the future)"
    )

    anonymous: StrictBool = Field(
        default=False, description="No one, owners included, sees who chose what"
    )
    results: ResultsShown = Field(
        default=ResultsShown.visible,
        description="Who sees results: everyone at once, each voter after voting, or everyone "
        "after the poll closed",
    )
    meeting_id: uuid.UUID | None = None
    agenda_item_id: uuid.UUID | None = Field(
        default=None, description="An agenda item of `meeting_id`"
    )
    focus_area_id: uuid.UUID | None = None
    proposal_id: uuid.UUID | None = None
    max_choices: int | None = Field(default=None, ge=1, le=50, description="`multiple` polls")
    dots: int | None = Field(default=None, ge=1, le=1000, description="`dot` polls: the budget")
    score_max: int | None = Field(
        default=None, ge=1, le=100, description="`score` polls: scores run 0 to this"
    )


class StanceCast(InputModel):
    choices: list[OptionId] | dict[OptionId, int | str] = Field(
        description="By kind: `single`, `multiple`, `ranked`: option ids (ranked: in order of "
        "preference); `score`: `{id: 0..score_max}` for every option; `dot`: `{id: dots}`; "
        '`time`: `{id: "yes" | "maybe" | "no"}` for every slot'
    )
    reason: str | None = Field(default=None, max_length=2000)


class PollClose(InputModel):
    outcome: str | None = Field(default=None, max_length=20_000)
    create_meeting: StrictBool = Field(
        default=False,
        description="A `time` poll: schedule a meeting in the winning slot (most yes, then maybe)",
    )
    timezone: TimeZone = Field(default="UTC", description="IANA zone of that meeting")


class PollOption(OutputModel):
    id: str
    title: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class OptionResult(OutputModel):
    """One option's figures; only those of the poll's kind are present: `count` (single,
    multiple), `sum` and `mean` (score; `mean` null without voters), `points` (ranked, Borda),
    `sum` (dot), `yes` and `maybe` (time)."""

    id: str
    count: int | None = None
    sum: int | None = None
    mean: float | None = None
    points: int | None = None
    yes: int | None = None
    maybe: int | None = None

    @model_serializer(mode="wrap")
    def _only_the_kinds_figures(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None or k in self.model_fields_set}


class PollResults(OutputModel):
    voters: int
    options: list[OptionResult]


class PollRead(OutputModel):
    id: uuid.UUID
    group_id: uuid.UUID
    author_id: uuid.UUID | None
    title: str
    details: str | None
    kind: PollKind
    options: list[PollOption]
    max_choices: int | None
    dots: int | None
    score_max: int | None
    anonymous: bool
    results_shown: ResultsShown
    status: PollStatus
    closes_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    meeting_id: uuid.UUID | None
    agenda_item_id: uuid.UUID | None
    focus_area_id: uuid.UUID | None
    proposal_id: uuid.UUID | None
    scheduled_meeting_id: uuid.UUID | None
    stance_count: int = Field(description="How many have answered (never who, or what)")
    results: PollResults | None = Field(
        description="Only where `results_shown` allows it for the caller; else null"
    )
    my_stance: dict[str, Any] | list[str] | None = Field(
        default=None, description="The caller's own choices, if any"
    )
    created_at: datetime
    updated_at: datetime


class StanceRead(OutputModel):
    user: UserRef
    choices: dict[str, Any] | list[str]
    reason: str | None
    updated_at: datetime
