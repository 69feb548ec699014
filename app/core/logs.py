"""Structured logs: one formatter for our loggers and uvicorn's, JSON or console.

Every module keeps logging through the standard library (`logging.getLogger(__name__)`);
structlog's `ProcessorFormatter` turns each record into JSON (`WG_LOG_FORMAT=json`, for log
collectors) or an aligned, coloured line (`console`, for a person at a terminal). The same
dictionary configures the `wg` process and, through uvicorn's `log_config`, each of
`wg api --workers N`'s worker processes.

What the line is about comes from context variables, set where it becomes known and read only
when a line is written: the request id (app/core/requestid.py), the caller and the group
(the authorize-and-load path), the arq job, the event and the webhook delivery. Setting one
costs a few dozen nanoseconds; nothing is logged per successful request besides the access log.
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import sys
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, WrappedLogger

LogFormat = Literal["json", "console"]

request_id: ContextVar[str | None] = ContextVar("wg_request_id", default=None)
user_id: ContextVar[uuid.UUID | None] = ContextVar("wg_user_id", default=None)
group_id: ContextVar[uuid.UUID | None] = ContextVar("wg_group_id", default=None)
job_id: ContextVar[str | None] = ContextVar("wg_job_id", default=None)
event_id: ContextVar[uuid.UUID | None] = ContextVar("wg_event_id", default=None)
delivery_id: ContextVar[uuid.UUID | None] = ContextVar("wg_delivery_id", default=None)

FIELDS: dict[str, ContextVar[Any]] = {
    "request_id": request_id,
    "user_id": user_id,
    "group_id": group_id,
    "job_id": job_id,
    "event_id": event_id,
    "delivery_id": delivery_id,
}


def start_request(rid: str) -> None:
    """A new request: its id, and no caller or group yet. Set rather than reset at the end:
    under uvicorn each request runs in a task (and context) of its own, and the server's own
    lines about the request (an unhandled error) come after the app returned."""
    request_id.set(rid)
    user_id.set(None)
    group_id.set(None)


def bind_caller(user: uuid.UUID, group: uuid.UUID | None = None) -> None:
    """The authenticated caller (and the group the request is about), for the rest of the
    request's lines and its access line."""
    user_id.set(user)
    if group is not None:
        group_id.set(group)


@contextlib.contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Fields of `FIELDS` for the lines written inside the block (a job, an event, a delivery)."""
    tokens = [(FIELDS[name], FIELDS[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def _add_context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for name, var in FIELDS.items():
        value = var.get()
        if value is not None:
            event.setdefault(name, str(value))
    return event


def _add_access_fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """uvicorn's access line as fields too (its arguments, already redacted by
    app/core/logredact.py): method, path, status and client, for queries without parsing."""
    args = event.pop("positional_args", None)  # every record's: only these are kept
    record = event.get("_record")
    access = record is not None and record.name == "uvicorn.access"
    if access and isinstance(args, tuple) and len(args) == 5:
        client, method, path, _version, status = args
        event.update(client=client, method=method, path=path, status=status)
    return event


_PRE_CHAIN: list[Any] = [
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _add_context,
    _add_access_fields,
]


def formatter(fmt: LogFormat) -> logging.Formatter:
    """The formatter of every handler (named in `logging_config` for `dictConfig`)."""
    renderer: Any
    if fmt == "json":
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        pass_foreign_args=True,  # for _add_access_fields
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def logging_config(level: str, fmt: LogFormat) -> dict[str, Any]:
    """For `logging.config.dictConfig` and uvicorn's `log_config`: one handler on the root
    logger, and uvicorn's loggers handing their records up to it."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"wg": {"()": f"{__name__}.formatter", "fmt": fmt}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "wg",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level} for name in UVICORN_LOGGERS
        },
    }


def default_format(*, console_on_terminal: bool) -> LogFormat:
    """Without WG_LOG_FORMAT: console for a person watching (`wg serve` and the admin
    commands at a terminal), JSON otherwise (`wg api`, `wg worker`, and anything whose
    output goes to a file or a collector)."""
    return "console" if console_on_terminal and sys.stderr.isatty() else "json"


def configure(level: str, fmt: LogFormat) -> None:
    logging.config.dictConfig(logging_config(level, fmt))
