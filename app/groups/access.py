"""Authorization: the one path that decides who may see and change a group and its objects.

- A non-member of a private group gets 404 for the group and everything in it (existence is
  never leaked: the answer is the one an unknown id gets); any signed-in user may read a
  public group. A member whose role is too low gets 403. `is_admin` users act as owners.
- Writes to an archived group are refused with 409.
- A write takes the group's row lock before anything is read, so checks ("is it still under
  review?", "is this the last owner?", the caller's role) see committed state, and the event
  `seq` follows commit order (app/core/events.py). The object of a write is read under the
  lock; if a write of the group committed while this one waited, everything is read again.

Each request costs as few statements as possible: the caller's credential, the group, the
caller's membership and the object come in one statement, which for a write also locks the
group row and then the object's (objects loaded as ORM entities come in a second statement,
under the lock). Routes take it as a dependency:

    ctx: Member                                  # /groups/{group_id}/…, role ≥ member
    item: Annotated[Loaded[Row], ItemFor(Role.member)]   # /action-items/{id}, see ObjectKind
"""

from __future__ import annotations

import enum
import inspect
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Annotated, Any, Generic, NoReturn, TypeVar

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import Select, Table, and_, bindparam, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from app.core import logs
from app.core.config import Settings
from app.core.db import Tx, request_tx
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized
from app.core.events import Change, NewEvent, RecordedEvent, write_events
from app.core.schemas import fields_of
from app.models import Group, Membership, Role, Visibility
from app.models.base import table_of
from app.users.deps import Bearer, token_of
from app.users.principal import (
    CREDENTIAL_COLUMNS,
    CredentialKind,
    Principal,
    authenticate,
    credential_condition,
    credential_source,
    parse_credential,
    principal_from_row,
    users,
)

groups = table_of(Group)
memberships = table_of(Membership)


@dataclass(frozen=True, slots=True)
class GroupRow:
    """The group as read with the caller's access (labelled `g_*` in that statement)."""

    id: uuid.UUID
    name: str
    description: str | None
    visibility: Visibility
    last_seq: int
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


GROUP_COLUMNS = [groups.c[name].label(f"g_{name}") for name in GroupRow.__dataclass_fields__]
_GROUP_END = CREDENTIAL_COLUMNS + len(GROUP_COLUMNS)
_ROLE = memberships.c.role.label("member_role")


@dataclass(slots=True)
class GroupContext:
    """The caller in one group: who they are, their role, and the transaction to work in."""

    tx: Tx
    group: GroupRow
    user: Principal
    member_role: Role | None  # None: not a member (reading a public group, or an admin)

    @property
    def role(self) -> Role | None:
        """The caller's effective role; None for a non-member reading a public group."""
        if self.user.is_admin:
            return Role.owner
        return self.member_role

    def has_role(self, need: Role) -> bool:
        role = self.role
        return role is not None and role.rank >= need.rank

    async def record(
        self, type: str, *, subject_type: str, subject_id: uuid.UUID, data: dict[str, Any]
    ) -> RecordedEvent:
        """Append one event to this group's history, by the caller, in this transaction."""
        (event,) = await self.record_many(
            subject_type=subject_type, subject_id=subject_id, events=[(type, data)]
        )
        return event

    async def record_many(
        self, *, subject_type: str, subject_id: uuid.UUID, events: Sequence[NewEvent]
    ) -> list[RecordedEvent]:
        """Several events about one subject, with consecutive seqs, in one statement."""
        recorded = await self.change_and_record(
            None, subject_type=subject_type, subject_id=subject_id, events=events
        )
        assert recorded is not None  # without a change statement events are always written
        return recorded

    async def change_and_record(
        self,
        change: Change | None,
        *,
        subject_type: str,
        subject_id: uuid.UUID,
        events: Sequence[NewEvent],
    ) -> list[RecordedEvent] | None:
        """Run `change` and record the events that describe it, in one statement on
        PostgreSQL (app/core/events.py). None: the change touched no row, nothing written."""
        recorded = await write_events(
            self.tx.conn,
            group_id=self.group.id,
            actor_id=self.user.id,
            subject_type=subject_type,
            subject_id=subject_id,
            events=events,
            change=change,
        )
        if recorded is not None:
            self.tx.note_events_written()
        return recorded


T = TypeVar("T")


