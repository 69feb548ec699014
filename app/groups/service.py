"""Groups and their members."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.changes import apply_changes
from app.core.db import Tx
from app.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from app.core.pagination import PageParams
from app.groups import queries
from app.groups.access import GroupContext, context_for
from app.groups.schemas import (
    GroupCreate,
    GroupRead,
    GroupUpdate,
    MemberCreate,
    MemberRead,
    MemberUpdate,
)
from app.models import Group, Membership, Organization, Role, User
from app.models.base import utcnow
from app.users.principal import Principal


async def membership_of(
    session: AsyncSession, group_id: uuid.UUID, user_id: uuid.UUID
) -> Membership | None:
    stmt = select(Membership).where(
        col(Membership.group_id) == group_id, col(Membership.user_id) == user_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def group_read(group: Any, role: Role | None) -> GroupRead:
    return GroupRead.model_validate(group).model_copy(update={"my_role": role})


def member_read(membership: Membership, user: User | Principal) -> MemberRead:
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


async def create_group(*, session: AsyncSession, data: GroupCreate, actor: Principal) -> Group:
    group = Group(**data.model_dump())
    session.add(group)
    await session.flush()
    membership = Membership(group_id=group.id, user_id=actor.id, role=Role.owner)
    session.add(membership)
    await session.flush()
    ctx = await context_for(session, group_id=group.id, user_id=actor.id)
    await ctx.record(
        "group.created",
        subject_type="group",
        subject_id=group.id,
        data={"group": group_read(group, None).model_dump(mode="json", exclude={"my_role"})},
    )
    await ctx.record(
        "member.added",
        subject_type="member",
        subject_id=actor.id,
        data={"member": _member_data(member_read(membership, actor))},
    )
    await session.refresh(group)
    return group


async def list_groups(
    *, tx: Tx, user: Principal, page: PageParams, include_archived: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """Groups the user can see (public ones and their own), with their role in each."""
    return await queries.groups_page(
        tx.conn,
        user_id=user.id,
        admin=user.is_admin,
        include_archived=include_archived,
        page=page,
    )


async def _locked_group(session: AsyncSession, ctx: GroupContext) -> Group:
    """The group as an ORM object, under its row lock (taken here if not yet)."""
    group = await session.get(Group, ctx.group.id, with_for_update=True, populate_existing=True)
    if group is None:
        raise NotFound("Group not found")
    return group


async def update_group(*, session: AsyncSession, ctx: GroupContext, data: GroupUpdate) -> Group:
    group = await _locked_group(session, ctx)
    changes = apply_changes(group, data)
    if changes:
        await session.flush()
        await ctx.record(
            "group.updated", subject_type="group", subject_id=group.id, data={"changes": changes}
        )
        await session.refresh(group)
    return group


async def archive_group(*, session: AsyncSession, ctx: GroupContext) -> Group:
    # The route authorizes with write=False (archiving twice is an InvalidTransition, not
    # the generic "archived" Conflict), so the lock is taken here.
    group = await _locked_group(session, ctx)
    if group.archived_at is not None:
        raise InvalidTransition("The group is already archived")
    group.archived_at = utcnow()
    await session.flush()
    await ctx.record(
        "group.archived",
        subject_type="group",
        subject_id=group.id,
        data={"archived_at": group.archived_at.isoformat()},
    )
    await session.refresh(group)
    return group


async def list_members(
    *, ctx: GroupContext, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    return await queries.members_page(ctx.tx.conn, ctx.group.id, page)


async def member_json(*, ctx: GroupContext, user_id: uuid.UUID) -> tuple[dict[str, Any], int]:
    """One member as MemberRead's fields, and its version (404 if not a member)."""
    found = await queries.member(ctx.tx.conn, ctx.group.id, user_id)
    if found is None:
        raise NotFound("Member not found")
    return found


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
    await ctx.record(
        "member.added",
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
        await ctx.record(
            "member.updated",
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
    await ctx.record("member.removed", subject_type="member", subject_id=user.id, data=data)
