"""The authorization matrix: every route and every kind of caller → the exact status.

Objects live in a PRIVATE group. Callers: the group's owner, moderator, member and observer,
a signed-in user outside the group, and an anonymous client. The rules (API.md "Roles" and
"Conventions"): reads are open to every role, outsiders get 404 (existence is never leaked),
roles too low get 403, no credentials get 401.

A new route fails `test_every_route_has_a_matrix_entry` until it gets a row here, so nobody can
add an endpoint without deciding who may call it.
"""

from __future__ import annotations

import asyncio
from types import ModuleType

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from tests import (
    authz_consultations,
    authz_diagnosis,
    authz_matching,
    authz_meetings,
    authz_notifications,
    authz_polls,
    authz_proposals,
    authz_roadmap,
    authz_webhooks,
)
from tests.authz_base import (
    API,
    CALLERS,
    ORIGIN,
    ROLES,
    Case,
    World,
    anyone,
    group_read,
    json_body,
    new_member_body,
    organization_body,
    owner_write,
    register_body,
    signed_in,
    token_form,
)
from tests.helpers import PASSWORD, add_member, make_group, make_user, unique

# Domain modules that add rows (see tests/authz_base.py).
DOMAINS: list[ModuleType] = [
    authz_consultations,
    authz_diagnosis,
    authz_matching,
    authz_meetings,
    authz_notifications,
    authz_polls,
    authz_proposals,
    authz_roadmap,
    authz_webhooks,
]

MATRIX: dict[tuple[str, str], Case] = {
    # Ops: no credentials needed.
    ("GET", "/healthz"): Case(anyone(200)),
    ("GET", "/readyz"): Case(anyone(200)),
    ("GET", "/metrics"): Case(anyone(200)),
    # Auth and the caller's own things.
    ("POST", f"{API}/auth/register"): Case(anyone(201), register_body),
    ("POST", f"{API}/auth/token"): Case(anyone(200), token_form),
    ("GET", f"{API}/users/me"): Case(signed_in(200)),
    ("PATCH", f"{API}/users/me"): Case(signed_in(200), json_body({"name": "Renamed"})),
    ("POST", f"{API}/auth/api-keys"): Case(signed_in(201), json_body({"name": "ci"})),
    ("GET", f"{API}/auth/api-keys"): Case(signed_in(200)),
    ("DELETE", f"{API}/auth/api-keys/{{key_id}}"): Case(signed_in(204)),  # each its own key
    # Each caller ends their own sessions (the checks after use the owner's API key).
    ("POST", f"{API}/auth/sign-out"): Case(signed_in(204)),
    ("POST", f"{API}/auth/sign-out-everywhere"): Case(signed_in(204)),
    ("POST", f"{API}/users/me/password"): Case(
        signed_in(204), json_body({"current_password": PASSWORD, "new_password": PASSWORD})
    ),
    ("POST", f"{API}/auth/ws-ticket"): Case(signed_in(201)),
    ("POST", f"{API}/users/me/calendar-token"): Case(signed_in(201)),
    ("DELETE", f"{API}/users/me/calendar-token"): Case(signed_in(204)),
    ("POST", f"{API}/auth/password-reset"): Case(
        anyone(202), json_body({"email": "someone@example.org"})
    ),
    ("POST", f"{API}/auth/password-reset/confirm"): Case(
        anyone(400), json_body({"token": "0" * 32 + ".forged", "new_password": PASSWORD})
    ),
    # Organizations: a shared registry; only whoever registered one may edit it.
    ("POST", f"{API}/organizations"): Case(signed_in(201), organization_body),
    ("GET", f"{API}/organizations"): Case(signed_in(200)),
    ("GET", f"{API}/organizations.geojson"): Case(signed_in(200)),
    ("GET", f"{API}/organizations/{{org_id}}"): Case(signed_in(200)),
    ("PATCH", f"{API}/organizations/{{org_id}}"): Case(
        {c: 403 for c in CALLERS} | {"anonymous": 401, "owner": 200},
        json_body({"city": "San José"}),
    ),
    # Groups.
    ("POST", f"{API}/groups"): Case(signed_in(201), json_body({"name": "Another group"})),
    ("GET", f"{API}/groups"): Case(signed_in(200)),
    ("GET", f"{API}/groups/{{group_id}}"): Case(group_read()),
    ("PATCH", f"{API}/groups/{{group_id}}"): Case(
        owner_write(200), json_body({"name": "Renamed group"}), events=1
    ),
    ("POST", f"{API}/groups/{{group_id}}/archive"): Case(owner_write(200), events=1),
    # Members.
    ("GET", f"{API}/groups/{{group_id}}/members"): Case(group_read()),
    ("POST", f"{API}/groups/{{group_id}}/members"): Case(
        owner_write(201), new_member_body, events=1
    ),
    ("GET", f"{API}/groups/{{group_id}}/members/{{user_id}}"): Case(group_read()),
    ("PATCH", f"{API}/groups/{{group_id}}/members/{{user_id}}"): Case(
        owner_write(200), json_body({"role": "moderator"}), events=1
    ),
    ("DELETE", f"{API}/groups/{{group_id}}/members/{{user_id}}"): Case(owner_write(204), events=1),
    # Focus areas.
    ("GET", f"{API}/groups/{{group_id}}/focus-areas"): Case(group_read()),
    ("POST", f"{API}/groups/{{group_id}}/focus-areas"): Case(
        owner_write(201), json_body({"title": "Visibility"}), events=1
    ),
    ("GET", f"{API}/focus-areas/{{area_id}}"): Case(group_read()),
    ("PATCH", f"{API}/focus-areas/{{area_id}}"): Case(
        owner_write(200), json_body({"title": "Renamed area"}), events=1
    ),
    ("DELETE", f"{API}/focus-areas/{{area_id}}"): Case(owner_write(204), events=1),
    # Events.
    ("GET", f"{API}/groups/{{group_id}}/events"): Case(group_read()),
    ("GET", f"{API}/event-types"): Case(signed_in(200)),
}
for _domain in DOMAINS:
    assert not set(_domain.MATRIX) & set(MATRIX), f"{_domain.__name__} repeats a route"
    MATRIX.update(_domain.MATRIX)


