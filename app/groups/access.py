"""Group authorization: the one place that decides who may see and change a group's objects.

- A non-member of a private group gets 404 for the group and everything in it (existence is
  never leaked); any signed-in user may read a public group.
- A member whose role is too low gets 403. `is_admin` users act as owners everywhere.
- Writes to an archived group are refused with 409.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.db import SessionDep
from app.core.errors import Conflict, Forbidden, NotFound
from app.models import Group, Membership, Role, User, Visibility
from app.users.deps import CurrentUser


@dataclass(frozen=True)
class GroupContext:
    group: Group
    user: User
    membership: Membership | None

    @property
    def role(self) -> Role | None:
        """The caller's effective role; None for a non-member reading a public group."""
        if self.user.is_admin:
            return Role.owner
        return self.membership.role if self.membership else None

    def has_role(self, need: Role) -> bool:
        return self.role is not None and self.role.rank >= need.rank


async def membership_of(
    session: AsyncSession, group_id: uuid.UUID, user_id: uuid.UUID
) -> Membership | None:
    stmt = select(Membership).where(
        col(Membership.group_id) == group_id,
        col(Membership.user_id) == user_id,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def authorize_group(
    *, session: AsyncSession, user: User, group_id: uuid.UUID, need: Role, write: bool
) -> GroupContext:
    """Load the group and check that `user` holds at least `need` in it."""
    group = await session.get(Group, group_id)
    if group is None:
        raise NotFound("Group not found")
    ctx = GroupContext(group, user, await membership_of(session, group_id, user.id))
    if ctx.role is None and group.visibility != Visibility.public:
        raise NotFound("Group not found")
    if need != Role.observer and not ctx.has_role(need):
        raise Forbidden(f"This needs the {need.value} role in the group")
    if write:
        await lock_group(session, group)
        if group.archived_at is not None:
            raise Conflict("The group is archived; it is read-only")
    return ctx


async def lock_group(session: AsyncSession, group: Group) -> None:
    """Take the group's row lock now (and reload it) for the rest of the transaction.

    Every write ends by bumping `last_seq` under this lock anyway (EVENTS.md §1); taking it
    before the service reads makes read-then-write checks see committed state: focus area
    positions, "is this the last owner?", "already a member?", "already archived?". Without it,
    concurrent writers on PostgreSQL compute from stale rows and collide (412/500) or break
    invariants. SQLite serializes writers at BEGIN IMMEDIATE, so FOR UPDATE is a no-op there.
    """
    await session.refresh(group, with_for_update=True)


def GroupMember(role: Role = Role.observer, *, write: bool | None = None) -> Any:
    """Dependency for routes under `/groups/{group_id}`: the caller must hold `role`.

    `role=observer` means "may read" (members of any role, anyone for a public group).
    Every role above observer implies a write unless `write=False`.
    """
    is_write = role != Role.observer if write is None else write

    async def dependency(
        group_id: uuid.UUID, session: SessionDep, user: CurrentUser
    ) -> GroupContext:
        return await authorize_group(
            session=session, user=user, group_id=group_id, need=role, write=is_write
        )

    return Depends(dependency)
