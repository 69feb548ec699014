from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictInt, StrictStr, model_validator

from app.core.schemas import InputModel, OutputModel, PatchModel
from app.models import QuestionKind, QuestionnaireStatus

OptionText = Annotated[str, Field(max_length=200)]
QuestionId = Annotated[str, Field(max_length=16, examples=["q1"])]
# What a question takes: text → a string, single → one option's text, multiple → a list of
# them, scale → an integer from 1 to scale_max.
Answer = StrictStr | StrictInt | list[StrictStr]
CHOICE_KINDS = frozenset({QuestionKind.single, QuestionKind.multiple})
DEFAULT_SCALE_MAX = 5


class QuestionIn(InputModel):
    """A question; it gets the id `q1`, `q2`, … by its place in the list."""

    text: str = Field(max_length=2_000)
    kind: QuestionKind = QuestionKind.text
    options: list[OptionText] | None = Field(
        default=None, max_length=50, description="`single` and `multiple`: at least two"
    )
    scale_max: int | None = Field(
        default=None,
        ge=2,
        le=10,
        description=f"`scale`: answers run 1 to this (default {DEFAULT_SCALE_MAX})",
    )
    focus_area_id: uuid.UUID | None = Field(default=None, description="a focus area of the group")
    required: StrictBool = False

    # Blank texts are value errors (not `min_length`): whitespace is stripped first, and the
    # schema cannot say "not only spaces".
    @model_validator(mode="after")
    def _consistent(self) -> QuestionIn:
        if not self.text:
            raise ValueError("a question's text cannot be blank")
        if self.kind in CHOICE_KINDS:
            options = self.options or []
            if len(options) < 2:
                raise ValueError(f"a {self.kind.value} question needs at least two options")
            if not all(options):
                raise ValueError("an option cannot be blank")
            if len(set(options)) != len(options):
                raise ValueError("options must differ from each other")
        elif self.options is not None:
            raise ValueError(f"a {self.kind.value} question has no options")
        if self.kind == QuestionKind.scale:
            self.scale_max = self.scale_max or DEFAULT_SCALE_MAX
        elif self.scale_max is not None:
            raise ValueError("only a scale question has scale_max")
        return self


class QuestionnaireCreate(InputModel):
    title: str = Field(min_length=1, max_length=200)
    intro: str | None = Field(default=None, max_length=20_000, description="Markdown")
    questions: list[QuestionIn] = Field(min_length=1, max_length=100)


class QuestionnaireUpdate(PatchModel):
    """`questions` replaces them all (ids assigned again in order); 409 once a response
    exists."""

    not_null = ("title", "questions")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    intro: str | None = Field(default=None, max_length=20_000)
    questions: list[QuestionIn] | None = Field(default=None, min_length=1, max_length=100)


class Question(OutputModel):
    id: str
    text: str
    kind: QuestionKind
    options: list[str] | None
    scale_max: int | None
    focus_area_id: uuid.UUID | None
    required: bool


class QuestionnaireRead(OutputModel):
    id: uuid.UUID
    group_id: uuid.UUID
    title: str
    intro: str | None
    questions: list[Question]
    status: QuestionnaireStatus
    created_by: uuid.UUID | None
    opened_at: datetime | None
    closed_at: datetime | None
    response_count: int = Field(
        description="organizations that answered; the questions are frozen from the first"
    )
    created_at: datetime
    updated_at: datetime


class ResponseSubmit(InputModel):
    organization_id: uuid.UUID = Field(
        description="a member organization of the group: a member's own, or any for a moderator "
        "recording an interview"
    )
    answers: dict[QuestionId, Answer] = Field(
        max_length=100,
        description="{question id: answer}: text → string, single → one of its options, "
        "multiple → a list of them, scale → an integer 1..scale_max; a blank text or an empty "
        "list is no answer",
    )


class ResponseRead(OutputModel):
    id: uuid.UUID
    questionnaire_id: uuid.UUID
    group_id: uuid.UUID
    organization_id: uuid.UUID
    answers: dict[str, Any]
    submitted_by: uuid.UUID | None
    interviewed_by: uuid.UUID | None = Field(
        description="the moderator who recorded the latest submission as an interview"
    )
    created_at: datetime
    updated_at: datetime


# --- the summary ------------------------------------------------------------------------------


class OptionCount(OutputModel):
    option: str
    count: int


class ScaleCount(OutputModel):
    value: int
    count: int


class QuestionSummary(OutputModel):
    """One question's figures: `options` for single and multiple (a multiple answer counts
    for each option chosen), `mean` and `histogram` for scale; `answered` for every kind
    (texts themselves are not summarised)."""

    id: str
    text: str
    kind: QuestionKind
    focus_area_id: uuid.UUID | None
    answered: int
    options: list[OptionCount] | None = None
    mean: float | None = None
    histogram: list[ScaleCount] | None = None


class ResponseRate(OutputModel):
    country: str | None = Field(default=None, description="null: overall")
    responding: int = Field(description="member organizations that responded")
    members: int = Field(description="distinct organizations of the group's memberships")
    rate: float | None = Field(description="responding / members; null without members")


class QuestionnaireSummary(OutputModel):
    questionnaire_id: uuid.UUID
    country: str | None
    focus_area_id: uuid.UUID | None
    responses: int = Field(description="responses counted (of the country, when filtered)")
    response_rate: ResponseRate
    by_country: list[ResponseRate]
    questions: list[QuestionSummary]