@dataclass(slots=True)
class Loaded(Generic[T]):
    """An object of a group, and the caller's context in that group."""

    ctx: GroupContext
    obj: T


@dataclass(frozen=True)
class ObjectKind:
    """An object kind that lives in a group and has routes of its own (`/meetings/{id}`…).

    `load` is what a route gets as `Loaded.obj`: a `Stored` read model whose fields are
    columns of `table` (the Core hot paths: a row, no ORM), or the table's ORM class (cold
    paths whose services work on ORM objects).
    """

    table: Table
    label: str  # "Action item": its 404 says "Action item not found"
    load: type[Any]
    # For objects that belong to a group through another object (an agenda item through its
    # meeting): that object's table and the foreign key column naming it.
    parent: tuple[Table, str] | None = None

    @property
    def not_found(self) -> str:
        return f"{self.label} not found"

    @property
    def with_group_id(self) -> tuple[Any, Any]:
        """A FROM clause holding the object, and the column expression of its group id."""
        if self.parent is None:
            return self.table, self.table.c.group_id
        parent, key = self.parent
        return self.table.join(parent, parent.c.id == self.table.c[key]), parent.c.group_id

    @property
    def is_orm(self) -> bool:
        return isinstance(self.load, type) and issubclass(self.load, SQLModel)

    @property
    def columns(self) -> list[Any]:
        return [self.table.c[name] for name in fields_of(self.load)]


# --- the statements -------------------------------------------------------------------------


class Lock(enum.Enum):
    """What an access statement locks: nothing (a read), the group row, or the group row and
    the caller's membership row (a write by a member: see `_locked_row`)."""

    NONE = "none"
    GROUP = "group"
    MEMBER = "member"


def _access_from(source: Any, caller: CredentialKind, lock: Lock) -> Any:
    """`source` (whose rows carry `groups`) joined with the caller and their membership; an
    inner join where the membership is locked (PostgreSQL locks no row of an outer join's
    nullable side)."""
    callers, _ = credential_source(caller)
    on = and_(memberships.c.group_id == groups.c.id, memberships.c.user_id == users.c.id)
    joined = source.join(callers, credential_condition(caller))
    return (
        joined.join(memberships, on) if lock is Lock.MEMBER else joined.outerjoin(memberships, on)
    )


def _access_columns(caller: CredentialKind) -> list[Any]:
    _, columns = credential_source(caller)
    return [*columns, *GROUP_COLUMNS, _ROLE]


def _locking(stmt: Select[Any], lock: Lock, *objects: Table) -> Select[Any]:
    """The rows to lock, in the order every writer takes them: the group, the caller's
    membership, the object (PostgreSQL locks the rows of `FOR UPDATE OF` in the order listed).
    Each is then read at its newest committed version, even if the statement had to wait for
    another writer's commit — so the role and the object are read under the lock, in one
    statement."""
    if lock is Lock.NONE:
        return stmt
    member = [memberships] if lock is Lock.MEMBER else []
    return stmt.with_for_update(of=[groups, *member, *objects])


@cache
def _group_statement(caller: CredentialKind, lock: Lock) -> Select[Any]:
    stmt = (
        select(*_access_columns(caller))
        .select_from(_access_from(groups, caller, lock))
        .where(groups.c.id == bindparam("group_id"))
    )
    return _locking(stmt, lock)


@cache
def _object_group_statement(kind: ObjectKind, caller: CredentialKind, lock: Lock) -> Select[Any]:
    """For a write of an ORM kind: the caller's access to the object's group, locked (the
    object follows in a statement of its own)."""
    source, group_id = kind.with_group_id
    of_object = (
        select(group_id).select_from(source).where(kind.table.c.id == bindparam("object_id"))
    )
    stmt = (
        select(*_access_columns(caller))
        .select_from(_access_from(groups, caller, lock))
        .where(groups.c.id == of_object.scalar_subquery())
    )
    return _locking(stmt, lock)


@cache
def _object_statement(kind: ObjectKind, caller: CredentialKind, lock: Lock) -> Select[Any]:
    """The caller's access and the object itself, in one statement (a read, or a write of a
    Core kind, which then also locks the object's row)."""
    with_group, group_id = kind.with_group_id
    source = with_group.join(groups, groups.c.id == group_id)
    target = [kind.load] if kind.is_orm else kind.columns
    stmt = (
        select(*_access_columns(caller), *target)
        .select_from(_access_from(source, caller, lock))
        .where(kind.table.c.id == bindparam("object_id"))
    )
    return _locking(stmt, lock, kind.table)


