"""Apply a PATCH body to a row and describe what changed (for `*.updated` event data)."""

from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel


def apply_changes(obj: Any, data: BaseModel) -> dict[str, dict[str, Any]]:
    """Set each field given in `data` on `obj`; return `{field: {"old": …, "new": …}}`.

    Only fields the client sent count (`exclude_unset`), and unchanged values are left out,
    so an event's `changes` is exactly the item's history step.
    """
    changes: dict[str, dict[str, Any]] = {}
    for field, new in data.model_dump(exclude_unset=True).items():
        old = getattr(obj, field)
        if old == new:
            continue
        setattr(obj, field, new)
        changes[field] = {"old": jsonable_encoder(old), "new": jsonable_encoder(new)}
    return changes
