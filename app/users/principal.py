"""Who is calling: the signed-in user as a small read model, and the statements that find it.

A bearer token is either an API key (`wgk_…`, looked up by its SHA-256) or a JWT (its `sub` is
the user id). `credential_source` gives the FROM clause and bound values that find the caller
for either kind, so `app/groups/access.py` can join it with the group, the membership and the
object a request is about: one statement per request where it can be one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import FromClause, Select, bindparam, null, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.config import Settings
from app.core.schemas import Stored, fields_of
from app.core.security import API_KEY_PREFIX, decode_access_token, hash_api_key
from app.models import ApiKey, User
from app.models.base import table_of, utcnow
from app.users.schemas import UserRead

users = table_of(User)
api_keys = table_of(ApiKey)

# Writing last_used_at on every request would turn each read into a write; a minute is enough
# for "last used" to be useful.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Principal(UserRead, Stored):
    """The caller: what authorization and `GET /users/me` need (UserRead and the version),
    read in the same statement as the credential (never the password hash)."""


# The columns of a Principal, in field order, then what decides whether the credential holds.
# Labelled, so that they never clash with the columns of an object selected beside them.
PRINCIPAL_FIELDS = fields_of(Principal)
PRINCIPAL_COLUMNS = [users.c[name].label(f"p_{name}") for name in PRINCIPAL_FIELDS]
_CHECK_COLUMNS = [
    users.c.is_active.label("p_is_active"),
    api_keys.c.id.label("p_key_id"),
    api_keys.c.revoked_at.label("p_key_revoked_at"),
    api_keys.c.last_used_at.label("p_key_last_used_at"),
]
_NO_KEY_COLUMNS = [
    users.c.is_active.label("p_is_active"),
    *(null().label(name) for name in ("p_key_id", "p_key_revoked_at", "p_key_last_used_at")),
]
CREDENTIAL_COLUMNS = len(PRINCIPAL_COLUMNS) + len(_CHECK_COLUMNS)


@dataclass(frozen=True, slots=True)
class Credential:
    """A bearer token, parsed: which statement finds its user, and with what value."""

    is_api_key: bool
    value: Any  # the key's hash, or the user id from a valid JWT

    @property
    def params(self) -> dict[str, Any]:
        return {"credential": self.value}


def parse_credential(settings: Settings, token: str) -> Credential | None:
    """None for a JWT that is invalid or expired (no statement needed to refuse it)."""
    if token.startswith(API_KEY_PREFIX):
        return Credential(True, hash_api_key(token))
    user_id = decode_access_token(settings, token)
    return Credential(False, user_id) if user_id is not None else None


def credential_source(is_api_key: bool) -> tuple[FromClause, list[Any]]:
    """The FROM clause finding the caller (bound parameter `credential`) and the columns to
    select: PRINCIPAL_COLUMNS, then the checks `principal_from_row` reads."""
    if is_api_key:
        source = api_keys.join(users, users.c.id == api_keys.c.user_id)
        return source, [*PRINCIPAL_COLUMNS, *_CHECK_COLUMNS]
    return users, [*PRINCIPAL_COLUMNS, *_NO_KEY_COLUMNS]


def credential_condition(is_api_key: bool) -> Any:
    if is_api_key:
        return api_keys.c.key_hash == bindparam("credential")
    return users.c.id == bindparam("credential")


@cache
def _principal_statement(is_api_key: bool) -> Select[Any]:
    source, columns = credential_source(is_api_key)
    return select(*columns).select_from(source).where(credential_condition(is_api_key))


async def principal_from_row(conn: AsyncConnection, row: Row[Any]) -> Principal | None:
    """The Principal in the first columns of `row`, or None when the key is revoked or the
    user deactivated. Touches the API key's `last_used_at` at most once a minute."""
    mapping = row._mapping
    if not mapping["p_is_active"] or mapping["p_key_revoked_at"] is not None:
        return None
    key_id = mapping["p_key_id"]
    if key_id is not None:
        now = utcnow()
        last_used = mapping["p_key_last_used_at"]
        if last_used is None or now - last_used > LAST_USED_RESOLUTION:
            await conn.execute(_TOUCH_KEY, {"key_id": key_id, "now": now})
    return Principal.from_row(row[: len(PRINCIPAL_COLUMNS)])


_TOUCH_KEY = (
    update(api_keys)
    .where(api_keys.c.id == bindparam("key_id"))
    .values(last_used_at=bindparam("now"))
)


async def authenticate(conn: AsyncConnection, settings: Settings, token: str) -> Principal | None:
    """The active user a bearer token (JWT or API key) belongs to, or None."""
    credential = parse_credential(settings, token)
    if credential is None:
        return None
    row = (
        await conn.execute(_principal_statement(credential.is_api_key), credential.params)
    ).first()
    return None if row is None else await principal_from_row(conn, row)


def principal_of(user: User) -> Principal:
    """The Principal of a loaded user (workers and the CLI act for users they loaded)."""
    return Principal.from_row(getattr(user, name) for name in PRINCIPAL_FIELDS)
