"""Prometheus metrics: request count and latency per route template (not per raw path)."""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _full_templates(app: Any) -> dict[int, str]:
    """Map each route object to its template including `include_router` prefixes.

    Since FastAPI 0.137 included routers are no longer copied with their prefix, so
    `scope["route"].path` is the path inside its own router (`/groups/{group_id}`, not
    `/api/v1/groups/{group_id}`); `iter_route_contexts` resolves the full one. Older FastAPI
    has no such function, and there `route.path` is already the full template.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - FastAPI < 0.137
        return {}
    templates: dict[int, str] = {}
    for ctx in iter_route_contexts(getattr(app, "routes", [])):
        if ctx.path:
            # setdefault: a route included twice keeps its first (matching-order) template.
            templates.setdefault(id(ctx.original_route), ctx.path)
    return templates


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own variable


def exposition_registry(registry: CollectorRegistry) -> CollectorRegistry:
    """What /metrics serves. One process: its own `registry`. Several (`wg api --workers N`
    sets PROMETHEUS_MULTIPROC_DIR, app/cli.py): each process writes its counters and
    histograms to files there, and whichever answers the scrape sums them all — a scrape
    would otherwise see one random process's share."""
    if not os.environ.get(MULTIPROC_ENV):
        return registry
    merged = CollectorRegistry()
    MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
    return merged


class HttpMetrics:
    def __init__(self) -> None:
        # One registry per app, so several apps in one process (tests) do not collide.
        self.registry = CollectorRegistry()
        self.exposed = exposition_registry(self.registry)
        # The process's CPU, memory and open files (process_* series): under `wg api
        # --workers N`, those of the process that answers the scrape.
        ProcessCollector(registry=self.exposed)
        self.requests = Counter(
            "wg_http_requests",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "wg_http_request_duration_seconds",
            "Time to handle an HTTP request",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: dict[int, str] | None = None
        # The labelled children, looked up once per (method, route, status): `labels()` costs
        # more than the increment itself.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            # Unmatched paths share one label, so scanners cannot blow up the series count.
            return "unmatched"
        if self._templates is None:
            # Built on first use: routes are all registered by the time requests arrive.
            self._templates = _full_templates(scope.get("app"))
        return self._templates.get(id(route)) or getattr(route, "path", None) or "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            key = (scope["method"], self._template(scope), status)
            children = self._children.get(key)
            if children is None:
                method, template, _ = key
                children = (
                    self.metrics.requests.labels(method, template, str(status)),
                    self.metrics.latency.labels(method, template),
                )
                self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - start)
