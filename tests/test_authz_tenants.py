"""Tenant isolation (issue 7 item 3): nothing of one group reaches another group's users.

One world holds two tenants made by the authorization matrix's own builder (`build_world` of
tests/test_authz_matrix.py): private groups A and B, each with objects of every domain. Three
attackers go after A: B's owner (the strongest role in B, so B's side of every check passes),
B's plain member, and a signed-in user of neither group.

- BOLA: every MATRIX route whose path names one of A's objects, called with A's ids, and (by
  B's owner) with A's ids mixed into B's paths. Expected: 404 problem+json, the very answer an
  unknown id gets (existence is never leaked), and nothing written: no database row differs
  (A's and B's `last_seq` included).
- BOPLA, references: every id field of every JSON body (found in the OpenAPI schema), set to
  A's object of that kind in a request that is otherwise B's owner's own: refused exactly like
  an unknown id (the codebase's 422 naming the field), nothing written. CSV import likewise.
- BOPLA, properties: server-owned fields (ids, group, seq, author, state, roles, …) in every
  JSON body are refused (422 naming each); members cannot raise their own role.
- Leaks: every GET route, with B's ids and with A's ids in each id query filter, answers B's
  users with nothing of A (no id, name or email of A's); filters on A's objects match nothing.

Routes, bodies and `fresh` hooks come from MATRIX and fields from the OpenAPI schema, so a new
route or id field enters the sweep, or fails a classification test until it is classified.
Refused calls change nothing, so the whole module shares one world and runs in seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import string
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.models import metadata
from tests.authz_base import API, ORIGIN, World
from tests.conftest import api_client
from tests.helpers import TestUser as ApiUser
from tests.helpers import make_user
from tests.test_authz_matrix import MATRIX, app_api_routes, build_world

Route = tuple[str, str]
T = TypeVar("T")
Spec = dict[str, Any]

# Path parameters naming an object that belongs to one tenant: an object of its group, or
# (key_id, notification_id) an object of one of its users. `object_ids` gives their values.
TENANT_PARAMS = frozenset(
    {
        "group_id",
        "area_id",
        "user_id",
        "meeting_id",
        "item_id",
        "proposal_id",
        "action_item_id",
        "notification_id",
        "webhook_id",
        "poll_id",
        "finding_id",
        "snapshot_id",
        "questionnaire_id",
        "response_id",
        "delivery_id",
        "key_id",
    }
)

_OWN = "the caller's own things: no other user's object in the path (leak-tested below)"
_REGISTRY = (
    "the organizations registry is shared by every group (API.md), not a tenant's; editing "
    "someone else's organization is 403 (test_authz_matrix.py)"
)
_OPS = "ops: holds no tenant data (leak-tested below)"
_ANONYMOUS = "anonymous entry point: no object in the path"
# Routes outside BOLA-by-group, with the reason. Every route is swept or listed here.
EXCLUDED: dict[Route, str] = {
    ("GET", "/healthz"): _OPS,
    ("GET", "/readyz"): _OPS,
    ("GET", "/metrics"): _OPS + "; counts by route template, never by raw path",
    ("POST", f"{API}/auth/register"): _ANONYMOUS,
    ("POST", f"{API}/auth/token"): _ANONYMOUS,
    ("GET", f"{API}/users/me"): _OWN,
    ("PATCH", f"{API}/users/me"): _OWN,
    ("POST", f"{API}/auth/api-keys"): _OWN,
    ("GET", f"{API}/auth/api-keys"): _OWN,
    ("POST", f"{API}/auth/sign-out"): _OWN,
    ("POST", f"{API}/auth/sign-out-everywhere"): _OWN,
    ("POST", f"{API}/users/me/password"): _OWN,
    ("POST", f"{API}/auth/ws-ticket"): _OWN,
    ("POST", f"{API}/users/me/calendar-token"): _OWN,
    ("DELETE", f"{API}/users/me/calendar-token"): _OWN,
    ("POST", f"{API}/auth/password-reset"): _ANONYMOUS,
    ("POST", f"{API}/auth/password-reset/confirm"): _ANONYMOUS,
    ("GET", f"{API}/users/me/action-items"): _OWN,
    ("GET", f"{API}/notifications"): _OWN,
    ("GET", f"{API}/notifications/unread-count"): _OWN,
    ("POST", f"{API}/notifications/read-all"): _OWN,
    ("GET", f"{API}/users/me/notification-preferences"): _OWN,
    ("PUT", f"{API}/users/me/notification-preferences"): _OWN,
    ("POST", f"{API}/groups"): "creates a new tenant: no existing object in the path",
    ("GET", f"{API}/groups"): "the groups the caller may see (leak-tested: A never appears)",
    ("POST", f"{API}/organizations"): _REGISTRY,
    ("GET", f"{API}/organizations"): _REGISTRY,
    ("GET", f"{API}/organizations.geojson"): _REGISTRY,
    ("GET", f"{API}/organizations/{{org_id}}"): _REGISTRY,
    ("PATCH", f"{API}/organizations/{{org_id}}"): _REGISTRY,
    ("PUT", f"{API}/organizations/{{org_id}}/offers-needs"): _REGISTRY,
    ("GET", f"{API}/taxonomy/technologies"): "the taxonomy shipped with wghub: no tenant data",
    ("GET", f"{API}/event-types"): "the registry of event types shipped with wghub: no tenant data",
}

# Ids in bodies and query filters, by the kind of object they name: the value taken from A.
# A user is A's plain member, who belongs to A only.
REFS: dict[str, Callable[[World], str]] = {
    "focus_area_id": lambda w: w.area_id,
    "proposal_id": lambda w: w.ids["proposal_id"],
    "meeting_id": lambda w: w.ids["meeting_id"],
    "agenda_item_id": lambda w: w.ids["item_id"],
    "response_id": lambda w: w.ids["response_id"],
    "owner_id": lambda w: w.extra.id,
    "speaker_id": lambda w: w.extra.id,
    "moderator_id": lambda w: w.extra.id,
    "author_id": lambda w: w.extra.id,
    # The needing side of an introduction is one of the group's own organizations (that the
    # group's members represent): A's, named in B, is refused like an unknown one.
    "need_organization_id": lambda w: w.org_id,
    # A member organization of A (its member's, tests/authz_consultations.py), not one of B.
    "organization_id": lambda w: w.org_id,
}
# Id fields that may name anything of a shared registry, by design: (route or None, field).
_ANY_ORGANIZATION = "any group may name any organization of the shared registry"
# A response's organization is not among them: it must be a member organization of the
# questionnaire's group (422 otherwise, like an unknown one), so it is swept through REFS.
GLOBAL_REFS: dict[tuple[Route | None, str], str] = {
    (("POST", f"{API}/groups/{{group_id}}/members"), "organization_id"): _ANY_ORGANIZATION,
    (("PATCH", f"{API}/groups/{{group_id}}/members/{{user_id}}"), "organization_id"): (
        _ANY_ORGANIZATION
    ),
    (("POST", f"{API}/groups/{{group_id}}/proposals"), "organization_id"): _ANY_ORGANIZATION,
    (("PATCH", f"{API}/proposals/{{proposal_id}}"), "organization_id"): _ANY_ORGANIZATION,
    (("POST", f"{API}/groups/{{group_id}}/introductions"), "offer_organization_id"): (
        "the offering side may be any organization of the shared registry (scope=registry)"
    ),
    (("POST", f"{API}/groups/{{group_id}}/members"), "user_id"): (
        "owners add any registered user to their group, by id or email (API.md)"
    ),
}
# GET routes whose id filter narrows a list other than a page's `items`: the list that a
# filter on A's object must leave empty (a summary's questions of a focus area).
FILTERED_LISTS: dict[Route, str] = {
    ("GET", f"{API}/questionnaires/{{questionnaire_id}}/summary"): "questions",
}
# Bodies whose MATRIX example cannot carry every field: action items come with an acceptance
# (B's proposal is under review, and B's owner may accept it).
BASE_BODY: dict[Route, dict[str, Any]] = {
    ("POST", f"{API}/proposals/{{proposal_id}}/transitions"): {"to": "accepted"},
}

# Server-owned properties and what an attacker would put there. A body that does not declare
# one must refuse it (422); those a body declares (a member's `role`, an item's `status`) are
# the role rules' business (test_authz_matrix.py, `test_members_cannot_raise_their_role`).
SERVER_OWNED: dict[str, Callable[[World], Any]] = {
    "id": lambda a: a.ids["proposal_id"],
    "group_id": lambda a: a.group_id,
    "created_by": lambda a: a.users["owner"].id,
    "updated_by": lambda a: a.users["owner"].id,
    "author_id": lambda a: a.users["owner"].id,
    "user_id": lambda a: a.users["owner"].id,
    "meeting_id": lambda a: a.ids["meeting_id"],
    "decision_id": lambda a: str(uuid.uuid4()),
    "subject_id": lambda a: a.ids["proposal_id"],
    "subject_type": lambda a: "proposal",
    "current_agenda_item_id": lambda a: a.ids["item_id"],
    "current_speaker_id": lambda a: a.users["owner"].id,
    "created_at": lambda a: "2000-01-01T00:00:00Z",
    "updated_at": lambda a: "2000-01-01T00:00:00Z",
    "completed_at": lambda a: "2000-01-01T00:00:00Z",
    "published_at": lambda a: "2000-01-01T00:00:00Z",
    "archived_at": lambda a: "2000-01-01T00:00:00Z",
    "version": lambda a: 1000,
    "seq": lambda a: 1000,
    "last_seq": lambda a: 1000,
    "ical_sequence": lambda a: 1000,
    "endorsement_count": lambda a: 1000,
    "state": lambda a: "accepted",
    "status": lambda a: "done",
    "role": lambda a: "owner",
    "my_role": lambda a: "owner",
    "is_admin": lambda a: True,
    "email": lambda a: a.users["owner"].email,
    "password_hash": lambda a: "x",
    "secret": lambda a: "whsec_" + "A" * 32,
    "key_hash": lambda a: "x",
}


async def concurrently(jobs: Iterable[Awaitable[T]], limit: int = 8) -> list[T]:
    """Await the jobs, `limit` at a time (the app serves them side by side, as in production)."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs))


