"""Route matching: what it costs to find the route of a request among the app's ~100 routes.

    .venv/bin/python -m bench.routing [--rounds 2000]

Two apps with the same routes: `nested`, built as FastAPI ≥ 0.137 builds `include_router`
(routers kept nested, walked per request), and `ours` (app/core/routing.py: routes flat on the
app's router, candidates looked up by path segment). For one request path per route (its
parameters filled with sample values) and for an unknown path, it times finding the route
as each router does before handling the request: the nested one tries `route.matches()` in
order (and FastAPI repeats the nested match once more when it hands the request over, which
is not counted here); ours asks the index for candidates and tries those. Single-threaded,
in-process, CPU time; no server, no database.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
import uuid
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Match

from bench.common import SECRET, machine, print_report

COLUMNS = ["router", "routes", "mean_us", "p50_us", "max_us", "unknown_path_us"]


def _apps() -> tuple[FastAPI, FastAPI]:
    from app.core.config import Settings
    from app.core.routing import IndexedDispatch
    from app.main import API_PREFIX, API_ROUTERS, create_app
    from app.ops.router import router as ops_router

    settings = Settings(
        env="test",
        secret_key=SECRET,
        database_url="sqlite+aiosqlite:///:memory:",
        redis_url="redis://127.0.0.1:6379/0",
    )
    ours = create_app(settings)
    assert isinstance(ours.router.middleware_stack, IndexedDispatch)
    nested = FastAPI()
    nested.include_router(ops_router)
    api = APIRouter(prefix=API_PREFIX)
    for router in API_ROUTERS:
        api.include_router(router)
    nested.include_router(api)
    return nested, ours


def _sample_path(template: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), template)


def _scope(path: str, method: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }


def _match_linear(routes: list[BaseRoute], scope: dict[str, Any]) -> bool:
    for route in routes:
        match, _ = route.matches(dict(scope))
        if match is Match.FULL:
            return True
    return False


def _match_indexed(dispatch: Any, scope: dict[str, Any]) -> bool:
    for route in dispatch.index.candidates(scope["path"]):
        match, _ = route.matches(dict(scope))
        if match is Match.FULL:
            return True
    return False


def _time(fn: Any, rounds: int) -> float:
    start = time.process_time()
    for _ in range(rounds):
        fn()
    return (time.process_time() - start) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    nested, ours = _apps()
    dispatch = ours.router.middleware_stack
    requests = []
    for route in ours.router.routes:
        path, methods = getattr(route, "path_format", None), getattr(route, "methods", None)
        if path and methods:
            requests.append(_scope(_sample_path(path), sorted(methods)[0]))
    unknown = _scope("/api/v1/no/such/path", "GET")
    rows = []
    for name, match in (
        ("nested (include_router)", lambda s: _match_linear(nested.router.routes, s)),
        ("ours (flat + index)", lambda s: _match_indexed(dispatch, s)),
    ):
        for scope in requests:
            assert match(scope), scope["path"]
        times = [_time(lambda s=scope, m=match: m(s), args.rounds) for scope in requests]
        rows.append(
            {
                "router": name,
                "routes": len(requests),
                "mean_us": statistics.mean(times),
                "p50_us": statistics.median(times),
                "max_us": max(times),
                "unknown_path_us": _time(lambda m=match: m(unknown), args.rounds),
            }
        )
    print_report(
        "route matching (CPU per request, one path per route)",
        COLUMNS,
        rows,
        {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "rounds": args.rounds},
    )


if __name__ == "__main__":
    main()
