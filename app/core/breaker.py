"""A circuit breaker for the Redis calls a request waits on (rate limits, wake-ups after commit).

Each call is cut off after `timeout` (200 ms): a hung Redis (paused, partitioned, swapping)
would otherwise hold the request for the client's socket timeout. After a failure the breaker
is *open*: calls fail at once with `RedisUnavailable` for `cool_down` seconds, so a Redis
outage costs one request the timeout, not every request. Then it is *half-open*: one call goes
through as a probe while the others still fail at once; its success closes the breaker, its
failure opens it again.

One breaker per process, shared by every request-path caller: what one learns (Redis is away)
spares the others. Background loops (relay, hub, worker) keep their own longer timeouts and
retries; they have no client waiting on them.

Why not a library: the asyncio breakers on the package index either let every waiting call
through when half-open (all of them then wait on the dead Redis together) or keep their state
behind a message bus per call; none bounds the call itself. This is the few lines we need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

T = TypeVar("T")

# A paused Redis may add at most 300 ms to a write (issue 16): the rest of that is headroom
# for a busy machine. A healthy Redis answers in well under a millisecond.
REQUEST_TIMEOUT_SECONDS = 0.2
COOL_DOWN_SECONDS = 5.0


class RedisUnavailable(Exception):
    """Redis failed, did not answer in time, or failed a moment ago (breaker open)."""


class Breaker:
    def __init__(
        self,
        *,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        cool_down: float = COOL_DOWN_SECONDS,
    ) -> None:
        self.timeout = timeout
        self.cool_down = cool_down
        self._open_until = 0.0  # monotonic time; 0 while closed
        self._probing = False  # a half-open probe is in flight

    @property
    def is_open(self) -> bool:
        """True while calls would fail at once (open, or half-open with a probe out)."""
        return self._open_until != 0.0 and (self._probing or time.monotonic() < self._open_until)

    def _admit(self) -> bool:
        if self._open_until == 0.0:
            return True
        if self._probing or time.monotonic() < self._open_until:
            return False
        self._probing = True  # this call is the probe
        return True

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """`await fn()` within the timeout; `RedisUnavailable` if it fails or the breaker is
        open."""
        if not self._admit():
            raise RedisUnavailable("skipped: redis failed a moment ago")
        try:
            async with asyncio.timeout(self.timeout):
                result = await fn()
        except (RedisError, OSError, TimeoutError) as exc:
            if self._open_until == 0.0 or self._probing:
                log.warning(
                    "redis unavailable (%s): request-path calls skipped for %.0f s",
                    type(exc).__name__,
                    self.cool_down,
                )
            self._open_until = time.monotonic() + self.cool_down
            self._probing = False
            raise RedisUnavailable(type(exc).__name__) from exc
        except BaseException:
            # Cancelled (the client went away) or a bug: no verdict on Redis, but the probe
            # slot must not stay taken or the breaker would never close.
            self._probing = False
            raise
        if self._open_until != 0.0:
            log.info("redis answers again: request-path calls resumed")
        self._open_until, self._probing = 0.0, False
        return result

    async def attempt(self, fn: Callable[[], Awaitable[object]]) -> None:
        """Best effort (a wake-up: whoever listens also polls): skipped quietly when Redis is
        away."""
        with contextlib.suppress(RedisUnavailable):
            await self.call(fn)
