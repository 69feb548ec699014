"""Credentials never reach the logs: the access log's query strings are redacted.

Calendar feeds and older websocket clients carry a credential in the URL (`?token=…`), and
uvicorn's access log writes the whole path. This filter replaces the values of credential-like
query parameters before the line is formatted, in every process that serves the app (it is
installed by `create_app`, which each uvicorn worker runs).
"""

from __future__ import annotations

import logging
import re

# Query parameters whose values are credentials, matched by name (any case).
_CREDENTIAL_PARAM = re.compile(
    r"(?i)([?&](?:token|ticket|key|api_key|apikey|access_token|password|secret|signature)=)"
    r"[^&#\s\"]*"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return _CREDENTIAL_PARAM.sub(lambda m: m.group(1) + REDACTED, text)


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


_FILTER = RedactCredentials()


def install() -> None:
    """Redact uvicorn's access log (idempotent). Our own modules never log credentials: they
    log ids and exception types, not URLs or headers."""
    logger = logging.getLogger("uvicorn.access")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
