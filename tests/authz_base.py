"""Shared pieces of the authorization matrix (tests/test_authz_matrix.py).

Each domain adds its rows in a `tests/authz_<domain>.py` module with `MATRIX` (route → Case)
and `async def build(client, world)`, which creates the domain's objects in the world's private
group and records their ids in `world.ids` under the names of the path parameters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.helpers import PASSWORD, unique
from tests.helpers import TestUser as ApiUser

# Destructive successes come last: the owner deletes or archives after everyone else tried.
CALLERS = ("anonymous", "non_member", "observer", "member", "moderator", "owner")
ROLES = ("observer", "member", "moderator")
ORIGIN = "http://test"


@dataclass
class World:
    users: dict[str, ApiUser]  # every caller but "anonymous"
    extra: ApiUser  # a plain member whom the member routes target
    candidate: ApiUser  # not in the group yet; the owner adds them
    group_id: str
    area_id: str
    org_id: str
    api_key_ids: dict[str, str] = field(default_factory=dict)
    # The owner's API key for the test's own checks: signing out, or changing the password,
    # ends sessions, not keys.
    owner_key: str = ""
    # Path parameters of the domain modules' routes: {"meeting_id": "…", …}
    ids: dict[str, str] = field(default_factory=dict)


Body = Callable[[World, str], dict[str, Any]]
# Runs before each caller's request, e.g. to give every caller a fresh object to act on when
# the action can only succeed once (delete, start a meeting): it may update world.ids.
Fresh = Callable[[httpx.AsyncClient, World, str], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    expect: dict[str, int]
    request: Body | None = None  # extra httpx arguments (json=, data=, params=)
    events: int = 0  # group events the whole round appends (each allowed write's events)
    fresh: Fresh | None = None


def group_read() -> dict[str, int]:
    return {"anonymous": 401, "non_member": 404} | {c: 200 for c in (*ROLES, "owner")}


def owner_write(ok: int) -> dict[str, int]:
    return {"anonymous": 401, "non_member": 404, "owner": ok} | {c: 403 for c in ROLES}


def moderator_write(ok: int) -> dict[str, int]:
    """Moderators and owners may; members and observers get 403."""
    return owner_write(ok) | {"moderator": ok}


def member_write(ok: int) -> dict[str, int]:
    """Every role but observer may."""
    return owner_write(ok) | {"moderator": ok, "member": ok}


def observer_write(ok: int) -> dict[str, int]:
    """Every role may, observers included: a write that is not authoring (attending)."""
    return owner_write(ok) | {c: ok for c in ROLES}


def signed_in(ok: int) -> dict[str, int]:
    return {c: ok for c in CALLERS} | {"anonymous": 401}


def anyone(ok: int) -> dict[str, int]:
    return {c: ok for c in CALLERS}


def json_body(body: dict[str, Any]) -> Body:
    return lambda world, caller: {"json": body}


def register_body(world: World, caller: str) -> dict[str, Any]:
    email = f"{unique('registered')}@example.org"
    return {"json": {"email": email, "password": PASSWORD, "name": "New"}}


def token_form(world: World, caller: str) -> dict[str, Any]:
    return {"data": {"username": world.users["owner"].email, "password": PASSWORD}}


def organization_body(world: World, caller: str) -> dict[str, Any]:
    return {"json": {"name": unique("org"), "kind": "university", "country": "MX"}}


def new_member_body(world: World, caller: str) -> dict[str, Any]:
    return {"json": {"user_id": world.candidate.id, "role": "member"}}


API = "/api/v1"