# --- deciding -----------------------------------------------------------------------------


async def _locked_row(
    tx: Tx, statement: Callable[[Lock], Select[Any]], params: dict[str, Any]
) -> Row[Any] | None:
    """A write's access row, read under the locks. Locking the caller's membership too makes
    a role changed (or a membership ended) while this write waited for the group's lock count
    as committed. A caller without a membership (an admin, or someone to be refused) is read
    with the group's lock alone, in a second statement."""
    row = await _first(tx, statement(Lock.MEMBER), params)
    if row is None:
        row = await _first(tx, statement(Lock.GROUP), params)
    return row


async def _first(tx: Tx, stmt: Select[Any], params: dict[str, Any]) -> Row[Any] | None:
    row: Row[Any] | None = (await tx.conn.execute(stmt, params)).first()
    return row


async def _missing(tx: Tx, settings: Settings, token: str, not_found: str) -> NoReturn:
    """No row: either the credential finds no user (401) or the group/object is unknown."""
    if await authenticate(tx.conn, settings, token, allow_feed=True) is None:
        raise Unauthorized("Invalid, expired or revoked token")
    raise NotFound(not_found)


async def _context(
    tx: Tx, row: Row[Any], *, need: Role, write: bool, not_found: str
) -> GroupContext:
    """Decide on a row of the access statement: 401, 404, 403, 409 or the caller's context."""
    user = await principal_from_row(tx.conn, row, writing=tx.writing)
    if user is None:
        raise Unauthorized("Invalid, expired or revoked token")
    group = GroupRow(*row[CREDENTIAL_COLUMNS:_GROUP_END])
    # Known from here on: the request's remaining lines (its access line too) name both.
    logs.bind_caller(user.id, group.id)
    ctx = GroupContext(tx, group, user, row.member_role)
    if ctx.role is None and group.visibility != Visibility.public:
        raise NotFound(not_found)
    if need != Role.observer and not ctx.has_role(need):
        raise Forbidden(f"This needs the {need.value} role in the group")
    if write and group.archived_at is not None:
        raise Conflict("The group is archived; it is read-only")
    return ctx


def _credential_or_401(
    settings: Settings, token: str, allow_feed: bool
) -> tuple[CredentialKind, dict[str, Any]]:
    credential = parse_credential(settings, token, allow_feed=allow_feed)
    if credential is None:
        raise Unauthorized("Invalid, expired or revoked token")
    return credential.kind, credential.params


async def authorize_group(
    tx: Tx,
    settings: Settings,
    token: str,
    *,
    group_id: uuid.UUID,
    need: Role,
    write: bool,
    not_found: str = "Group not found",
    allow_feed: bool = False,
) -> GroupContext:
    """The caller's context in the group, checked to hold `need` (and locked for a write).
    `allow_feed`: a calendar feed token may stand for the caller (the calendar routes)."""
    caller, params = _credential_or_401(settings, token, allow_feed)
    params["group_id"] = group_id
    if write:
        row = await _locked_row(tx, partial(_group_statement, caller), params)
    else:
        row = await _first(tx, _group_statement(caller, Lock.NONE), params)
    if row is None:
        await _missing(tx, settings, token, not_found)
    return await _context(tx, row, need=need, write=write, not_found=not_found)


async def authorize_object(
    tx: Tx,
    settings: Settings,
    token: str,
    *,
    kind: ObjectKind,
    object_id: uuid.UUID,
    need: Role,
    write: bool,
    allow_feed: bool = False,
) -> Loaded[Any]:
    """The object and the caller's context in its group (404 when missing or not visible)."""
    caller, params = _credential_or_401(settings, token, allow_feed)
    params["object_id"] = object_id
    if not write:
        stmt = _object_statement(kind, caller, Lock.NONE)
        if kind.is_orm:
            row = (await tx.session().execute(stmt, params)).first()
        else:
            row = (await tx.conn.execute(stmt, params)).first()
        if row is None:
            await _missing(tx, settings, token, kind.not_found)
        ctx = await _context(tx, row, need=need, write=False, not_found=kind.not_found)
        if kind.is_orm:
            return Loaded(ctx, row[-1])
        return Loaded(ctx, kind.load.from_row(row[_GROUP_END + 1 :]))
    if not kind.is_orm:
        row = await _locked_row(tx, partial(_object_statement, kind, caller), params)
        if row is None:
            await _missing(tx, settings, token, kind.not_found)
        ctx = await _context(tx, row, need=need, write=True, not_found=kind.not_found)
        return Loaded(ctx, kind.load.from_row(row[_GROUP_END + 1 :]))
    # ORM kinds: lock the group, then load the entity under the lock (a second statement).
    row = await _locked_row(tx, partial(_object_group_statement, kind, caller), params)
    if row is None:
        await _missing(tx, settings, token, kind.not_found)
    ctx = await _context(tx, row, need=need, write=True, not_found=kind.not_found)
    obj = await tx.session().get(kind.load, object_id, populate_existing=True)
    if obj is None:  # deleted while we waited for the lock
        raise NotFound(kind.not_found)
    return Loaded(ctx, obj)


