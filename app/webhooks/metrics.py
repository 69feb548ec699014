"""Prometheus metrics of webhook delivery (observed in the worker that delivers)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # A registry of its own unless given one, so several deliverers in one process
        # (tests) do not collide.
        self.registry = registry or CollectorRegistry()
        self.deliveries = Counter(
            "wg_webhook_deliveries",
            "Attempts recorded, by what they did to their delivery: succeeded, retrying, "
            "failed (retries exhausted), disabled (the endpoint was), superseded (lease lost)",
            ["outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "wg_webhook_delivery_latency_seconds",
            "From the event's commit to the receiver's success answer",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600),
        )
        self.due = Gauge(
            "wg_webhook_deliveries_due",
            "Pending deliveries whose time has come (the queue's depth; refreshed every 5 s)",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "wg_webhook_attempts_in_flight",
            "Deliveries this worker holds: claimed, and being sent or next in their endpoint's run",
            registry=self.registry,
        )
