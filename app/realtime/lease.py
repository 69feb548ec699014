"""The relay's lease, and the fence that keeps a relay that lost it off the stream.

A lease with an expiry alone does not stop two relays from publishing: a holder that stalls
(a GC pause, SIGSTOP, a slow database) after reading its batch can lose the lease while it
sleeps, a second relay takes over and publishes, and the first then wakes up and writes its
stale batch anyway — duplicates at best, events out of order on the stream at worst.

The fence: the batch goes onto the stream through one Lua script that XADDs it only if the
lease key still holds the token this relay acquired it with, and renews the lease in the same
step. Redis runs a script atomically, so between the check and the writes no one can take the
lease over. The check happens where the writes happen, at the server, so a relay that paused
anywhere — even with the script already on the wire — is refused once its lease has gone.

Why not a fencing token (an INCR-ed number per acquisition that the store compares against the
highest it has seen): that design is for a store that cannot see the lock. Here the stream and
the lease live on the same Redis, so the store can check ownership itself, which is stronger
(a stale holder is refused even before anyone else has acquired the lease) and needs no extra
key. The token is unique per acquisition and only its holder can renew it (redis-py's Lock
extends a lease only while it still holds that token), so "the key still holds my token" means
"I have held the lease without a break since I read the batch".

Like any multi-key script, this needs the lease and the stream in one hash slot on a Redis
Cluster; the service runs on a single Redis (or a primary with replicas).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import LockError

log = logging.getLogger(__name__)

# KEYS[1] the lease, KEYS[2] the stream; ARGV: token, lease in ms, MAXLEN, fields per entry,
# then the entries' field-value pairs one after the other. Returns the number of entries
# added, or false (nil in Python) when the lease is not this token's.
PUBLISH_IF_HOLDER = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then
  return false
end
redis.call('pexpire', KEYS[1], ARGV[2])
local width = tonumber(ARGV[4])
local added = 0
for i = 5, #ARGV, width do
  redis.call('xadd', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, i, i + width - 1))
  added = added + 1
end
return added
"""

Entry = dict[str, str | bytes]


class RelayLease:
    """One relay's view of the lease: whether (and with which token) it holds it, and the only
    way to put events on the stream."""

    def __init__(self, redis: Redis, *, key: str, stream: str, seconds: float, maxlen: int):
        self.seconds = seconds
        self.stream = stream
        self.maxlen = maxlen
        self._lock = redis.lock(key, timeout=seconds, thread_local=False)
        # Loaded once, then called by EVALSHA (redis-py loads it again after a Redis restart).
        self._publish = redis.register_script(PUBLISH_IF_HOLDER)
        # The token of the current acquisition; None while this relay does not hold the lease.
        self.token: str | None = None
        self._renewed = 0.0  # loop time just before the last successful renewal was sent

    @property
    def held(self) -> bool:
        return self.token is not None

    async def hold(self) -> bool:
        """Renew the lease when a third of it has passed, or try to take it; whether this
        relay holds it now. Called before every batch: a batch starts with at least two
        thirds of the lease left, and every published batch renews it (`publish`), so
        draining a long backlog costs no extra round trip."""
        now = asyncio.get_running_loop().time()
        if self.token is not None and now - self._renewed >= self.seconds / 3:
            try:
                await self._lock.reacquire()
                self._renewed = now
            except LockError:
                self.lost("expired before renewal")
        if self.token is None:
            token = uuid.uuid4().hex
            if await self._lock.acquire(blocking=False, token=token):
                self.token, self._renewed = token, now
        return self.token is not None

    async def publish(self, token: str, entries: Sequence[Entry]) -> bool:
        """XADD `entries` (MAXLEN ~) in one round trip if `token` still holds the lease, and
        renew it; False, with nothing written, if it does not."""
        if not entries:
            return True
        sent = asyncio.get_running_loop().time()
        width = 2 * len(entries[0])  # every entry carries the same fields
        args: list[str | bytes | int] = [token, int(self.seconds * 1000), self.maxlen, width]
        for entry in entries:
            for field, value in entry.items():
                args += (field, value)
        added = await self._publish(keys=[self._lock.name, self.stream], args=args)
        if added is None:
            if self.token == token:
                self.lost("another relay holds it or it expired")
            return False
        if self.token == token:
            self._renewed = sent
        return True

    def lost(self, why: str) -> None:
        """Forget the lease (it is gone or cannot be trusted): compete for it again."""
        if self.token is not None:
            log.warning("relay lease lost: %s", why)
        self.token = None

    async def release(self) -> None:
        """Give the lease up (shutdown), so another relay need not wait for it to expire."""
        if self.token is not None:
            self.token = None
            await self._lock.release()
