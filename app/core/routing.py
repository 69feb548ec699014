"""Routing at the cost of a dictionary lookup: flat routes and an index by path segment.

Starlette tries routes one by one until one matches; FastAPI ≥ 0.137 also keeps included
routers nested and walks them per request. With ~100 routes that cost 0.2-0.4 ms a request
(`python -m bench.routing`), a fifth of a hot path's whole budget. So:

- `include_flat` registers a domain router's routes on the app's own router with the prefix
  applied (what `include_router` did before FastAPI 0.137): one flat list, and the OpenAPI
  document comes out the same.
- `install_route_index` puts a dispatcher in front of the app's router that looks up which
  routes can match a path by its literal segments (a small trie built once at start-up) and
  tries only those, in their registration order, with Starlette's own `matches` — so path
  parameters, convertors, 405 for a known path with another method, and first-match-wins all
  behave exactly as before. Anything the index cannot decide (no candidate, a `{…:path}`
  route, FastAPI's telemetry) goes to the router's ordinary linear matching.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter, APIWebSocketRoute
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.nul import check_url


def include_flat(target: APIRouter, router: APIRouter, *, prefix: str = "") -> None:
    """Add every route of `router` to `target` under `prefix`."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            target.add_api_route(
                prefix + route.path,
                route.endpoint,
                response_model=route.response_model,
                status_code=route.status_code,
                tags=list(route.tags),
                dependencies=list(route.dependencies),
                summary=route.summary,
                description=route.description,
                response_description=route.response_description,
                responses=dict(route.responses),
                deprecated=route.deprecated,
                methods=route.methods,
                operation_id=route.operation_id,
                response_model_include=route.response_model_include,
                response_model_exclude=route.response_model_exclude,
                response_model_by_alias=route.response_model_by_alias,
                response_model_exclude_unset=route.response_model_exclude_unset,
                response_model_exclude_defaults=route.response_model_exclude_defaults,
                response_model_exclude_none=route.response_model_exclude_none,
                include_in_schema=route.include_in_schema,
                response_class=route.response_class,
                name=route.name,
                callbacks=route.callbacks,
                openapi_extra=route.openapi_extra,
                generate_unique_id_function=route.generate_unique_id_function,
            )
        elif isinstance(route, APIWebSocketRoute):
            target.add_api_websocket_route(
                prefix + route.path,
                route.endpoint,
                name=route.name,
                dependencies=list(route.dependencies),
            )
        else:
            raise TypeError(f"include_flat: unsupported route {route!r}")


class _Node:
    __slots__ = ("literal", "param", "routes")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.routes: list[int] = []


def get_route_path(scope: Scope) -> str:
    """The request path below the app's mount point (`root_path`), as Starlette's router
    matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path != root and path[len(root)] == "/":
        return path[len(root) :]
    return path


def _segments(path: str) -> list[str]:
    return path.split("/")[1:]


class RouteIndex:
    """Which of `routes` may match a path, found by its segments: a literal segment must be
    equal, a segment with a `{parameter}` in it matches any (the route's regex decides)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = list(routes)
        self.root = _Node()
        # Routes the segments cannot decide (a Mount, a `{…:path}` parameter): always tried.
        self.always: list[int] = []
        for index, route in enumerate(self.routes):
            path = getattr(route, "path_format", None)
            if not isinstance(path, str) or not path.startswith("/") or ":path}" in path:
                self.always.append(index)
                continue
            node = self.root
            for segment in _segments(path):
                if "{" in segment:
                    node.param = node.param or _Node()
                    node = node.param
                else:
                    node = node.literal.setdefault(segment, _Node())
            node.routes.append(index)

    def candidates(self, path: str) -> list[BaseRoute]:
        found: list[int] = list(self.always)
        segments = _segments(path)
        last = len(segments)
        stack = [(self.root, 0)]
        while stack:
            node, depth = stack.pop()
            if depth == last:
                found.extend(node.routes)
                continue
            child = node.literal.get(segments[depth])
            if child is not None:
                stack.append((child, depth + 1))
            if node.param is not None:
                stack.append((node.param, depth + 1))
        found.sort()
        return [self.routes[i] for i in found]


class IndexedDispatch:
    """The app router's entry point, trying only the routes the index names."""

    def __init__(self, router: APIRouter, fallback: ASGIApp) -> None:
        self.router = router
        self.fallback = fallback
        self.index = RouteIndex(router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.fallback(scope, receive, send)
            return
        selected: tuple[BaseRoute, Scope] | None = None
        for route in self.index.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                selected = (route, child_scope)
                break
            if match is Match.PARTIAL and selected is None:
                selected = (route, child_scope)  # e.g. 405, unless a later route matches
        if selected is None:
            # Unknown path: the router's own handling (trailing-slash redirect, then 404).
            await self.fallback(scope, receive, send)
            return
        route, child_scope = selected
        scope.setdefault("router", self.router)
        scope.update(child_scope)
        if "fastapi.telemetry" in scope:
            _name_span(scope, route)
        check_url(scope)
        await route.handle(scope, receive, send)


def _name_span(scope: Scope, route: BaseRoute) -> None:
    """Tell FastAPI's OpenTelemetry integration which route runs (its router would)."""
    try:
        from fastapi.telemetry._api import _route_selected
    except ImportError:  # pragma: no cover - a FastAPI without it
        return
    _route_selected(scope=scope, path=getattr(route, "path_format", None))


def install_route_index(app: FastAPI) -> None:
    """Call once every route is registered (the index is built now, not per request)."""
    router: Any = app.router
    router.middleware_stack = IndexedDispatch(app.router, router.middleware_stack)