async def authorize_user(
    tx: Tx, user_id: uuid.UUID, *, group_id: uuid.UUID, need: Role, write: bool
) -> GroupContext:
    """`authorize_group` for a user known by id rather than a token (a websocket's user, a
    job acting for someone): 401 if the user is gone or deactivated."""
    params = {"credential": user_id, "group_id": group_id}
    if write:
        row = await _locked_row(tx, partial(_group_statement, CredentialKind.USER), params)
    else:
        row = await _first(tx, _group_statement(CredentialKind.USER, Lock.NONE), params)
    if row is None:
        raise NotFound("Group not found")
    return await _context(tx, row, need=need, write=write, not_found="Group not found")


async def context_for(
    session: AsyncSession, *, group_id: uuid.UUID, user_id: uuid.UUID
) -> GroupContext:
    """A user's context in a group for code outside a request (the demo seed, jobs), in the
    session's transaction."""
    tx = await Tx.of_session(session)
    return await authorize_user(tx, user_id, group_id=group_id, need=Role.observer, write=False)


# --- dependencies -----------------------------------------------------------------------------


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _is_write(role: Role, write: bool | None) -> bool:
    """Every role above observer implies a write unless `write=False` says otherwise."""
    return role != Role.observer if write is None else write


async def _caller(
    request: Request, creds: HTTPAuthorizationCredentials | None
) -> tuple[Tx, Settings, str]:
    """What every authorize-and-load dependency starts from: the request's transaction, the
    settings and the bearer credential (401 without one)."""
    token = token_of(creds)
    return await request_tx(request), _settings(request), token


def GroupMember(role: Role = Role.observer, *, write: bool | None = None) -> Any:
    """Dependency for routes under `/groups/{group_id}`: the caller must hold `role`.

    `role=observer` means "may read" (members of any role, anyone for a public group).
    """
    is_write = _is_write(role, write)

    async def dependency(request: Request, group_id: uuid.UUID, creds: Bearer) -> GroupContext:
        tx, settings, token = await _caller(request, creds)
        return await authorize_group(
            tx, settings, token, group_id=group_id, need=role, write=is_write
        )

    return Depends(dependency)


Reader = Annotated[GroupContext, GroupMember(Role.observer)]
Member = Annotated[GroupContext, GroupMember(Role.member)]
Moderator = Annotated[GroupContext, GroupMember(Role.moderator)]
Owner = Annotated[GroupContext, GroupMember(Role.owner)]


def object_access(kind: ObjectKind, param: str) -> Any:
    """`ObjectFor(role, write=None)` for routes naming one object of `kind` by the path
    parameter `param`: reads (observer) in one statement, writes under the group lock."""

    def object_for(role: Role = Role.observer, *, write: bool | None = None) -> Any:
        is_write = _is_write(role, write)

        async def dependency(
            request: Request, object_id: uuid.UUID, creds: HTTPAuthorizationCredentials | None
        ) -> Loaded[Any]:
            tx, settings, token = await _caller(request, creds)
            return await authorize_object(
                tx, settings, token, kind=kind, object_id=object_id, need=role, write=is_write
            )

        # The path parameter keeps the route's own name (`action_item_id`, `meeting_id`…).
        dependency.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
                inspect.Parameter(
                    "object_id",
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=Annotated[uuid.UUID, Path(alias=param)],
                ),
                inspect.Parameter("creds", inspect.Parameter.KEYWORD_ONLY, annotation=Bearer),
            ]
        )
        return Depends(dependency)

    return object_for
