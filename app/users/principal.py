"""Who is calling: the signed-in user as a small read model, and the statements that find it.

A bearer token is one of three kinds of credential:
- a JWT: its `jti` names a sign-in session (`auth_sessions`), which sign-out revokes;
- an API key (`wgk_…`), looked up by its SHA-256; it may be read-only and may expire;
- a calendar feed token (`wgc_…`), looked up by its SHA-256 in `users`; it reads calendars and
  nothing else, so only the calendar routes accept it (`parse_credential(allow_feed=True)`).
`credential_source` gives the FROM clause and bound values that find the caller for each
kind, so `app/groups/access.py` can join it with the group, the membership and the object a
request is about: one statement per request where it can be one.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from pydantic import PrivateAttr
from sqlalchemy import FromClause, Select, bindparam, null, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.config import Settings
from app.core.errors import Forbidden
from app.core.schemas import Stored, fields_of
from app.core.security import API_KEY_PREFIX, FEED_TOKEN_PREFIX, decode_access_token, hash_token
from app.models import ApiKey, AuthSession, User
from app.models.base import table_of, utcnow
from app.users.schemas import UserRead

users = table_of(User)
api_keys = table_of(ApiKey)
sessions = table_of(AuthSession)

# Writing last_used_at on every request would turn each read into a write; a minute is enough
# for "last used" to be useful.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class CredentialKind(enum.Enum):
    SESSION = "session"
    API_KEY = "api_key"
    FEED = "feed"
    # Not a token: a user known by id (a websocket's user, a job acting for someone).
    USER = "user"


class Principal(UserRead, Stored):
    """The caller: what authorization and `GET /users/me` need (UserRead and the version),
    read in the same statement as the credential (never the password hash)."""

    # Whether the credential may write (a read-only API key or a feed token may not).
    _can_write: bool = PrivateAttr(default=True)

    @property
    def can_write(self) -> bool:
        return self._can_write


# The columns of a Principal, in field order, then what decides whether the credential holds.
# Labelled, so that they never clash with the columns of an object selected beside them.
PRINCIPAL_FIELDS = fields_of(Principal)
PRINCIPAL_COLUMNS = [users.c[name].label(f"p_{name}") for name in PRINCIPAL_FIELDS]
_CHECK_NAMES = ("p_revoked_at", "p_expires_at", "p_key_id", "p_key_last_used_at", "p_scopes")


def _checks(**columns: Any) -> list[Any]:
    """`users.is_active`, then every check column: the kind's own, NULL for the rest."""
    return [
        users.c.is_active.label("p_is_active"),
        *(columns.get(name, null()).label(name) for name in _CHECK_NAMES),
    ]


_CHECK_COLUMNS = {
    CredentialKind.SESSION: _checks(
        p_revoked_at=sessions.c.revoked_at, p_expires_at=sessions.c.expires_at
    ),
    CredentialKind.API_KEY: _checks(
        p_revoked_at=api_keys.c.revoked_at,
        p_expires_at=api_keys.c.expires_at,
        p_key_id=api_keys.c.id,
        p_key_last_used_at=api_keys.c.last_used_at,
        p_scopes=api_keys.c.scopes,
    ),
    CredentialKind.FEED: _checks(),
    CredentialKind.USER: _checks(),
}
CREDENTIAL_COLUMNS = len(PRINCIPAL_COLUMNS) + 1 + len(_CHECK_NAMES)


@dataclass(frozen=True, slots=True)
class Credential:
    """A bearer token, parsed: which statement finds its user, and with what value."""

    kind: CredentialKind
    value: Any  # the session id from a valid JWT, or the token's hash

    @property
    def params(self) -> dict[str, Any]:
        return {"credential": self.value}

    @classmethod
    def restore(cls, kind: CredentialKind, value: str) -> Credential:
        """A credential from `kind` and `str(value)` (kept in a websocket ticket)."""
        return cls(kind, uuid.UUID(value) if kind is CredentialKind.SESSION else value)


def parse_credential(
    settings: Settings, token: str, *, allow_feed: bool = False
) -> Credential | None:
    """None for a JWT that is invalid or expired (no statement needed to refuse it), and for a
    feed token where it is not allowed."""
    if token.startswith(API_KEY_PREFIX):
        return Credential(CredentialKind.API_KEY, hash_token(token))
    if token.startswith(FEED_TOKEN_PREFIX):
        return Credential(CredentialKind.FEED, hash_token(token)) if allow_feed else None
    session_id = decode_access_token(settings, token)
    return Credential(CredentialKind.SESSION, session_id) if session_id is not None else None


