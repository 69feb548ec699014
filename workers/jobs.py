"""Every arq job runs inside `observed`: its metrics (count by outcome, duration) and, when
tracing is on, a span of its own (arq has no OpenTelemetry instrumentation)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from typing import Any

from arq import Retry
from arq.cron import CronJob
from arq.worker import Function

from app.core import tracing
from app.core.worker_metrics import CTX_KEY, WorkerMetrics


def observed(name: str, coroutine: Any) -> Any:
    """`coroutine` (an arq job) counted and timed as `name`, in a span."""

    @functools.wraps(coroutine)
    async def job(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        metrics: WorkerMetrics | None = ctx.get(CTX_KEY)
        started = time.perf_counter()
        outcome = "failed"
        try:
            with tracing.span(f"job {name}", attributes={"wg.job_id": str(ctx.get("job_id"))}):
                result = await coroutine(ctx, *args, **kwargs)
            outcome = "succeeded"
            return result
        except Retry:
            outcome = "retrying"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            if metrics is not None:
                metrics.jobs.labels(name, outcome).inc()
                metrics.job_duration.labels(name).observe(time.perf_counter() - started)

    return job


def observe_all(functions: dict[str, Function | CronJob]) -> None:
    """Wrap each of a worker's functions (cron jobs included) in place."""
    for name, fn in functions.items():
        functions[name] = dataclasses.replace(fn, coroutine=observed(name, fn.coroutine))
