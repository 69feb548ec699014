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
from sqlalchemy import and_, select
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
    *,
    session: AsyncSession,
    user: User,
    group_id: uuid.UUID,
    need: Role,
    write: bool,
    not_found: str = "Group not found",
) -> GroupContext:
    """Load the group and check that `user` holds at least `need` in it.

    The group and the caller's membership come in one statement (this runs on every group
    request); a write takes the group's row lock in it (see `lock_group`). For a request about
    one of the group's objects, `not_found` is that object's missing message: an outsider gets
    the very answer an unknown id gets, so they cannot tell that the id exists.
    """
    stmt = (
        select(Group, Membership)
        .outerjoin(
            Membership,
            and_(col(Membership.group_id) == col(Group.id), col(Membership.user_id) == user.id),
        )
        .where(col(Group.id) == group_id)
    )
    if write:
        stmt = stmt.with_for_update(of=Group).execution_options(populate_existing=True)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise NotFound(not_found)
    group, membership = row
    ctx = GroupContext(group, user, membership)
    if ctx.role is None and group.visibility != Visibility.public:
        raise NotFound(not_found)
    if need != Role.observer and not ctx.has_role(need):
        raise Forbidden(f"This needs the {need.value} role in the group")
    if write and group.archived_at is not None:
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
