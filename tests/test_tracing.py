"""Traces: one write through the API, followed through the outbox and the worker to the
webhook it caused (the OpenTelemetry SDK's in-memory exporter; a real worker and receiver)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.core import tracing
from app.core.config import Settings
from tests.conftest import api_client, running_app, running_worker
from tests.helpers import make_group, make_user
from tests.receiver import Receiver


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        yield exporter
    finally:
        tracing.disable()
        provider.shutdown()


def _named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_a_webhook_delivery_continues_the_trace_of_the_request_behind_it(
    spans: InMemorySpanExporter, wh_settings: Settings, receiver: Receiver
) -> None:
    async with (
        running_app(wh_settings) as app,
        api_client(app) as client,
        running_worker(wh_settings),
    ):
        owner = await make_user(client, "traced")
        gid = (await make_group(client, owner))["id"]
        r = await client.post(
            f"/groups/{gid}/webhooks",
            json={"url": receiver.url("/traced"), "event_types": ["focus_area.created"]},
            headers=owner.headers,
        )
        assert r.status_code == 201, r.text
        spans.clear()
        r = await client.post(
            f"/groups/{gid}/focus-areas", json={"title": "traced"}, headers=owner.headers
        )
        assert r.status_code == 201, r.text
        (received,) = await receiver.wait_for("/traced", 1)
    finished = spans.get_finished_spans()
    (request,) = [
        s
        for s in finished
        if s.kind == SpanKind.SERVER and s.attributes and s.attributes.get("http.route")
        and str(s.attributes["http.route"]).endswith("/focus-areas")
    ]  # fmt: skip
    trace_id = request.context.trace_id
    # The request's own work is in its trace: the SQL that wrote the change and its event.
    assert any(s.context.trace_id == trace_id and "INSERT" in s.name for s in finished), [
        s.name for s in finished if s.context.trace_id == trace_id
    ]
    (delivery,) = _named(finished, "webhook delivery")
    assert delivery.context.trace_id == trace_id
    # The HTTP call to the receiver is the delivery's child, and named the trace to it.
    (call,) = [s for s in finished if s.kind == SpanKind.CLIENT and s.parent == delivery.context]
    _version, header_trace, parent_span, _flags = received.headers["traceparent"].split("-")
    assert (header_trace, parent_span) == (f"{trace_id:032x}", f"{call.context.span_id:016x}")
    # The dispatch that made the delivery links to the request (a batch may have many; the
    # webhook's own creation may be dispatched in another).
    linked = {
        link.context.trace_id for d in _named(finished, "dispatch events") for link in d.links
    }
    assert trace_id in linked
