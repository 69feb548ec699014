"""Traces (OpenTelemetry), on when the `otel` extra is installed and
`OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise every helper here is a no-op costing one test.

The official instrumentations make the spans of FastAPI, SQLAlchemy, Redis and httpx. What
they cannot see is the hop through the outbox: a request's trace context is stored with the
events it writes (`events.traceparent`, see `traceparent()`), and the worker continues that
trace when it acts on them — the dispatch links to it, and a webhook delivery runs in it
(`span(..., parent=…)`), so the httpx instrumentation sends the receiver a `traceparent` of
the request's trace. arq has no instrumentation: each job runs in a span (workers/jobs.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger(__name__)

# None while tracing is off: the hot paths check this and nothing else.
_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def setup_from_env(service_name: str) -> None:
    """Turn tracing on (once per process) if the environment asks for it; spans are exported
    over OTLP/HTTP as the standard `OTEL_*` variables configure it."""
    if _tracer is not None or not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is not installed")
        return
    name = os.environ.get("OTEL_SERVICE_NAME", service_name)
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    enable(provider)


def enable(provider: TracerProvider) -> None:
    """Trace into `provider` from now on: Redis and httpx clients at once (they are patched
    process-wide), apps and engines created afterwards (`instrument_app`, and the SQLAlchemy
    instrumentation wraps `create_async_engine`)."""
    global _tracer, _provider
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    # Its declared range stops below SQLAlchemy 2.1, whose event hooks it uses are unchanged
    # (tests/test_tracing.py checks the statement spans).
    SQLAlchemyInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    _provider, _tracer = provider, provider.get_tracer("wghub")


def disable() -> None:
    """Undo `enable` (tests: the rest of the process runs untraced again)."""
    global _tracer, _provider
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    for instrumentor in (HTTPXClientInstrumentor(), RedisInstrumentor(), SQLAlchemyInstrumentor()):
        instrumentor.uninstrument()
    _provider = _tracer = None


def instrument_app(app: FastAPI) -> None:
    if _provider is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # Probes and scrapes would drown the traces that matter.
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=_provider, excluded_urls="/metrics,/health"
        )


def traceparent() -> str | None:
    """The current span's W3C `traceparent`, to store with the events being written; None
    when tracing is off or no span is current."""
    if _tracer is None:
        return None
    from opentelemetry.trace import get_current_span
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if not get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def _context(traceparent: str | None) -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": traceparent or ""})


@contextlib.contextmanager
def span(
    name: str,
    *,
    parent: str | None = None,
    links: Iterable[str | None] = (),
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span | None]:
    """A span around worker code, current inside the block. `parent`: a stored
    `traceparent` whose trace it continues (a webhook delivery: the request's); `links`:
    stored ones it relates to (a dispatch batch: its events' requests). Without tracing,
    nothing."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import Link, get_current_span

    link_list = []
    for tp in links:
        ctx = get_current_span(_context(tp)).get_span_context() if tp else None
        if ctx is not None and ctx.is_valid:
            link_list.append(Link(ctx))
    context = _context(parent) if parent else None
    with _tracer.start_as_current_span(
        name, context=context, links=link_list, attributes=attributes
    ) as current:
        yield current
