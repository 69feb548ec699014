"""The action-item routes' authorize-and-load dependency (app/groups/access.py)."""

from __future__ import annotations

from typing import Annotated

from app.groups.access import Loaded, ObjectKind, object_access
from app.models import Role
from app.roadmap.queries import ItemRow, items

ACTION_ITEM = ObjectKind(items, "Action item", ItemRow)
ItemFor = object_access(ACTION_ITEM, "action_item_id")

ItemReader = Annotated[Loaded[ItemRow], ItemFor(Role.observer)]
# Members may write: which items they may change is the service's rule (their own).
ItemWriter = Annotated[Loaded[ItemRow], ItemFor(Role.member)]
