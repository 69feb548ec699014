"""Text holding a NUL character (U+0000) is refused with a 422 wherever it comes in.

PostgreSQL text and JSON cannot store NUL (the statement fails: a 500), SQLite can: refusing
it at the edge gives one answer on both backends, and no client has a use for it. Request
bodies are covered by `InputModel`, the path and query of every route by `check_url`,
and form fields by `NoNul`.
"""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator
from starlette.requests import HTTPConnection
from starlette.types import Scope

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


def check_url(scope: Scope) -> None:
    """Refuse (422) a path or query parameter holding a NUL, for an HTTP request whose route
    has been matched (app/core/routing.py calls this before the route runs). A websocket's
    query is its ticket, which simply matches none."""
    if scope["type"] != "http":
        return
    query: bytes = scope.get("query_string", b"")
    if "\x00" not in scope["path"] and b"%00" not in query and b"\x00" not in query:
        return  # the cheap common case: nothing to look at
    connection = HTTPConnection(scope)
    params = [("path", k, v) for k, v in connection.path_params.items()]
    params += [("query", k, v) for k, v in connection.query_params.multi_items()]
    errors = [
        {"loc": [where, name], "msg": MESSAGE, "type": "value_error"}
        for where, name, value in params
        if has_nul(value)
    ]
    if errors:
        raise ValidationFailed(f"Invalid input: {errors[0]['loc'][1]} {MESSAGE}", errors=errors)
