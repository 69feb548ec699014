"""Rate limits on writes and sign-ins: token buckets kept in Redis (so every API replica shares
them), each holding a minute's allowance and refilling continuously — no burst of twice the
limit across a window boundary. Over the limit: 429 problem+json with `Retry-After`.

Counted per client IP for sign-ins (`/auth/token`, `/auth/register`, password resets), and
per IP and per credential for every other write (POST, PUT, PATCH, DELETE); the sign-in route
also counts attempts per account (app/users/throttle.py). The client IP is the socket peer,
or the address a trusted proxy forwarded (`WG_FORWARDED_ALLOW_IPS`, app/main.py).

A Redis round trip per write costs more CPU than the rest of a hot request's middleware
together, so a process takes tokens in *leases*: up to one second's refill of a bucket at once
(`limit / 60`, at least 1), spent locally during the next second. Tokens are taken from the
shared bucket atomically before they are spent, so no client ever gets more than its limit
across all replicas. What is left of a lapsed lease goes back with that process's next lease
of the same bucket; a process that never leases it again keeps at most one second's refill.
A limit under 60 a minute leases one token at a time: exact.

Redis calls go through the process's circuit breaker (app/core/breaker.py): 200 ms at most,
then skipped for a few seconds. While Redis is unavailable:
- sign-in limits (*strict* rules) are kept per process in memory, with the same limits: a
  Redis outage must not open the door to password guessing (with N replicas an attacker gets
  at most N times the limit);
- other write limits are skipped (fail open): losing them for a moment beats refusing every
  write.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.breaker import Breaker, RedisUnavailable
from app.core.config import Settings
from app.core.errors import problem_response

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Routes that take a password or an account's email: counted per IP as sign-ins (strict).
SIGN_IN_PATHS = frozenset(
    {
        "/api/v1/auth/token",
        "/api/v1/auth/register",
        "/api/v1/auth/password-reset",
        "/api/v1/auth/password-reset/confirm",
    }
)
PER_MINUTE = 60.0
LEASE_SECONDS = 1.0
# Leases (and in-memory buckets) kept per process; beyond it the table starts over (an
# abandoned lease only lapses).
MAX_LEASES = 100_000

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


@dataclass(frozen=True, slots=True)
class Rule:
    """A bucket: its Redis key, its limit per minute, and whether it is kept in memory while
    Redis is unavailable (`strict`, sign-ins) or skipped (other writes)."""

    key: str
    limit: int
    strict: bool = False


@dataclass(slots=True)
class _Bucket:
    tokens: float
    ts: float


class LocalBuckets:
    """Token buckets in this process's memory, like the Redis ones (a minute's allowance,
    refilling continuously): the sign-in limits while Redis is unavailable."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def take(self, rules: Sequence[Rule]) -> int | None:
        """A token from every bucket, or none and the seconds until each has one."""
        now = time.monotonic()
        if len(self._buckets) > MAX_LEASES:
            self._prune(now)
        wait = 0.0
        for rule in rules:
            bucket = self._refill(rule, now)
            if bucket.tokens < 1:
                wait = max(wait, (1 - bucket.tokens) / (rule.limit / PER_MINUTE))
        if wait > 0:
            return max(1, math.ceil(wait))
        for rule in rules:
            self._buckets[rule.key].tokens -= 1
        return None

    def _refill(self, rule: Rule, now: float) -> _Bucket:
        bucket = self._buckets.get(rule.key)
        if bucket is None:
            bucket = self._buckets[rule.key] = _Bucket(float(rule.limit), now)
        else:
            refill = (now - bucket.ts) * rule.limit / PER_MINUTE
            bucket.tokens, bucket.ts = min(float(rule.limit), bucket.tokens + refill), now
        return bucket

    def _prune(self, now: float) -> None:
        # A bucket untouched for a minute is full again: the same as no bucket. If an attacker
        # keeps more than MAX_LEASES buckets busy within a minute, start over (memory first).
        fresh = {k: b for k, b in self._buckets.items() if now - b.ts < PER_MINUTE}
        self._buckets = fresh if len(fresh) <= MAX_LEASES else {}