def params_of(path: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(path) if name]


def swept_routes() -> list[Route]:
    return sorted(r for r in MATRIX if r not in EXCLUDED)


def object_ids(world: World) -> dict[str, str]:
    """The world's value of every tenant path parameter."""
    return {
        **world.ids,
        "group_id": world.group_id,
        "area_id": world.area_id,
        "user_id": world.extra.id,  # a plain member, in the group's member paths
        "key_id": world.api_key_ids["owner"],
    }


def is_problem(r: httpx.Response) -> bool:
    return r.headers.get("content-type", "").startswith("application/problem+json")


def problem(r: httpx.Response) -> dict[str, Any]:
    """What an answer says, to compare two refusals."""
    return {"status": r.status_code, **(r.json() if is_problem(r) else {"text": r.text[:300]})}


def error_locs(r: httpx.Response) -> set[tuple[str, ...]]:
    errors = (r.json().get("errors") or []) if is_problem(r) else []
    return {tuple(e.get("loc", ())) for e in errors}


@dataclass
class Tenants:
    a: World
    b: World
    stranger: ApiUser  # signed in, member of neither group
    targets: dict[Route, dict[str, str]]  # A's path values per swept route (after `fresh`)
    idempotent: tuple[str, dict[str, Any], str]  # a POST of A's owner: path, body, key

    def attackers(self) -> dict[str, ApiUser]:
        return {
            "b_owner": self.b.users["owner"],
            "b_member": self.b.users["member"],
            "stranger": self.stranger,
        }

    def b_values(self) -> dict[str, str]:
        return {**object_ids(self.b), "org_id": self.b.org_id}


