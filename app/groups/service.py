"""Groups and their members."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.changes import apply_changes
from app.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from app.core.events import record_event
from app.core.pagination import PageParams, paginate
from app.groups.access import GroupContext, lock_group, membership_of
from app.groups.schemas import (
    GroupCreate,
    GroupRead,
    GroupUpdate,
    MemberCreate,
    MemberRead,
    MemberUpdate,
)
from app.models import Group, Membership, Organization, Role, User, Visibility
from app.models.base import utcnow


def group_read(group: Group, role: Role | None) -> GroupRead:
    return GroupRead.model_validate(group).model_copy(update={"my_role": role})


def member_read(membership: Membership, user: User) -> MemberRead:
    return MemberRead.model_validate(
        {
            "user_id": membership.user_id,
            "name": user.name,
            "role": membership.role,
            "organization_id": membership.organization_id,
            "created_at": membership.created_at,
            "updated_at": membership.updated_at,
        }
    )


def _member_data(read: MemberRead) -> dict[str, Any]:
    return read.model_dump(mode="json")


async def create_group(*, session: AsyncSession, data: GroupCreate, actor: User) -> Group:
    group = Group(**data.model_dump())
    session.add(group)
    await session.flush()
    membership = Membership(group_id=group.id, user_id=actor.id, role=Role.owner)
    session.add(membership)
    await session.flush()
    await record_event(
        session=session,
        group_id=group.id,
        type="group.created",
        actor_id=actor.id,
        subject_type="group",
        subject_id=group.id,
        data={"group": group_read(group, None).model_dump(mode="json", exclude={"my_role"})},
    )
    await record_event(
        session=session,
        group_id=group.id,
        type="member.added",
        actor_id=actor.id,
        subject_type="member",
        subject_id=actor.id,
        data={"member": _member_data(member_read(membership, actor))},
    )
    await session.refresh(group)
    return group


async def list_groups(
    *, session: AsyncSession, user: User, params: PageParams, include_archived: bool
) -> tuple[list[tuple[Group, Role | None]], str | None]:
    my_groups = select(col(Membership.group_id)).where(col(Membership.user_id) == user.id)
    stmt = select(Group)
    if not user.is_admin:
        stmt = stmt.where(
            or_(col(Group.visibility) == Visibility.public, col(Group.id).in_(my_groups))
        )
    if not include_archived:
        stmt = stmt.where(col(Group.archived_at).is_(None))
    groups, cursor = await paginate(session, stmt, params, (col(Group.created_at), col(Group.id)))
    roles: dict[uuid.UUID, Role] = {}
    if groups:
        rows = await session.execute(
            select(col(Membership.group_id), col(Membership.role)).where(
                col(Membership.user_id) == user.id,
                col(Membership.group_id).in_([g.id for g in groups]),
            )
        )
        roles = {gid: role for gid, role in rows.all()}
    admin_role = Role.owner if user.is_admin else None
    return [(g, roles.get(g.id, admin_role)) for g in groups], cursor


async def update_group(*, session: AsyncSession, ctx: GroupContext, data: GroupUpdate) -> Group:
    group = ctx.group
    changes = apply_changes(group, data)
    if changes:
        await session.flush()
        await record_event(
            session=session,
            group_id=group.id,
            type="group.updated",
            actor_id=ctx.user.id,
            subject_type="group",
            subject_id=group.id,
            data={"changes": changes},
        )
        await session.refresh(group)
    return group


async def archive_group(*, session: AsyncSession, ctx: GroupContext) -> Group:
    group = ctx.group
    # The route authorizes with write=False (archiving twice is an InvalidTransition, not
    # the generic "archived" Conflict), so it takes the lock itself.
    await lock_group(session, group)
    if group.archived_at is not None:
        raise InvalidTransition("The group is already archived")
    group.archived_at = utcnow()
    await session.flush()
    await record_event(
        session=session,
        group_id=group.id,
        type="group.archived",
        actor_id=ctx.user.id,
        subject_type="group",
        subject_id=group.id,
        data={"archived_at": group.archived_at.isoformat()},
    )
    await session.refresh(group)
    return group


async def list_members(
    *, session: AsyncSession, group_id: uuid.UUID, params: PageParams
) -> tuple[list[MemberRead], str | None]:
    stmt = select(Membership).where(col(Membership.group_id) == group_id)
    rows, cursor = await paginate(
        session, stmt, params, (col(Membership.created_at), col(Membership.id))
    )
    users = await _users_by_id(session, [m.user_id for m in rows])
    return [member_read(m, users[m.user_id]) for m in rows], cursor


async def _users_by_id(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not ids:
        return {}
    result = await session.execute(select(User).where(col(User.id).in_(ids)))
    return {u.id: u for u in result.scalars()}


async def _check_organization(session: AsyncSession, org_id: uuid.UUID | None) -> None:
    if org_id is not None and await session.get(Organization, org_id) is None:
        raise ValidationFailed(
            "Unknown organization",
            errors=[{"loc": ["body", "organization_id"], "msg": "no such organization"}],
        )


async def get_member(
    *, session: AsyncSession, group_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[Membership, User]:
    membership = await membership_of(session, group_id, user_id)
    user = await session.get(User, user_id) if membership else None
    if membership is None or user is None:
        raise NotFound("Member not found")
    return membership, user


async def add_member(
    *, session: AsyncSession, ctx: GroupContext, data: MemberCreate
) -> tuple[Membership, User]:
    if data.user_id is not None:
        user = await session.get(User, data.user_id)
    else:
        assert data.email is not None
        user = (
            await session.execute(select(User).where(col(User.email) == data.email.lower()))
        ).scalar_one_or_none()
    if user is None:
        field = "user_id" if data.user_id else "email"
        raise ValidationFailed(
            "No such user", errors=[{"loc": ["body", field], "msg": "no user with this identity"}]
        )
    await _check_organization(session, data.organization_id)
    if await membership_of(session, ctx.group.id, user.id) is not None:
        raise Conflict("The user is already a member of this group")
    membership = Membership(
        group_id=ctx.group.id, user_id=user.id, role=data.role, organization_id=data.organization_id
    )
    session.add(membership)
    await session.flush()
    await record_event(
        session=session,
        group_id=ctx.group.id,
        type="member.added",
        actor_id=ctx.user.id,
        subject_type="member",
        subject_id=user.id,
        data={"member": _member_data(member_read(membership, user))},
    )
    return membership, user


async def _owner_count(session: AsyncSession, group_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        col(Membership.group_id) == group_id,
        col(Membership.role) == Role.owner,
    )
    return int((await session.execute(stmt)).scalar_one())


async def update_member(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    membership: Membership,
    user: User,
    data: MemberUpdate,
) -> Membership:
    if data.organization_id is not None:
        await _check_organization(session, data.organization_id)
    was_owner = membership.role == Role.owner
    changes = apply_changes(membership, data)
    if was_owner and "role" in changes and await _owner_count(session, ctx.group.id) <= 1:
        raise Conflict("A group needs at least one owner; promote another member first")
    if changes:
        await session.flush()
        await record_event(
            session=session,
            group_id=ctx.group.id,
            type="member.updated",
            actor_id=ctx.user.id,
            subject_type="member",
            subject_id=user.id,
            data={"member": _member_data(member_read(membership, user)), "changes": changes},
        )
    return membership


async def remove_member(
    *, session: AsyncSession, ctx: GroupContext, membership: Membership, user: User
) -> None:
    if membership.role == Role.owner and await _owner_count(session, ctx.group.id) <= 1:
        raise Conflict("The last owner cannot leave the group; promote another member first")
    data = {"member": _member_data(member_read(membership, user))}
    await session.delete(membership)
    await session.flush()
    await record_event(
        session=session,
        group_id=ctx.group.id,
        type="member.removed",
        actor_id=ctx.user.id,
        subject_type="member",
        subject_id=user.id,
        data=data,
    )
