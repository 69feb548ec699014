"""Base classes for request and response bodies."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Self, cast

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    field_validator,
    model_validator,
)

from app.core.nul import refuse_nul


class InputModel(BaseModel):
    """Request bodies refuse unknown fields, so nobody sets `is_admin` or a role by accident,
    and text holding NUL characters (app/core/nul.py)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul = field_validator("*")(refuse_nul)


def _document_not_null(schema: dict[str, Any], model: type[Any]) -> None:
    """In the JSON schema, the `not_null` fields of a PatchModel may be left out, not null."""
    for name in getattr(model, "not_null", ()):
        field = schema.get("properties", {}).get(name, {})
        options = [o for o in field.pop("anyOf", []) if o != {"type": "null"}]
        if len(options) == 1:
            field.update(options[0])
        elif options:
            field["anyOf"] = options
        if field.get("default", ...) is None:
            del field["default"]


class PatchModel(InputModel):
    """A PATCH body: a field left out keeps its value. Fields named in `not_null` have no
    empty value (their column is NOT NULL), so `null` for them is a 422 rather than reaching
    the database, and the schema documents them as non-nullable."""

    model_config = ConfigDict(json_schema_extra=_document_not_null)
    not_null: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _refuse_nulls(self) -> Self:
        for name in self.not_null:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(value: Any) -> Any:
    # Pydantic reads a number, or text that is one, as a Unix timestamp: `0` would quietly
    # become 1970-01-01. The API takes the RFC 3339 text it documents.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected an RFC 3339 date or date-time, not a number")
    return value


# For dates and times in request bodies and queries: `Annotated[datetime, TextOnly]`.
TextOnly = BeforeValidator(_not_a_number)
Day = Annotated[date, TextOnly]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# Offsets are required (a naive time is ambiguous across the group's countries); stored in UTC.
UTCInstant = Annotated[AwareDatetime, TextOnly, AfterValidator(_to_utc)]


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Stored(BaseModel):
    """Mixin for a read model as the query layer holds it: the row's values as they are in
    the database (no validation on the way in) and its `version`, which backs the ETag.
    `class ItemRow(ActionItemRead, Stored)`; the statement selects `fields_of(ItemRow)`."""

    version: int

    @classmethod
    def from_row(cls, values: Iterable[Any]) -> Self:
        # (The pydantic mypy plugin types model_construct as returning the defining class.)
        return cast(Self, cls.model_construct(**dict(zip(cls.model_fields, values, strict=True))))


def fields_of(model: type[BaseModel]) -> tuple[str, ...]:
    """A model's field names in order (the column order of its statements)."""
    return tuple(model.model_fields)