@pytest.fixture(scope="module")
async def mclient(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as c:
        yield c


@pytest.fixture(scope="module")
async def tenants(mclient: httpx.AsyncClient) -> Tenants:
    a, b = await asyncio.gather(build_world(mclient), build_world(mclient))
    assert set(object_ids(a)) == TENANT_PARAMS, "a domain added an id: classify it above"
    stranger = await make_user(mclient, "stranger")
    # A route's `fresh` hook makes the object its allowed callers act on (a meeting still to
    # start, an item to delete): the attackers aim at that one. The hooks all run now, before
    # any "before" snapshot, as a caller who is refused (so they make nothing for the caller).
    base = dict(a.ids)
    targets: dict[Route, dict[str, str]] = {}
    for route in swept_routes():
        fresh = MATRIX[route].fresh
        if fresh is not None:
            a.ids = dict(base)
            await fresh(mclient, a, "non_member")
        targets[route] = object_ids(a)
    a.ids = base
    # A POST with an Idempotency-Key by A's owner, for the replay test.
    path = f"/proposals/{base['proposal_id']}/comments"
    body = {"body": "Seen by A only"}
    key = f"tenant-{uuid.uuid4().hex}"
    r = await mclient.post(
        path, json=body, headers={**a.users["owner"].headers, "Idempotency-Key": key}
    )
    assert r.status_code == 201, r.text
    return Tenants(a=a, b=b, stranger=stranger, targets=targets, idempotent=(path, body, key))


# --- "nothing changed" -----------------------------------------------------------------------

# Stamps the relay and the dispatcher put on events in the background: not changes.
BACKGROUND_COLUMNS = {("events", "published_at"), ("events", "dispatched_at")}


async def database_rows(app: FastAPI) -> dict[str, set[str]]:
    """Every row of every table, as text (the background stamps left out)."""
    out: dict[str, set[str]] = {}
    async with app.state.session_factory() as session:
        for table in metadata.sorted_tables:
            cols = [c for c in table.columns if (table.name, c.name) not in BACKGROUND_COLUMNS]
            out[table.name] = {repr(tuple(row)) for row in await session.execute(select(*cols))}
    return out


async def last_seq(client: httpx.AsyncClient, world: World) -> int:
    r = await client.get(f"/groups/{world.group_id}", headers=world.users["owner"].headers)
    assert r.status_code == 200, r.text
    seq: int = r.json()["last_seq"]
    return seq


class Unchanged:
    """Asserts that a block of refused calls wrote nothing: no database row was added, removed
    or changed (so every object of A and B is as it was), and neither group's `last_seq` moved.
    """

    def __init__(self, app: FastAPI, client: httpx.AsyncClient, tenants: Tenants) -> None:
        self.app, self.client, self.tenants = app, client, tenants
        self.rows: dict[str, set[str]] = {}
        self.seqs: list[int] = []

    async def _seqs(self) -> list[int]:
        return [await last_seq(self.client, w) for w in (self.tenants.a, self.tenants.b)]

    async def __aenter__(self) -> Unchanged:
        self.rows = await database_rows(self.app)
        self.seqs = await self._seqs()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        assert await self._seqs() == self.seqs, "a group's last_seq moved (A, B)"
        rows = await database_rows(self.app)
        diff = [
            f"{table}: -{sorted(self.rows[table] - now)[:3]} +{sorted(now - self.rows[table])[:3]}"
            for table, now in rows.items()
            if now != self.rows[table]
        ]
        assert not diff, "the database changed:\n" + "\n".join(diff)


# --- OpenAPI: bodies and their id fields -----------------------------------------------------


def _resolve(spec: Spec, schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _options(spec: Spec, prop: dict[str, Any]) -> list[dict[str, Any]]:
    return [_resolve(spec, o) for o in prop.get("anyOf", [prop])]


def body_schema(spec: Spec, route: Route) -> dict[str, Any] | None:
    op = spec["paths"][route[1]][route[0].lower()]
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return _resolve(spec, content["application/json"]["schema"])


def object_lists(spec: Spec, schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Properties holding a list of objects (a decision's action items): name → item schema."""
    out = {}
    for name, prop in schema.get("properties", {}).items():
        for option in _options(spec, prop):
            items = option.get("items", {})
            if option.get("type") == "array" and "$ref" in items:
                out[name] = _resolve(spec, items)
    return out


def uuid_fields(spec: Spec, schema: dict[str, Any]) -> list[tuple[str, ...]]:
    """Paths of a body's id fields: ("owner_id",), ("action_items", "owner_id")."""
    fields: list[tuple[str, ...]] = [
        (name,)
        for name, prop in schema.get("properties", {}).items()
        if any(o.get("format") == "uuid" for o in _options(spec, prop))
    ]
    for name, item in object_lists(spec, schema).items():
        fields += [(name, *sub) for sub in uuid_fields(spec, item)]
    return fields


def id_filters(spec: Spec, route: Route) -> list[str]:
    """The query parameters of a route that take an id."""
    op = spec["paths"][route[1]][route[0].lower()]
    return [
        p["name"]
        for p in op.get("parameters", [])
        if p["in"] == "query"
        and any(o.get("format") == "uuid" for o in _options(spec, p["schema"]))
    ]


def is_global(route: Route, name: str) -> bool:
    return (None, name) in GLOBAL_REFS or (route, name) in GLOBAL_REFS


def minimal(schema: dict[str, Any]) -> dict[str, Any]:
    """An object with the schema's required fields (strings) filled in."""
    out = {}
    for name in schema.get("required", []):
        assert schema["properties"][name].get("type") == "string", (schema.get("title"), name)
        out[name] = "Cross-tenant check"
    return out


def with_value(
    spec: Spec, schema: dict[str, Any], base: dict[str, Any], field: tuple[str, ...], value: Any
) -> dict[str, Any]:
    """`base` with `field` set (inside a one-element list for a nested field)."""
    if len(field) == 1:
        return {**base, field[0]: value}
    item = object_lists(spec, schema)[field[0]]
    return {**base, field[0]: [with_value(spec, item, minimal(item), field[1:], value)]}


def json_bodies(
    spec: Spec, tenants: Tenants
) -> Iterator[tuple[Route, dict[str, Any], dict[str, Any]]]:
    """(route, schema, B's owner's body) for every MATRIX route taking a JSON body."""
    for route, case in sorted(MATRIX.items()):
        schema = body_schema(spec, route)
        if schema is not None:
            body = case.request(tenants.b, "owner")["json"] if case.request else {}
            yield route, schema, {**body, **BASE_BODY.get(route, {})}


# --- classification: a new route or id field cannot slip past -------------------------------


async def test_every_route_is_swept_or_excluded(app: FastAPI) -> None:
    routes = app_api_routes(app)
    assert routes == set(MATRIX), "test_every_route_has_a_matrix_entry says which"
    assert not set(EXCLUDED) - routes, "excluded routes that no longer exist"
    for route in EXCLUDED:
        assert not set(params_of(route[1])) & TENANT_PARAMS, f"{route} names a tenant's object"
    for route in swept_routes():
        params = params_of(route[1])
        unknown = set(params) - TENANT_PARAMS
        assert params, f"{route}: no object in its path; sweep it or add it to EXCLUDED"
        assert not unknown, f"{route}: classify the path parameters {unknown}"


async def test_every_id_field_is_classified(app: FastAPI, tenants: Tenants) -> None:
    spec = app.openapi()
    used: set[str] = set()
    for route, schema, body in json_bodies(spec, tenants):
        assert body, f"{route}: give its MATRIX case a JSON body (`request`)"
        for field in uuid_fields(spec, schema):
            if not is_global(route, field[-1]):
                assert field[-1] in REFS, f"{route}: classify the id field {'.'.join(field)}"
                used.add(field[-1])
    for route in MATRIX:
        for name in id_filters(spec, route):
            assert name in REFS, f"{route}: classify the id query filter {name}"
            used.add(name)
    assert used == set(REFS), f"REFS entries nothing uses: {set(REFS) - used}"


# --- BOLA ------------------------------------------------------------------------------------


def _variants(route: Route, ids_a: dict[str, str], ids_b: dict[str, str]) -> list[Any]:
    """(label, callers, path values): A's ids for every attacker; for a path naming two
    objects, B's owner with each mix of B's and A's (B's part passes, A's must not)."""
    params = params_of(route[1])
    out: list[Any] = [
        ("A's ids", ("b_owner", "b_member", "stranger"), {p: ids_a[p] for p in params})
    ]
    for k in range(1, len(params)):
        for mixed in itertools.combinations(params, k):
            ids = {p: ids_b[p] if p in mixed else ids_a[p] for p in params}
            out.append((f"B's {'+'.join(mixed)}", ("b_owner",), ids))
    return out


async def test_bola_sweep(app: FastAPI, mclient: httpx.AsyncClient, tenants: Tenants) -> None:
    """Every route naming A's objects, as B's owner, B's member and a stranger: 404 exactly
    like for an unknown id, and nothing written."""
    a = tenants.a
    attackers = tenants.attackers()
    ids_b = object_ids(tenants.b)
    failures: list[str] = []
    calls = 0

    async def call(route: Route, values: dict[str, str], caller: str) -> httpx.Response:
        method, path = route
        case = MATRIX[route]
        kwargs = case.request(a, "owner") if case.request else {}
        url = ORIGIN + path.format_map(values)
        return await mclient.request(method, url, headers=attackers[caller].headers, **kwargs)

    async def attack(
        route: Route, label: str, callers: tuple[str, ...], ids: dict[str, str]
    ) -> None:
        nonlocal calls
        # What ids that exist nowhere get (the same for every caller): A's must get exactly
        # that, or their existence leaks.
        unknown = {p: v if v == ids_b.get(p) else str(uuid.uuid4()) for p, v in ids.items()}
        missing = problem(await call(route, unknown, callers[0]))
        for caller in callers:
            got = await call(route, ids, caller)
            calls += 1
            where = f"{route[0]} {route[1]} [{label}] as {caller}"
            if got.status_code != 404 or not is_problem(got):
                failures.append(f"{where}: {got.status_code} {got.text[:200]}")
            elif problem(got) != missing:
                failures.append(f"{where}: unlike an unknown id: {problem(got)} vs {missing}")

    async with Unchanged(app, mclient, tenants):
        await concurrently(
            attack(route, *variant)
            for route in swept_routes()
            for variant in _variants(route, tenants.targets[route], ids_b)
        )
        assert not failures, f"{len(failures)} of {calls} calls:\n" + "\n".join(sorted(failures))
    assert calls >= 3 * len(swept_routes())
    print(f"\nBOLA sweep: {len(swept_routes())} routes, {calls} (route, caller) calls")


async def test_idempotency_keys_are_per_user(mclient: httpx.AsyncClient, tenants: Tenants) -> None:
    """Reusing A's owner's Idempotency-Key on the same request replays nothing of A's."""
    path, body, key = tenants.idempotent
    for caller, user in tenants.attackers().items():
        r = await mclient.post(path, json=body, headers={**user.headers, "Idempotency-Key": key})
        assert r.status_code == 404, (caller, r.text)
        assert "idempotent-replayed" not in r.headers, caller


# --- BOPLA: references to A's objects in B's bodies ------------------------------------------


async def test_bodies_cannot_reference_another_tenant(
    app: FastAPI, mclient: httpx.AsyncClient, tenants: Tenants
) -> None:
    """B's owner, in B, names A's objects in a body: refused as if the id were unknown, with
    the error on that field, and nothing written."""
    spec = app.openapi()
    a, b_owner = tenants.a, tenants.b.users["owner"]
    values = tenants.b_values()
    failures: list[str] = []
    checked = 0
    async with Unchanged(app, mclient, tenants):
        for route, schema, base in json_bodies(spec, tenants):
            method, path = route
            for field in uuid_fields(spec, schema):
                name = field[-1]
                if is_global(route, name):
                    continue
                got, missing = [
                    await mclient.request(
                        method,
                        ORIGIN + path.format_map(values),
                        json=with_value(spec, schema, base, field, value),
                        headers=b_owner.headers,
                    )
                    for value in (REFS[name](a), str(uuid.uuid4()))
                ]
                checked += 1
                where = f"{method} {path} {'.'.join(field)}=A's"
                if got.status_code not in (404, 422) or not is_problem(got):
                    failures.append(f"{where}: {got.status_code} {got.text[:200]}")
                elif problem(got) != problem(missing):
                    failures.append(
                        f"{where}: unlike an unknown id: {problem(got)} vs {problem(missing)}"
                    )
                elif got.status_code == 422 and not any(
                    loc[-1].split(".")[-1] == name for loc in error_locs(got)
                ):
                    failures.append(f"{where}: refused for another reason: {got.text[:300]}")
        assert not failures, "\n".join(failures)
    print(f"\nreferences: {checked} (route, id field) pairs")


async def test_csv_import_cannot_reference_another_tenant(
    app: FastAPI, mclient: httpx.AsyncClient, tenants: Tenants
) -> None:
    """The CSV import refuses rows naming A's item, focus area, proposal, meeting or member,
    like unknown ones."""
    a, b = tenants.a, tenants.b
    path = f"/groups/{b.group_id}/action-items/import"
    headers = {**b.users["owner"].headers, "Content-Type": "text/csv"}
    columns = {
        "id": (a.ids["action_item_id"], str(uuid.uuid4())),
        "focus_area_id": (a.area_id, str(uuid.uuid4())),
        "proposal_id": (a.ids["proposal_id"], str(uuid.uuid4())),
        "meeting_id": (a.ids["meeting_id"], str(uuid.uuid4())),
        "owner_email": (a.extra.email, "nobody-at-all@example.org"),
    }
    async with Unchanged(app, mclient, tenants):
        for column, pair in columns.items():
            got, missing = [
                await mclient.post(path, content=f"title,{column}\r\nMine,{v}\r\n", headers=headers)
                for v in pair
            ]
            assert got.status_code == 422 and is_problem(got), (column, got.text)
            assert problem(got) == problem(missing), column
            assert [e["column"] for e in got.json()["errors"]] == [column], got.text


# --- BOPLA: server-owned properties ----------------------------------------------------------


async def test_bodies_cannot_set_server_owned_properties(
    app: FastAPI, mclient: httpx.AsyncClient, tenants: Tenants
) -> None:
    """Every JSON body refuses every server-owned field it does not declare (422 naming each),
    at the top level and inside lists of objects (a decision's action items)."""
    spec = app.openapi()
    a, b_owner = tenants.a, tenants.b.users["owner"]
    values = tenants.b_values()
    failures: list[str] = []
    async with Unchanged(app, mclient, tenants):
        for route, schema, base in json_bodies(spec, tenants):
            method, path = route
            extra = {k: v(a) for k, v in SERVER_OWNED.items() if k not in schema["properties"]}
            attempts = [({**base, **extra}, {("body", k) for k in extra})]
            for name, item in object_lists(spec, schema).items():
                nested = {k: v(a) for k, v in SERVER_OWNED.items() if k not in item["properties"]}
                body = {**base, name: [{**minimal(item), **nested}]}
                attempts.append((body, {("body", name, "0", k) for k in nested}))
            for body, expected in attempts:
                r = await mclient.request(
                    method, ORIGIN + path.format_map(values), json=body, headers=b_owner.headers
                )
                if r.status_code != 422 or not expected <= error_locs(r):
                    missed = sorted(expected - error_locs(r))
                    failures.append(f"{method} {path}: {r.status_code}, took {missed}")
        assert not failures, "\n".join(failures)


async def test_members_cannot_raise_their_role(
    app: FastAPI, mclient: httpx.AsyncClient, tenants: Tenants
) -> None:
    b = tenants.b
    gid = b.group_id
    async with Unchanged(app, mclient, tenants):
        for role in ("member", "moderator", "observer"):
            user = b.users[role]
            r = await mclient.patch(
                f"/groups/{gid}/members/{user.id}", json={"role": "owner"}, headers=user.headers
            )
            assert r.status_code == 403, (role, r.text)
            r = await mclient.post(
                f"/groups/{gid}/members",
                json={"user_id": user.id, "role": "owner"},
                headers=user.headers,
            )
            assert r.status_code == 403, (role, r.text)
            r = await mclient.get(f"/groups/{gid}/members/{user.id}", headers=user.headers)
            assert r.json()["role"] == role
            r = await mclient.get("/users/me", headers=user.headers)
            assert r.json()["is_admin"] is False


# --- leaks: B's users never see A's data -----------------------------------------------------


async def a_secrets(client: httpx.AsyncClient, tenants: Tenants) -> dict[str, str]:
    """What of A must never reach B's users: value → what it is. (A's organization is in the
    shared registry, so it is no secret.)"""
    a = tenants.a
    secrets = {v: f"A's {k}" for ids in tenants.targets.values() for k, v in ids.items()}
    secrets.update({v: f"A's {k}" for k, v in object_ids(a).items()})
    for role, user in {**a.users, "extra": a.extra, "candidate": a.candidate}.items():
        secrets[user.id] = f"A's {role} (user id)"
        secrets[user.email] = f"A's {role} (email)"
    for caller, key_id in a.api_key_ids.items():
        secrets[key_id] = f"A's {caller}'s API key"
    r = await client.get(f"/groups/{a.group_id}", headers=a.users["owner"].headers)
    secrets[r.json()["name"]] = "A's group name"
    return secrets


async def test_b_users_see_nothing_of_a(
    app: FastAPI, mclient: httpx.AsyncClient, tenants: Tenants
) -> None:
    """Every GET route with B's ids, and with each id query filter set to A's object, as each
    attacker: nothing of A's in the answer, and filters on A's objects match nothing."""
    spec = app.openapi()
    secrets = await a_secrets(mclient, tenants)
    values = tenants.b_values()
    failures: list[str] = []
    for route in sorted(MATRIX):
        method, path = route
        if method != "GET":
            continue
        queries = [{}, *({name: REFS[name](tenants.a)} for name in id_filters(spec, route))]
        # The registry shows who registered each organization: that is no group's data.
        registry = path.startswith(f"{API}/organizations")
        for caller, user in tenants.attackers().items():
            for query in queries:
                r = await mclient.get(
                    ORIGIN + path.format_map(values), params=query, headers=user.headers
                )
                where = f"GET {path} {query or ''} as {caller}"
                found = [
                    what
                    for value, what in secrets.items()
                    if value in r.text
                    and value not in query.values()
                    and not (registry and "user id" in what)
                ]
                if found:
                    failures.append(f"{where}: {found}")
                in_b = caller != "stranger"
                listed = FILTERED_LISTS.get(route, "items")
                if query and in_b and (r.status_code != 200 or r.json()[listed]):
                    failures.append(f"{where}: matched {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
