"""Starting a coroutine eagerly: run it right away, and make a task only if it has to wait.

The hub sends each event to thousands of websockets. A send almost never waits (uvicorn's
websocket protocol only waits while the socket's buffer is over its high-water mark, i.e. for
a client that does not keep up), so giving each send a task, or each connection a task that
wakes up for every event, costs far more than the send itself. Yet a send that does wait must
not hold up the others. `start` runs the coroutine in place until it finishes (the usual case)
or first waits; only then does the rest become an awaitable for a task of its own.

This is what Python 3.12's eager tasks do (`asyncio.eager_task_factory`); the project still
supports 3.11. The continuation hands whatever the coroutine waits on to the running task
unchanged, exactly as `await` would have, so cancellation and results behave the same.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any


def start(awaitable: Awaitable[None]) -> Awaitable[None] | None:
    """Run `awaitable` (a coroutine, typically) until it first waits. None if it finished;
    otherwise an awaitable that finishes it (await it exactly once). Exceptions raised before
    it first waits propagate (the coroutine is then finished)."""
    coro = awaitable if isinstance(awaitable, Coroutine) else _wrap(awaitable)
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return _rest(coro, waiting_on)


async def _wrap(awaitable: Awaitable[None]) -> None:
    await awaitable


@types.coroutine
def _rest(coro: Coroutine[Any, Any, None], waiting_on: Any) -> Generator[Any, Any, None]:
    """The rest of a started coroutine: `yield from coro`, from where `start` left it."""
    try:
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                raise
            except BaseException as exc:  # thrown in by the task: cancellation, mostly
                waiting_on = coro.throw(exc)
            else:
                waiting_on = coro.send(sent)
    except StopIteration:
        return
    finally:
        coro.close()  # a no-op once it has finished; stops it if we were closed early
