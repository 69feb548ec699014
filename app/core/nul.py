"""Text holding a NUL character (U+0000) is refused with a 422 wherever it comes in.

PostgreSQL text and JSON cannot store NUL (the statement fails: a 500), SQLite can: refusing
it at the edge gives one answer on both backends, and no client has a use for it. Request
bodies are covered by `InputModel`, the path and query of every API route by `no_nul_in_url`,
and form fields by `NoNul`.
"""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator
from starlette.requests import HTTPConnection

from app.core.errors import ValidationFailed

NUL = "\x00"
MESSAGE = "must not contain NUL characters (U+0000)"


def has_nul(value: Any) -> bool:
    """Whether `value` (text, or a list or mapping of values) holds a NUL anywhere."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


def refuse_nul(value: Any) -> Any:
    """A pydantic validator: the value unchanged, or a ValueError (a 422)."""
    if has_nul(value):
        raise ValueError(MESSAGE)
    return value


NoNul = AfterValidator(refuse_nul)


async def no_nul_in_url(connection: HTTPConnection) -> None:
    """Router dependency: refuse a path or query parameter holding a NUL (HTTP requests; a
    websocket's query is its token, which simply matches no credential)."""
    if connection.scope["type"] != "http":
        return
    params = [("path", k, v) for k, v in connection.path_params.items()]
    params += [("query", k, v) for k, v in connection.query_params.multi_items()]
    errors = [
        {"loc": [where, name], "msg": MESSAGE, "type": "value_error"}
        for where, name, value in params
        if has_nul(value)
    ]
    if errors:
        raise ValidationFailed(f"Invalid input: {errors[0]['loc'][1]} {MESSAGE}", errors=errors)
