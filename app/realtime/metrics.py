"""Prometheus metrics of the realtime hub, read from its counters when scraped.

The hub counts in plain integers: a prometheus_client counter takes a lock per increment,
which at thousands of frames per event would cost more than sending them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class RealtimeCollector(Collector):
    def __init__(self, state: Any) -> None:
        self.state = state  # the app's state: the hub exists once the app has started

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        hub = getattr(self.state, "hub", None)
        yield GaugeMetricFamily(
            "wg_ws_connections",
            "Open websocket connections of this process",
            value=len(hub.connections) if hub is not None else 0,
        )
        yield CounterMetricFamily(
            "wg_ws_frames_sent",
            "Frames sent to websocket clients (events, replies, heartbeats)",
            value=hub.frames_sent if hub is not None else 0,
        )
        yield CounterMetricFamily(
            "wg_ws_slow_consumer_closes",
            "Connections closed (1013) because the client fell too far behind",
            value=hub.slow_closes if hub is not None else 0,
        )