def _credential(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            # The credential itself, hashed: no database lookup on the hot path, and a user's
            # separate API keys are separate budgets.
            return hashlib.sha256(value[7:].strip()).hexdigest()[:32]
    return None


class Limiter:
    """Takes tokens for a request's rules: from this process's leases, leased from Redis, or
    (Redis unavailable) from in-memory buckets for strict rules. One per process, shared by
    the middleware and the sign-in route (app/users/throttle.py)."""

    def __init__(
        self, *, settings: Settings, redis: Callable[[], Redis | None], breaker: Breaker
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.breaker = breaker
        self.local = LocalBuckets()
        self._script: AsyncScript | None = None
        self._leases: dict[str, _Lease] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def key(self, name: str, who: str) -> str:
        return f"{self.settings.redis_prefix}:ratelimit:{name}:{who}"

    def request_rules(self, scope: Scope) -> list[Rule]:
        """The buckets that apply to a request; a limit of 0 is off."""
        s = self.settings
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if scope["path"] in SIGN_IN_PATHS:
            rules = [Rule(self.key("signin", ip), s.rate_sign_ins_per_minute_ip, strict=True)]
        elif scope["method"] in WRITE_METHODS:
            rules = [Rule(self.key("writes-ip", ip), s.rate_writes_per_minute_ip)]
            credential = _credential(scope)
            if credential:
                rules.append(
                    Rule(self.key("writes", credential), s.rate_writes_per_minute_credential)
                )
        else:
            return []
        return [rule for rule in rules if rule.limit]

    def _missing(self, rules: Sequence[Rule], now: float) -> list[Rule]:
        return [
            rule
            for rule in rules
            if (lease := self._leases.get(rule.key)) is None
            or lease.tokens < 1
            or lease.until < now
        ]

    async def over_limit(self, rules: Sequence[Rule]) -> int | None:
        """Spend a token of every bucket. Seconds to wait when a bucket is empty, else None."""
        if self._missing(rules, time.monotonic()):
            if self.breaker.is_open:
                return self._without_redis(rules)  # no waiting on a Redis that just failed
            keys = sorted(rule.key for rule in rules)
            async with contextlib.AsyncExitStack() as held:
                # One lease request per bucket at a time, in key order (no deadlock between
                # requests needing two buckets): requests finding a lease run out together
                # would otherwise each take a lease from the shared bucket.
                for key in keys:
                    await held.enter_async_context(self._locks.setdefault(key, asyncio.Lock()))
                now = time.monotonic()
                missing = self._missing(rules, now)  # another request may have leased them
                if missing and len(self._leases) > MAX_LEASES:
                    mine = set(keys)
                    self._leases = {k: v for k, v in self._leases.items() if k in mine}
                    self._locks = {k: v for k, v in self._locks.items() if k in mine}
                if missing:
                    try:
                        refused = await self._lease(missing, now)
                    except RedisUnavailable:
                        return self._without_redis(rules)
                    if refused is not None:
                        return refused
        for rule in rules:
            self._leases[rule.key].tokens -= 1
        return None

    def _without_redis(self, rules: Sequence[Rule]) -> int | None:
        """Strict rules from in-memory buckets; the others let through (fail open). Leases
        are left as they were: writes while Redis is away run up no debt."""
        strict = [rule for rule in rules if rule.strict]
        return self.local.take(strict) if strict else None

    async def _lease(self, rules: Sequence[Rule], now: float) -> int | None:
        """Lease tokens for `rules` from Redis. None: leased; else seconds to wait when a
        bucket is empty. `RedisUnavailable` when Redis is (or was a moment ago) away."""
        redis = self.redis()
        if redis is None:
            raise RedisUnavailable("no redis client")
        if self._script is None or self._script.registered_client is not redis:
            # EVALSHA from then on (redis-py loads the script again after a Redis restart).
            self._script = redis.register_script(TAKE_TOKENS)
        script = self._script
        args: list[str] = [repr(time.time())]
        for rule in rules:
            left = self._leases.get(rule.key)
            unused = max(0, left.tokens) if left is not None else 0
            args += [
                repr(rule.limit / PER_MINUTE),
                str(rule.limit),
                str(lease_size(rule.limit)),
                str(unused),
            ]
        keys = [rule.key for rule in rules]
        reply = await self.breaker.call(lambda: script(keys=keys, args=args))
        if not int(reply[0]):
            # Nothing changed in Redis: what is left of the old leases goes back next time.
            return max(1, math.ceil(float(reply[1])))
        for rule, granted in zip(rules, reply[1:], strict=True):
            self._leases[rule.key] = _Lease(int(granted), now + LEASE_SECONDS)
        return None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limiter: Limiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rules = self.limiter.request_rules(scope)
        retry_after = await self.limiter.over_limit(rules) if rules else None
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
