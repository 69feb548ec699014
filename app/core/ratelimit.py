"""Rate limits on writes and sign-ins: token buckets kept in Redis (so every API replica shares
them), each holding a minute's allowance and refilling continuously — no burst of twice the
limit across a window boundary. Over the limit: 429 problem+json with `Retry-After`.

Counted per client IP for sign-ins (`/auth/token`, `/auth/register`), and per IP and per
credential for every other write (POST, PUT, PATCH, DELETE). If Redis is unreachable the
request is let through: losing a limit for a moment beats refusing every write.

A Redis round trip per write costs more CPU than the rest of a hot request's middleware
together, so a process takes tokens in *leases*: up to one second's refill of a bucket at once
(`limit / 60`, at least 1), spent locally during the next second. Tokens are taken from the
shared bucket atomically before they are spent, so no client ever gets more than its limit
across all replicas. What is left of a lapsed lease goes back with that process's next lease
of the same bucket; a process that never leases it again keeps at most one second's refill.
A limit under 60 a minute leases one token at a time: exact. A Redis that fails or does not
answer within half a second is skipped for a few seconds (fail open, at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import problem_response

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SIGN_IN_PATHS = frozenset({"/api/v1/auth/token", "/api/v1/auth/register"})
PER_MINUTE = 60.0
LEASE_SECONDS = 1.0
# Leases kept per process; beyond it the table starts over (an abandoned lease only lapses).
MAX_LEASES = 100_000
# A Redis that does not answer within this costs a request no more than this; the limits are
# then skipped for a few seconds (fail open) instead of every write waiting on it again.
REDIS_TIMEOUT_SECONDS = 0.5
SKIP_AFTER_FAILURE_SECONDS = 5.0

# Lease tokens from the buckets KEYS[i] (refilling ARGV[4i-2] per second up to a capacity of
# ARGV[4i-1]; now is ARGV[1]): up to ARGV[4i] from each, at least one, after giving back the
# ARGV[4i+1] tokens left over from this process's previous lease. If any bucket has no whole
# token, nothing is taken and the reply is {0, seconds until it has one}; else
# {1, granted from KEYS[1], granted from KEYS[2], …}. Atomic in Redis, so replicas never
# race on a bucket, and one round trip for every bucket of a request.
TAKE_TOKENS = """
local now = tonumber(ARGV[1])
local wait = 0
local state = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[4 * i - 2])
  local capacity = tonumber(ARGV[4 * i - 1])
  local returned = tonumber(ARGV[4 * i + 1])
  local saved = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(saved[1]) or capacity
  local ts = tonumber(saved[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate + returned)
  if tokens < 1 then
    wait = math.max(wait, (1 - tokens) / rate)
  end
  state[i] = tokens
end
if wait > 0 then
  return {0, tostring(wait)}
end
local reply = {1}
for i, key in ipairs(KEYS) do
  local rate, capacity = tonumber(ARGV[4 * i - 2]), tonumber(ARGV[4 * i - 1])
  local granted = math.max(1, math.min(tonumber(ARGV[4 * i]), math.floor(state[i])))
  redis.call('HSET', key, 'tokens', tostring(state[i] - granted), 'ts', tostring(now))
  redis.call('EXPIRE', key, math.ceil(capacity / rate) + 1)
  reply[i + 1] = granted
end
return reply
"""


def lease_size(limit_per_minute: int) -> int:
    """Tokens taken from Redis at once: one second's refill, at least one."""
    return max(1, limit_per_minute // 60)


@dataclass(slots=True)
class _Lease:
    tokens: int
    until: float


def _credential(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            # The credential itself, hashed: no database lookup on the hot path, and a user's
            # separate API keys are separate budgets.
            return hashlib.sha256(value[7:].strip()).hexdigest()[:32]
    return None


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, settings: Settings, redis: Callable[[], Redis | None]
    ) -> None:
        self.app = app
        self.settings = settings
        self.redis = redis
        self._script: AsyncScript | None = None
        self._leases: dict[str, _Lease] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._skip_until = 0.0

    def _rules(self, scope: Scope) -> list[tuple[str, int]]:
        """(bucket key, limit per minute) of the buckets that apply; a limit of 0 is off."""
        s = self.settings
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if scope["path"] in SIGN_IN_PATHS:
            rules = [("signin", ip, s.rate_sign_ins_per_minute_ip)]
        elif scope["method"] in WRITE_METHODS:
            rules = [("writes-ip", ip, s.rate_writes_per_minute_ip)]
            credential = _credential(scope)
            if credential:
                rules.append(("writes", credential, s.rate_writes_per_minute_credential))
        else:
            return []
        prefix = s.redis_prefix
        return [(f"{prefix}:ratelimit:{name}:{who}", limit) for name, who, limit in rules if limit]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rules = self._rules(scope)
        retry_after = await self._over_limit(rules) if rules else None
        if retry_after is not None:
            response = problem_response(
                429,
                "Too many requests; try again later",
                code="rate-limited",
                headers={"Retry-After": str(retry_after)},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _missing(self, rules: list[tuple[str, int]], now: float) -> list[tuple[str, int]]:
        return [
            (key, limit)
            for key, limit in rules
            if (lease := self._leases.get(key)) is None or lease.tokens < 1 or lease.until < now
        ]

    async def _over_limit(self, rules: list[tuple[str, int]]) -> int | None:
        """Spend a token of every bucket: from this process's leases, or leased from Redis
        now. Seconds to wait when a bucket is empty, else None."""
        if self._missing(rules, time.monotonic()):
            if time.monotonic() < self._skip_until:
                return None  # Redis failed a moment ago: fail open without waiting on it
            keys = sorted(key for key, _ in rules)
            async with contextlib.AsyncExitStack() as held:
                # One lease request per bucket at a time, in key order (no deadlock between
                # requests needing two buckets): requests finding a lease run out together
                # would otherwise each take a lease from the shared bucket.
                for key in keys:
                    await held.enter_async_context(self._locks.setdefault(key, asyncio.Lock()))
                now = time.monotonic()
                missing = self._missing(rules, now)  # another request may have leased them
                if missing and len(self._leases) > MAX_LEASES:
                    mine = {key for key, _ in rules}
                    self._leases = {k: v for k, v in self._leases.items() if k in mine}
                    self._locks = {k: v for k, v in self._locks.items() if k in mine}
                if missing:
                    outcome = await self._lease(missing, now)
                    if outcome is not None:
                        return outcome if outcome > 0 else None  # refused, or failed open
        for key, _ in rules:
            self._leases[key].tokens -= 1
        return None

    async def _lease(self, rules: list[tuple[str, int]], now: float) -> int | None:
        """Lease tokens for `rules` from Redis. None: leased; seconds to wait when a bucket is
        empty; 0 when Redis is away (fail open; the leases are left as they were)."""
        redis = self.redis()
        if redis is None:
            return 0
        if self._script is None or self._script.registered_client is not redis:
            # EVALSHA from then on (redis-py loads the script again after a Redis restart).
            self._script = redis.register_script(TAKE_TOKENS)
        args: list[str] = [repr(time.time())]
        for key, limit in rules:
            left = self._leases.get(key)
            unused = max(0, left.tokens) if left is not None else 0
            args += [repr(limit / PER_MINUTE), str(limit), str(lease_size(limit)), str(unused)]
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                reply = await self._script(keys=[key for key, _ in rules], args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("rate limits skipped: redis unavailable (%s)", type(exc).__name__)
            self._skip_until = time.monotonic() + SKIP_AFTER_FAILURE_SECONDS
            return 0
        if not int(reply[0]):
            # Nothing changed in Redis: what is left of the old leases goes back next time.
            return max(1, math.ceil(float(reply[1])))
        for (key, _), granted in zip(rules, reply[1:], strict=True):
            self._leases[key] = _Lease(int(granted), now + LEASE_SECONDS)
        return None
