"""Loading a group-scoped object (a proposal, an action item) and authorizing the caller.

Routes like `/proposals/{id}` know the object, not the group: load it, then check the caller's
role in its group. For a write the group's row lock is taken first and the object is read again
under it, so checks ("is it still under review?", "who owns it?") see committed state.
"""

from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.groups.access import GroupContext, authorize_group
from app.models import ActionItem, Proposal, Role, User

Subject = TypeVar("Subject", Proposal, ActionItem)

LABELS: dict[type[Proposal | ActionItem], str] = {
    Proposal: "Proposal",
    ActionItem: "Action item",
}


async def load_authorized(
    *,
    session: AsyncSession,
    user: User,
    model: type[Subject],
    object_id: uuid.UUID,
    need: Role,
    write: bool,
) -> tuple[Subject, GroupContext]:
    """The object and the caller's context in its group (404 when missing or not visible)."""
    missing = NotFound(f"{LABELS[model]} not found")
    obj = await session.get(model, object_id)
    if obj is None:
        raise missing
    ctx = await authorize_group(
        session=session,
        user=user,
        group_id=obj.group_id,
        need=need,
        write=write,
        not_found=missing.detail,
    )
    if write:
        # Re-read under the group lock: a writer that committed meanwhile is now visible.
        obj = await session.get(model, object_id, populate_existing=True)
        if obj is None:
            raise missing
    return obj, ctx
