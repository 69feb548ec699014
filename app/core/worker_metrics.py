"""Prometheus metrics of the arq worker besides webhook delivery's (app/webhooks/metrics.py):
its jobs, how far event dispatch lags behind, and outgoing mail."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

CTX_KEY = "worker_metrics"  # where jobs find them in arq's ctx


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.jobs = Counter(
            "wg_jobs",
            "arq jobs run, by function and outcome: succeeded, retrying (asked to run again), "
            "failed (raised), cancelled (timed out or the worker stopped)",
            ["function", "outcome"],
            registry=registry,
        )
        self.job_duration = Histogram(
            "wg_job_duration_seconds",
            "Time an arq job ran, by function",
            ["function"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.dispatch_lag = Gauge(
            "wg_event_dispatch_lag_seconds",
            "Age of the oldest event not dispatched yet (0 when none waits; refreshed every 5 s)",
            registry=registry,
        )
        self.emails = Counter(
            "wg_emails",
            "Mails a job tried to send, by outcome: sent, retrying (SMTP failed, tried again "
            "later), failed (SMTP failed on the last try)",
            ["outcome"],
            registry=registry,
        )


def count_email(ctx: dict[str, Any], outcome: str) -> None:
    """Count a mail's outcome in the worker's metrics (absent when a test calls a job bare)."""
    metrics: WorkerMetrics | None = ctx.get(CTX_KEY)
    if metrics is not None:
        metrics.emails.labels(outcome).inc()
