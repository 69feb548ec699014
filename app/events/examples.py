"""Deterministic example values for a pydantic model, read off its field types.

The documents list an example of every event; written by hand, ~60 of them would drift from the
models. These are built from the models instead, the same on every run (the committed
docs/asyncapi.json is compared with a fresh build), and tests validate them against the models.
"""

from __future__ import annotations

import enum
import types
import typing
import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

# Every id in an example is derived from the field's name, so equal names give equal ids.
_NAMESPACE = uuid.UUID("5f0c3e1a-7b44-4d59-9a6e-0e7c2b1d8a10")
EXAMPLE_TIME = "2025-03-04T15:00:00Z"


def example_id(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """A JSON-ready instance of `model`: every field, by its alias, with an example value."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if field.examples:
            out[key] = field.examples[0]
        else:
            out[key] = _value(field.annotation, name)
    for name, computed in model.model_computed_fields.items():
        out[name] = _value(computed.return_type, name)
    return out


def _value(tp: Any, name: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        return _value(present[0], name) if present else None
    if origin is typing.Literal:
        return args[0]
    if origin is typing.Annotated:
        return _value(args[0], name)
    if origin in (list, tuple, set, frozenset):
        return [_value(args[0], name.removesuffix("s"))] if args else []
    if origin is dict:
        return {"field": _value(args[1], name)} if args and args[1] is not Any else {}
    if isinstance(tp, type):
        return _scalar(tp, name)
    return None


def _scalar(tp: type, name: str) -> Any:
    if issubclass(tp, BaseModel):
        return example_of(tp)
    if issubclass(tp, enum.Enum):
        return next(iter(tp)).value
    if issubclass(tp, bool):  # before int: bool is an int
        return False
    if issubclass(tp, int):
        return 1
    if issubclass(tp, float):
        return 1.0
    if issubclass(tp, uuid.UUID):
        return example_id(name)
    if issubclass(tp, datetime):
        return EXAMPLE_TIME
    if issubclass(tp, date):
        return EXAMPLE_TIME[:10]
    if issubclass(tp, str):
        return name.replace("_", " ")
    return None
