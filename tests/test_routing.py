"""The flat, indexed routing (app/core/routing.py) picks exactly the route Starlette's linear
matching picks, for every route of the app, and keeps its answers for unknown paths, other
methods and NUL characters."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.routing import Match

from app.core.routing import IndexedDispatch, RouteIndex
from tests.helpers import make_user


def _scope(path: str, method: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def _linear(routes: list[Any], scope: dict[str, Any]) -> Any:
    """What Starlette's router does: first full match, else the first partial one."""
    partial = None
    for route in routes:
        match, _ = route.matches(dict(scope))
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def _indexed(index: RouteIndex, scope: dict[str, Any]) -> Any:
    return _linear(index.candidates(scope["path"]), scope)


def test_every_route_is_found_as_the_linear_scan_finds_it(app: FastAPI) -> None:
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, IndexedDispatch)
    routes = list(app.router.routes)
    checked = 0
    for route in routes:
        template = getattr(route, "path_format", None)
        if not template:
            continue
        path = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), template)
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            scope = _scope(path, method)
            expected = _linear(routes, scope)
            assert _indexed(dispatch.index, scope) is expected, (method, path)
            checked += 1
    assert checked > 400  # ~100 routes, 5 methods each
    # Paths the index cannot place match nothing, as with the linear scan.
    for path in ("/api/v1/no/such/thing", "/api/v1/groups/x/y/z/w", "/", "/api"):
        assert _indexed(dispatch.index, _scope(path, "GET")) is _linear(routes, _scope(path, "GET"))


def test_a_literal_route_declared_first_wins_over_a_parameter(app: FastAPI) -> None:
    """`/meetings/{id}.ics` is declared before `/meetings/{id}`: the index keeps that order."""
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, IndexedDispatch)
    meeting_id = uuid.uuid4()
    ics = _indexed(dispatch.index, _scope(f"/api/v1/meetings/{meeting_id}.ics", "GET"))
    assert ics.path_format == "/api/v1/meetings/{meeting_id}.ics"
    plain = _indexed(dispatch.index, _scope(f"/api/v1/meetings/{meeting_id}", "GET"))
    assert plain.path_format == "/api/v1/meetings/{meeting_id}"


async def test_unknown_paths_other_methods_and_nul_answer_as_before(
    client: httpx.AsyncClient,
) -> None:
    user = await make_user(client, "router")
    r = await client.get("/no/such/path", headers=user.headers)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    # A known path with a method it does not take: 405 with the allowed methods.
    r = await client.put("/users/me", headers=user.headers)
    assert r.status_code == 405
    assert "GET" in r.headers["allow"]
    # A trailing slash is redirected, as Starlette's router does.
    r = await client.get("/groups/", headers=user.headers)
    assert r.status_code == 307 and r.headers["location"].endswith("/api/v1/groups")
    # NUL in a path or query parameter: 422 before the route runs.
    r = await client.get("/groups/%00", headers=user.headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["path", "group_id"]
    r = await client.get("/groups", params={"cursor": "a\x00b"}, headers=user.headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["query", "cursor"]


async def test_a_route_added_after_start_up_is_served(app: FastAPI) -> None:
    """Routes registered once the index exists (as some tests do) go through the router's
    own matching, in their request transaction."""
    from tests.conftest import running_app

    async with running_app(app.state.settings) as other:

        @other.get("/late-route/{thing}")
        async def late_route(thing: int) -> dict[str, int]:
            return {"thing": thing}

        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            r = await c.get("/late-route/7")
            assert r.status_code == 200 and r.json() == {"thing": 7}
            r = await c.get("/late-route/x")
            assert r.status_code == 422
