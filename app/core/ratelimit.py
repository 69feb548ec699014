"""Rate limits on writes and sign-ins: token buckets kept in Redis (so every API replica shares
them), each holding a minute's allowance and refilling continuously — no burst of twice the
limit across a window boundary. Over the limit: 429 problem+json with `Retry-After`.

Counted per client IP for sign-ins (`/auth/token`, `/auth/register`), and per IP and per
credential for every other write (POST, PUT, PATCH, DELETE). If Redis is unreachable the
request is let through: losing a limit for a moment beats refusing every write.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable

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

# Take one token from each bucket KEYS[i] (refilling ARGV[2i] per second up to a capacity of
# ARGV[2i+1]; now is ARGV[1]); returns the longest wait in seconds as text, "0" when every
# bucket had a token. Buckets without a token are left as they were: a refused request spends
# nothing. Atomic in Redis, so replicas never race on a bucket, and one round trip per request.
TAKE_TOKENS = """
local now = tonumber(ARGV[1])
local wait = 0
local state = {}
for i, key in ipairs(KEYS) do
  local rate, capacity = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local saved = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(saved[1]) or capacity
  local ts = tonumber(saved[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
  if tokens < 1 then
    wait = math.max(wait, (1 - tokens) / rate)
  end
  state[i] = {tokens, rate, capacity}
end
for i, key in ipairs(KEYS) do
  local tokens, rate, capacity = state[i][1], state[i][2], state[i][3]
  if wait == 0 then
    tokens = tokens - 1
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('EXPIRE', key, math.ceil(capacity / rate) + 1)
end
return tostring(wait)
"""


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

    def _rules(self, scope: Scope) -> list[tuple[str, str, int]]:
        """(counter name, who, limit per minute) that apply; a limit of 0 is off."""
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
        return [r for r in rules if r[2] > 0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rules = self._rules(scope)
        redis = self.redis() if rules else None
        if redis is not None:
            retry_after = await self._over_limit(redis, rules)
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

    async def _over_limit(self, redis: Redis, rules: list[tuple[str, str, int]]) -> int | None:
        """Seconds to wait when a bucket is empty, else None."""
        if self._script is None or self._script.registered_client is not redis:
            # EVALSHA from then on (redis-py loads the script again after a Redis restart).
            self._script = redis.register_script(TAKE_TOKENS)
        prefix = self.settings.redis_prefix
        keys = [f"{prefix}:ratelimit:{name}:{who}" for name, who, _ in rules]
        args: list[str] = [repr(time.time())]
        for _, _, limit in rules:
            args += [repr(limit / PER_MINUTE), str(limit)]
        try:
            wait = float(await self._script(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            log.warning("rate limits skipped: redis unavailable (%s)", type(exc).__name__)
            return None
        return max(1, math.ceil(wait)) if wait > 0 else None