def app_api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, full path) of every APIRoute, looking inside included routers."""
    try:  # FastAPI ≥ 0.13x keeps included routers as nodes of `app.routes`
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI: the list is already flat
        flat = [(r, getattr(r, "path", ""), getattr(r, "methods", None)) for r in app.routes]
    else:
        flat = [(c.original_route, c.path, c.methods) for c in iter_route_contexts(app.routes)]
    return {
        (method, path)
        for route, path, methods in flat
        if isinstance(route, APIRoute)
        for method in methods or ()
    }


def test_matrix_rows_are_complete() -> None:
    for key, case in MATRIX.items():
        assert set(case.expect) == set(CALLERS), key


async def test_every_route_has_a_matrix_entry(app: FastAPI) -> None:
    routes = app_api_routes(app)
    assert len(routes) > 20  # the flattening found the included routers
    missing = sorted(routes - set(MATRIX))
    stale = sorted(set(MATRIX) - routes)
    assert not missing, f"routes without an authorization matrix entry: {missing}"
    assert not stale, f"matrix entries for routes that no longer exist: {stale}"


async def build_world(client: httpx.AsyncClient) -> World:
    names = ("owner", "moderator", "member", "observer", "non_member", "extra", "candidate")
    made = await asyncio.gather(*(make_user(client, n) for n in names))
    users = dict(zip(names, made, strict=True))
    owner = users["owner"]
    group = await make_group(client, owner, "private")
    gid = group["id"]
    for role in (*ROLES, "extra"):
        await add_member(client, owner, gid, users[role], "member" if role == "extra" else role)

    r = await client.post(
        "/organizations",
        json={"name": unique("org"), "kind": "cluster", "country": "CO", "city": "Medellín"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    org_id = r.json()["id"]
    r = await client.post(
        f"/groups/{gid}/focus-areas", json={"title": "Adoption"}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    area_id = r.json()["id"]

    callers = {c: users[c] for c in CALLERS if c != "anonymous"}
    world = World(
        users=callers,
        extra=users["extra"],
        candidate=users["candidate"],
        group_id=gid,
        area_id=area_id,
        org_id=org_id,
    )
    for caller, user in callers.items():
        r = await client.post("/auth/api-keys", json={"name": "to revoke"}, headers=user.headers)
        assert r.status_code == 201, r.text
        world.api_key_ids[caller] = r.json()["id"]
    r = await client.post("/auth/api-keys", json={"name": "checks"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    world.owner_key = r.json()["key"]
    for domain in DOMAINS:
        await domain.build(client, world)
    return world


def fill(path: str, world: World, caller: str) -> str:
    return path.format_map(
        {
            **world.ids,
            "group_id": world.group_id,
            "area_id": world.area_id,
            "org_id": world.org_id,
            "user_id": world.extra.id,
            # Anonymous aims at someone else's key: it must stay untouched (401).
            "key_id": world.api_key_ids.get(caller, world.api_key_ids["owner"]),
        }
    )


async def group_last_seq(client: httpx.AsyncClient, world: World) -> int:
    owner = {"Authorization": f"Bearer {world.owner_key}"}
    r = await client.get(f"/groups/{world.group_id}", headers=owner)
    assert r.status_code == 200, r.text
    seq: int = r.json()["last_seq"]
    return seq


@pytest.mark.parametrize("route", sorted(MATRIX), ids=[f"{m} {p}" for m, p in sorted(MATRIX)])
async def test_authorization(client: httpx.AsyncClient, route: tuple[str, str]) -> None:
    method, path = route
    case = MATRIX[route]
    world = await build_world(client)
    seq_before = await group_last_seq(client, world)

    got: dict[str, int] = {}
    details: dict[str, str] = {}
    for caller in CALLERS:
        user = world.users.get(caller)
        if case.fresh is not None:
            await case.fresh(client, world, caller)
        kwargs = case.request(world, caller) if case.request else {}
        r = await client.request(
            method,
            ORIGIN + fill(path, world, caller),
            headers=user.headers if user else {},
            **kwargs,
        )
        got[caller] = r.status_code
        if r.status_code != case.expect[caller]:
            details[caller] = r.text[:300]
        if r.status_code == 401:
            assert r.headers.get("www-authenticate") == "Bearer", caller
    assert got == case.expect, details

    # Every refused call changed nothing; the one allowed write appended its one event.
    assert await group_last_seq(client, world) == seq_before + case.events