def credential_source(kind: CredentialKind) -> tuple[FromClause, list[Any]]:
    """The FROM clause finding the caller (bound parameter `credential`) and the columns to
    select: PRINCIPAL_COLUMNS, then the checks `principal_from_row` reads."""
    columns = [*PRINCIPAL_COLUMNS, *_CHECK_COLUMNS[kind]]
    if kind is CredentialKind.API_KEY:
        return api_keys.join(users, users.c.id == api_keys.c.user_id), columns
    if kind is CredentialKind.SESSION:
        return sessions.join(users, users.c.id == sessions.c.user_id), columns
    return users, columns


def credential_column(kind: CredentialKind) -> Any:
    """The column a credential of `kind` is found by."""
    if kind is CredentialKind.API_KEY:
        return api_keys.c.key_hash
    if kind is CredentialKind.SESSION:
        return sessions.c.id
    if kind is CredentialKind.FEED:
        return users.c.calendar_token_hash
    return users.c.id


def credential_condition(kind: CredentialKind) -> Any:
    return credential_column(kind) == bindparam("credential")


@cache
def _principal_statement(kind: CredentialKind) -> Select[Any]:
    source, columns = credential_source(kind)
    return select(*columns).select_from(source).where(credential_condition(kind))


async def principal_from_row(
    conn: AsyncConnection, row: Row[Any], *, writing: bool = False
) -> Principal | None:
    """The Principal in the first columns of `row`, or None when the credential is revoked or
    expired or the user deactivated; 403 when `writing` with a credential that may not write.
    Touches the API key's `last_used_at` at most once a minute."""
    mapping = row._mapping
    now = utcnow()
    if not _holds(mapping, now):
        return None
    principal = Principal.from_row(row[: len(PRINCIPAL_COLUMNS)])
    key_id = mapping["p_key_id"]
    if key_id is not None:
        last_used = mapping["p_key_last_used_at"]
        if last_used is None or now - last_used > LAST_USED_RESOLUTION:
            await conn.execute(_TOUCH_KEY, {"key_id": key_id, "now": now})
        principal._can_write = "write" in (mapping["p_scopes"] or ())
    if writing and not principal.can_write:
        raise Forbidden("This API key is read-only")
    return principal


def _holds(mapping: Any, now: datetime) -> bool:
    """Whether the check columns of a row say the credential holds at `now`."""
    expires_at = mapping["p_expires_at"]
    return bool(
        mapping["p_is_active"]
        and mapping["p_revoked_at"] is None
        and (expires_at is None or expires_at > now)
    )


@cache
def _holding_statement(kind: CredentialKind) -> Select[Any]:
    source, columns = credential_source(kind)
    found_by = credential_column(kind)
    return (
        select(found_by.label("credential"), *columns[len(PRINCIPAL_COLUMNS) :])
        .select_from(source)
        .where(found_by.in_(bindparam("values", expanding=True)))
    )


async def holding(conn: AsyncConnection, kind: CredentialKind, values: list[Any]) -> set[Any]:
    """Which of these credentials (of one kind) still hold: one statement for many open
    websockets."""
    now = utcnow()
    rows = await conn.execute(_holding_statement(kind), {"values": values})
    return {row.credential for row in rows if _holds(row._mapping, now)}


_TOUCH_KEY = (
    update(api_keys)
    .where(api_keys.c.id == bindparam("key_id"))
    .values(last_used_at=bindparam("now"))
)


async def authenticate(
    conn: AsyncConnection,
    settings: Settings,
    token: str,
    *,
    writing: bool = False,
    allow_feed: bool = False,
) -> Principal | None:
    """The active user a bearer token belongs to, or None (403 if `writing` with a read-only
    credential)."""
    credential = parse_credential(settings, token, allow_feed=allow_feed)
    if credential is None:
        return None
    return await principal_by(conn, credential, writing=writing)


async def principal_by(
    conn: AsyncConnection, credential: Credential, *, writing: bool = False
) -> Principal | None:
    """The active user of a parsed credential (a websocket ticket holds one), or None."""
    row = (await conn.execute(_principal_statement(credential.kind), credential.params)).first()
    return None if row is None else await principal_from_row(conn, row, writing=writing)


def principal_of(user: User) -> Principal:
    """The Principal of a loaded user (workers and the CLI act for users they loaded)."""
    return Principal.from_row(getattr(user, name) for name in PRINCIPAL_FIELDS)
